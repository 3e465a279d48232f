"""Metrics: how a trial, a model or an ensemble is scored.

Each metric knows its direction and whether it reads probabilities or labels, so callers
never special-case a name. Predictions are passed in the model's native form: class
probabilities of shape (n, n_classes) for classification, values for regression.
"""

from __future__ import annotations

from collections.abc import Callable
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

    @property
    def mode(self) -> str:
        """The direction in Ray Tune's words."""
        return "max" if self.greater_is_better else "min"

    @property
    def worst(self) -> float:
        return -np.inf if self.greater_is_better else np.inf

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


def _labels(proba: np.ndarray) -> np.ndarray:
    return np.argmax(proba, axis=1)


def _roc_auc(y: np.ndarray, proba: np.ndarray, n_classes: int) -> float:
    if n_classes == 2:
        return skm.roc_auc_score(y, proba[:, 1])
    return skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=np.arange(n_classes))


def _log_loss(y: np.ndarray, proba: np.ndarray, n_classes: int) -> float:
    return skm.log_loss(y, np.clip(proba, 1e-15, 1), labels=np.arange(n_classes))


def _f1(y: np.ndarray, proba: np.ndarray, n_classes: int) -> float:
    return skm.f1_score(y, _labels(proba), average="binary" if n_classes == 2 else "macro")


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", True, _CLASSIFICATION, _roc_auc),
        Metric("log_loss", False, _CLASSIFICATION, _log_loss),
        Metric("accuracy", True, _CLASSIFICATION, lambda y, p, k: skm.accuracy_score(y, _labels(p))),
        Metric("balanced_accuracy", True, _CLASSIFICATION, lambda y, p, k: skm.balanced_accuracy_score(y, _labels(p))),
        Metric("f1", True, _CLASSIFICATION, _f1),
        Metric("rmse", False, _REGRESSION, lambda y, p, k: float(np.sqrt(skm.mean_squared_error(y, p)))),
        Metric("mae", False, _REGRESSION, lambda y, p, k: skm.mean_absolute_error(y, p)),
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
