"""The headline numbers: the usual metrics, a dummy baseline, the confusion matrix and a
sample of regression residuals."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix

from automl.evaluation.assessment.scoring import BRIER, Scorer

#: the residual plot's points at most
MAX_RESIDUALS = 2_000


def metric_names(task: str, metric: str) -> list[str]:
    """The job's metric first, then the task's usual others."""
    if task == "regression":
        usual = ["rmse", "mae", "r2"]
    else:
        usual = ["accuracy", "balanced_accuracy", "log_loss", *(["f1"] if task == "binary" else []), "roc_auc", BRIER]
    return list(dict.fromkeys([metric, *usual]))


def score_table(
    names: list[str], y: np.ndarray, prediction: np.ndarray, scorer: Scorer, where: str
) -> dict[str, float | None]:
    """Each metric of `names` on these rows; an undefined one is None with a note."""
    return {name: scorer(name, y, prediction, where=where) for name in names}


def baseline_prediction(y: np.ndarray, task: str, n_classes: int) -> np.ndarray:
    """A dummy model's predictions: every row gets the class priors of `y` (the scored rows
    as a whole, not each row's training fold: a little optimistic, and the same for every
    row), or the mean of `y` for regression."""
    if task == "regression":
        return np.full(len(y), float(np.mean(y)))
    priors = np.bincount(y.astype(np.int64), minlength=n_classes) / len(y)
    return np.tile(priors, (len(y), 1))


def confusion(y: np.ndarray, proba: np.ndarray, classes: list[Any], flip: bool) -> dict[str, Any]:
    """Counts of (true class, predicted class = argmax), rows and columns in the order of
    `classes` (`flip`: the predictions' columns and `y` were swapped to read the positive
    class from column 1, and are swapped back here)."""
    matrix = confusion_matrix(y, np.argmax(proba, axis=1), labels=np.arange(len(classes)))
    if flip:
        matrix = matrix[::-1, ::-1]
    return {"labels": [str(c) for c in classes], "matrix": [[int(v) for v in row] for row in matrix]}


def residuals(y: np.ndarray, prediction: np.ndarray, rng: np.random.Generator) -> dict[str, list[float]]:
    """Predicted and actual values of a seeded sample of at most `MAX_RESIDUALS` rows."""
    picked = np.arange(len(y))
    if len(y) > MAX_RESIDUALS:
        picked = np.sort(rng.choice(len(y), size=MAX_RESIDUALS, replace=False))
    return {"predicted": [float(v) for v in prediction[picked]], "actual": [float(v) for v in y[picked]]}


__all__ = ["MAX_RESIDUALS", "baseline_prediction", "confusion", "metric_names", "residuals", "score_table"]
