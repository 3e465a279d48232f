"""`Metric.best_index`: the one arg-best of the code base, in each metric's direction."""

from __future__ import annotations

import math

import pytest

from automl.evaluation.metrics import get_metric

NAN = math.nan


@pytest.mark.parametrize(
    ("metric", "scores", "best"),
    [
        ("roc_auc", [0.6, 0.9, 0.7], 1),
        ("log_loss", [0.6, 0.2, 0.7], 1),
        ("roc_auc", [0.8, 0.9, 0.9], 1),  # ties: the earliest
        ("rmse", [1.0, 1.0, 2.0], 0),
        ("roc_auc", [NAN, 0.5, NAN], 1),  # NaN never wins, wherever it stands
        ("log_loss", [NAN, 3.0, 2.0], 2),
        ("r2", [NAN, -math.inf], 1),  # the worst number still beats no number
        ("rmse", [NAN, math.inf], 1),
    ],
    ids=[
        "greater",
        "smaller",
        "tie-greater",
        "tie-smaller",
        "nan-greater",
        "nan-smaller",
        "nan-vs-inf",
        "nan-vs-inf-min",
    ],
)
def test_best_index_follows_the_metric_and_skips_nan(metric, scores, best):
    assert get_metric(metric).best_index(scores) == best


@pytest.mark.parametrize("scores", [[], [NAN, NAN]], ids=["empty", "all-nan"])
def test_best_index_of_no_number_is_a_value_error(scores):
    with pytest.raises(ValueError, match="no roc_auc score to choose from"):
        get_metric("roc_auc").best_index(scores)
