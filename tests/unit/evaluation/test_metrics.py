from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from automl.errors import SpecError
from automl.evaluation.metrics import METRICS, get_metric, resolve_metric


def test_task_defaults():
    assert resolve_metric(None, "binary").name == "roc_auc"
    assert resolve_metric(None, "multiclass").name == "log_loss"
    assert resolve_metric(None, "regression").name == "rmse"


def test_directions_match_the_metric():
    assert {n for n, m in METRICS.items() if m.greater_is_better} == {
        "roc_auc",
        "accuracy",
        "balanced_accuracy",
        "f1",
        "r2",
    }
    assert get_metric("rmse").mode == "min"
    assert get_metric("roc_auc").is_better(0.9, 0.8)
    assert get_metric("log_loss").is_better(0.1, 0.2)
    assert not get_metric("rmse").is_better(float("nan"), 3.0)


@pytest.mark.parametrize("name, task", [("rmse", "binary"), ("roc_auc", "regression"), ("r2", "multiclass")])
def test_metric_that_does_not_fit_the_task(name, task):
    with pytest.raises(SpecError, match="does not fit"):
        resolve_metric(name, task)


def test_unknown_metric_lists_known_ones():
    with pytest.raises(SpecError, match="roc_auc, log_loss"):
        get_metric("auc")


def test_values_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 100)
    proba = rng.dirichlet(np.ones(3), 100)
    assert get_metric("log_loss")(y, proba, 3) == pytest.approx(skm.log_loss(y, proba))
    assert get_metric("accuracy")(y, proba, 3) == pytest.approx(skm.accuracy_score(y, proba.argmax(1)))
    yb = rng.integers(0, 2, 100)
    pb = rng.dirichlet(np.ones(2), 100)
    assert get_metric("roc_auc")(yb, pb, 2) == pytest.approx(skm.roc_auc_score(yb, pb[:, 1]))
    values = rng.normal(size=100)
    assert get_metric("rmse")(values, values + 1.0) == pytest.approx(1.0)
    assert get_metric("mae")(values, values - 2.0) == pytest.approx(2.0)


def test_fast_metrics_match_scikit_learn_with_ties_and_multiclass():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300), 1)  # many ties
    proba = np.column_stack([1 - scores, scores])
    assert get_metric("roc_auc")(y, proba, 2) == pytest.approx(skm.roc_auc_score(y, scores))
    y3 = rng.integers(0, 3, 300)
    p3 = rng.dirichlet(np.ones(3), 300)
    expected = skm.roc_auc_score(y3, p3, multi_class="ovr", average="macro")
    assert get_metric("roc_auc")(y3, p3, 3) == pytest.approx(expected)
    values = rng.normal(size=50)
    pred = values + rng.normal(size=50)
    assert get_metric("rmse")(values, pred) == pytest.approx(np.sqrt(skm.mean_squared_error(values, pred)))
    assert get_metric("r2")(values, pred) == pytest.approx(skm.r2_score(values, pred))


def test_auc_with_one_class_is_an_error():
    with pytest.raises(ValueError):
        get_metric("roc_auc")(np.ones(5, dtype=int), np.full((5, 2), 0.5), 2)
