from __future__ import annotations

import numpy as np
import optuna
import pytest

from automl.data import coerce_features, infer_schema, make_folds
from automl.errors import SpecError
from automl.models import family_keys, get_family, register
from automl.models.linear import Linear
from automl.search.space import ConditionalSpace, default_points
from automl.search.trial import TrialData, evaluate_config

ALL = ["linear", "hist_gradient_boosting", "lightgbm", "xgboost", "random_forest", "extra_trees", "knn"]


def test_registry_holds_every_family_cheapest_first():
    assert family_keys() == ALL


def test_registry_refuses_a_duplicate_key():
    with pytest.raises(ValueError, match="already registered"):
        register(Linear())


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(SpecError, match="choose from linear, hist_gradient_boosting"):
        get_family("catboost")


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_defaults_lie_inside_each_search_space(task):
    """Enqueued defaults must be accepted by the sampler as they are (not resampled)."""
    families = {k: get_family(k) for k in ALL}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    points = default_points(families, 500, task)
    for point in points:
        study.enqueue_trial(point)
    space = ConditionalSpace(families, 500, task)
    for point in points:
        trial = study.ask()
        space(trial)
        assert trial.params == point
        study.tell(trial, 0.0)


def _data(frame, task_metric):
    schema = infer_schema(frame, "target")
    y_raw = frame["target"]
    if schema.task == "regression":
        y = y_raw.to_numpy(dtype=float)
    else:
        y = np.searchsorted(np.array(schema.classes, dtype=object), y_raw.to_numpy(dtype=object))
    folds = make_folds(y, classification=schema.task != "regression", n_folds=3, seed=0)
    families = {k: get_family(k) for k in ALL}
    return TrialData(coerce_features(frame, schema), y, schema, folds, task_metric, families, 0, 1)


@pytest.mark.parametrize("family", ALL)
@pytest.mark.parametrize(
    "table, metric", [("binary_table", "roc_auc"), ("multiclass_table", "log_loss"), ("regression_table", "rmse")]
)
def test_each_family_cross_validates_each_task(family, table, metric, request):
    data = _data(request.getfixturevalue(table), metric)
    config = default_points({family: get_family(family)}, len(data.y), data.schema.task)[0]
    outcome = evaluate_config(config, data)
    assert outcome.error is None, outcome.error
    assert np.isfinite(outcome.score)
    assert len(outcome.fold_scores) == 3 and len(outcome.fold_models) == 3
    assert not np.isnan(outcome.out_of_fold).any()
    expected_shape = (len(data.y),) if metric == "rmse" else (len(data.y), data.n_classes)
    assert outcome.out_of_fold.shape == expected_shape
    if metric != "rmse":
        np.testing.assert_allclose(outcome.out_of_fold.sum(axis=1), 1.0, atol=1e-4)
    # the models learn something: better than a constant prediction
    if metric == "rmse":
        assert np.sqrt(np.mean((outcome.out_of_fold - data.y) ** 2)) < np.std(data.y)
    else:
        majority = np.bincount(data.y).max() / len(data.y)
        assert np.mean(outcome.out_of_fold.argmax(axis=1) == data.y) > majority


def test_a_broken_configuration_becomes_a_failed_outcome(binary_table):
    data = _data(binary_table, "roc_auc")
    outcome = evaluate_config({"model": "knn", "knn__n_neighbors": -3, "knn__weights": "uniform"}, data)
    assert not outcome.ok
    assert "n_neighbors" in outcome.error
    assert outcome.fold_models is None and outcome.out_of_fold is None
    assert "Traceback" in outcome.error_traceback
