"""Scoring through the metric registry, so every number matches the leaderboard's.

A score that cannot be computed (ROC AUC on rows of one class, say) is None, never NaN
or an exception: the assessment is a report, and one undefined number must not cost
the others.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl.errors import first_line
from automl.evaluation.metrics import Metric, get_metric

#: not in the registry (no job optimises it), but every classification report shows it
BRIER = "brier"


def brier_score(y: np.ndarray, proba: np.ndarray, n_classes: int) -> float:
    """Mean squared error of the probabilities against the one-hot labels.

    Binary: on the positive class (column 1), in [0, 1]. Multiclass: summed over the
    classes (Brier's original definition, scikit-learn's for multiclass), in [0, 2].
    """
    y = np.asarray(y).astype(np.int64)
    if n_classes == 2:
        return float(np.mean((proba[:, 1] - (y == 1)) ** 2))
    onehot = np.eye(proba.shape[1])[y]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def json_float(value: Any) -> float | None:
    """A plain finite float, or None (NaN, infinities, None, non-numbers)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def out_of_time(deadline: float | None) -> bool:
    """True once `deadline` (a `time.time()` value) has passed."""
    return deadline is not None and time.time() >= deadline


@dataclass
class Scorer:
    """Scores metrics by name with `n_classes`; failures are None and, unless quiet, a note.

    `metric` is the job's metric, whose direction the perturbation checks read.
    """

    metric: Metric
    n_classes: int
    notes: list[str] = field(default_factory=list)

    def __call__(
        self, name: str, y: np.ndarray, prediction: np.ndarray, *, where: str = "", quiet: bool = False
    ) -> float | None:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                if name == BRIER:
                    value = brier_score(y, prediction, self.n_classes)
                else:
                    value = get_metric(name)(y, prediction, self.n_classes)
        except Exception as error:  # the metric is undefined on these rows
            if not quiet:
                self.notes.append(f"{name}{' ' + where if where else ''}: not computable ({first_line(error, 200)})")
            return None
        number = json_float(value)
        if number is None and not quiet:
            self.notes.append(f"{name}{' ' + where if where else ''}: not computable (not a finite number)")
        return number

    def job(self, y: np.ndarray, prediction: np.ndarray, *, where: str = "", quiet: bool = False) -> float | None:
        """The job's metric."""
        return self(self.metric.name, y, prediction, where=where, quiet=quiet)

    def drop(self, clean: float, altered: float) -> float:
        """How much worse `altered` is than `clean`: positive when the score got worse,
        whichever direction the job's metric has."""
        return clean - altered if self.metric.greater_is_better else altered - clean


__all__ = ["BRIER", "Scorer", "brier_score", "json_float", "out_of_time"]
