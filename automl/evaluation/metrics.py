"""Metrics: how a trial, a model or an ensemble is scored.

Each metric knows its direction and whether it reads probabilities or labels, so callers
never special-case a name. Predictions are passed in the model's native form: class
probabilities of shape (n, n_classes) for classification, values for regression.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from automl.errors import SpecError

DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
_CLASSIFICATION = frozenset({"binary", "multiclass"})
_REGRESSION = frozenset({"regression"})


@dataclass(frozen=True)
class Metric:
    """A named score with a direction and the tasks it fits."""

    name: str
    greater_is_better: bool
    tasks: frozenset[str]
    _score: Callable[[np.ndarray, np.ndarray, int], float]
    #: binary: undefined on rows of one class (ROC AUC), so every validation fold needs both
    needs_both_classes: bool = False

    @property
    def mode(self) -> str:
        """The direction in Ray Tune's words."""
        return "max" if self.greater_is_better else "min"

    def __call__(self, y_true: np.ndarray, prediction: np.ndarray, n_classes: int = 0) -> float:
        """Score `prediction` against encoded labels (0..k-1) or regression values."""
        return float(self._score(np.asarray(y_true), np.asarray(prediction), n_classes))

    def is_better(self, a: float, b: float) -> bool:
        """True when score `a` beats score `b` (NaN never beats anything)."""
        if np.isnan(a):
            return False
        if np.isnan(b):
            return True
        return a > b if self.greater_is_better else a < b

    def best_index(self, scores: Sequence[float]) -> int:
        """Index of the best of `scores` in this metric's direction.

        NaN never wins (it is how an undefined score is reported); ties go to the earliest,
        since callers list their candidates best-first.

        Raises:
            ValueError: there is no score to choose from (empty, or every one NaN).
        """
        values = np.asarray(scores, dtype=np.float64)
        numbers = np.flatnonzero(~np.isnan(values))
        if len(numbers) == 0:
            raise ValueError(f"no {self.name} score to choose from: none given, or every one NaN")
        kept = values[numbers]
        return int(numbers[np.argmax(kept) if self.greater_is_better else np.argmin(kept)])


def _labels(proba: np.ndarray) -> np.ndarray:
    return np.argmax(proba, axis=1)


# The default metrics are computed with numpy directly: ensemble selection scores
# thousands of candidate blends, and scikit-learn's input validation would dominate.


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (scipy's rankdata, without scipy.stats)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1], True])
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts[:-1] + 1 + starts[1:]) / 2, np.diff(starts))
    return ranks


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney form of ROC AUC (ties count half), as scikit-learn computes it."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs both classes among the rows")
    ranks = _average_ranks(np.asarray(score, dtype=np.float64))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _roc_auc(y: np.ndarray, proba: np.ndarray, n_classes: int) -> float:
    y = y.astype(int)
    if n_classes == 2:
        return _binary_auc(y == 1, proba[:, 1])
    # one-vs-rest, macro average over the classes present (scikit-learn's "ovr")
    return float(np.mean([_binary_auc(y == c, proba[:, c]) for c in np.unique(y)]))


def _log_loss(y: np.ndarray, proba: np.ndarray, n_classes: int) -> float:
    picked = proba[np.arange(len(y)), y.astype(int)] / proba.sum(axis=1)
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


def _f1(y: np.ndarray, proba: np.ndarray, n_classes: int) -> float:
    return skm.f1_score(y, _labels(proba), average="binary" if n_classes == 2 else "macro")


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", True, _CLASSIFICATION, _roc_auc, needs_both_classes=True),
        Metric("log_loss", False, _CLASSIFICATION, _log_loss),
        Metric("accuracy", True, _CLASSIFICATION, lambda y, p, k: float(np.mean(y == _labels(p)))),
        Metric("balanced_accuracy", True, _CLASSIFICATION, lambda y, p, k: skm.balanced_accuracy_score(y, _labels(p))),
        Metric("f1", True, _CLASSIFICATION, _f1),
        Metric("rmse", False, _REGRESSION, lambda y, p, k: float(np.sqrt(np.mean((y - p) ** 2)))),
        Metric("mae", False, _REGRESSION, lambda y, p, k: float(np.mean(np.abs(y - p)))),
        Metric("r2", True, _REGRESSION, lambda y, p, k: skm.r2_score(y, p)),
    )
}


def get_metric(name: str) -> Metric:
    """Look a metric up by name.

    Raises:
        SpecError: the name is unknown; the message lists the known ones.
    """
    try:
        return METRICS[name]
    except KeyError:
        raise SpecError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}") from None


def resolve_metric(name: str | None, task: str) -> Metric:
    """The job's metric: the named one if it fits the task, else the task's default."""
    metric = get_metric(name or DEFAULT_METRIC[task])
    if task not in metric.tasks:
        fitting = [m.name for m in METRICS.values() if task in m.tasks]
        raise SpecError(f"metric {metric.name!r} does not fit a {task} task; choose one of {', '.join(fitting)}")
    return metric
