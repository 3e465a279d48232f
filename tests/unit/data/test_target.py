"""The target: non-finite rows, the positive class, rare classes and what folds can score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.data import infer_schema, make_folds
from automl.data.target import (
    check_scorable,
    drop_unusable_targets,
    encode_target,
    order_classes,
    positive_class,
)
from automl.errors import DataError, SpecError
from automl.evaluation.metrics import get_metric


def _binary(labels: list) -> tuple[pd.DataFrame, object]:
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=len(labels)), "y": labels})
    return frame, infer_schema(frame, "y")


def test_non_finite_regression_targets_are_dropped_with_a_warning():
    frame = pd.DataFrame({"x": [1.0, 2, 3, 4, 5], "y": [1.0, np.inf, -np.inf, np.nan, 2.5]})
    notes: list[str] = []
    with pytest.warns(UserWarning, match="3 row"):
        kept = drop_unusable_targets(frame, "y", notes)
    assert kept["y"].tolist() == [1.0, 2.5] and "missing or not finite" in notes[0]


def test_the_minority_class_is_positive_by_default():
    frame, schema = _binary(["b"] * 7 + ["a"] * 3)
    ordered = order_classes(schema, frame["y"])
    assert positive_class(ordered) == "a" and ordered.classes == ["b", "a"]
    y = encode_target(frame["y"], ordered)
    assert y.tolist() == [0] * 7 + [1] * 3


def test_a_tie_makes_the_label_that_sorts_last_positive():
    frame, schema = _binary(["no", "yes"] * 5)
    assert positive_class(order_classes(schema, frame["y"])) == "yes"


def test_the_spec_names_the_positive_class_and_f1_scores_it():
    frame, schema = _binary(["no"] * 2 + ["yes"] * 8)
    ordered = order_classes(schema, frame["y"], "yes")
    y = encode_target(frame["y"], ordered)
    # a model that finds every "yes" and one "no" wrongly: f1 of "yes" is 16/17, of "no" 2/3
    predicted = np.where(y == 1, 0.9, 0.1)
    predicted[0] = 0.9
    proba = np.column_stack([1 - predicted, predicted])
    assert get_metric("f1")(y, proba, 2) == pytest.approx(16 / 17)


def test_integer_labels_match_a_positive_class_given_as_text():
    frame, schema = _binary([0] * 6 + [1] * 4)
    assert positive_class(order_classes(schema, frame["y"], "0")) == 0


def test_an_unknown_positive_class_is_refused_with_the_classes():
    frame, schema = _binary(["no", "yes"] * 5)
    with pytest.raises(SpecError, match="'maybe' is not a class.*'no', 'yes'"):
        order_classes(schema, frame["y"], "maybe")


def test_rare_classes_are_stratified_so_every_training_part_has_every_class():
    y = np.array([0] * 40 + [1] * 2 + [2] * 30)  # class 1 rarer than the folds
    folds = make_folds(y, classification=True, n_folds=5, seed=0)
    for train, _ in folds.splits:
        assert set(y[train]) == {0, 1, 2}


def test_roc_auc_with_fewer_positives_than_folds_is_refused_up_front():
    frame, schema = _binary(["no"] * 40 + ["yes"] * 3)
    ordered = order_classes(schema, frame["y"])
    y = encode_target(frame["y"], ordered)
    folds = make_folds(y, classification=True, n_folds=5, seed=0)
    with pytest.raises(DataError, match="'yes'.*3 row.*--cv-folds 3"):
        check_scorable(y, folds, ordered, "roc_auc", needs_both=True)
    check_scorable(y, make_folds(y, classification=True, n_folds=3, seed=0), ordered, "roc_auc", needs_both=True)
    check_scorable(y, folds, ordered, "log_loss", needs_both=False)  # log loss scores a fold of one class
