"""Calibration: do predicted probabilities match how often the prediction comes true?"""

from __future__ import annotations

from typing import Any

import numpy as np

from automl.evaluation.assessment.scoring import brier_score

N_BINS = 10


def calibration(y: np.ndarray, proba: np.ndarray, n_classes: int) -> dict[str, Any]:
    """The Brier score and a reliability curve over `N_BINS` uniform bins of [0, 1].

    Binary: the positive class's probability (column 1) against whether the row is
    positive. Multiclass: the top predicted class's confidence against whether it is the
    true class. Each non-empty bin gives its mean predicted value, observed frequency and
    row count; empty bins are dropped, so the counts add up to the rows.
    """
    y = np.asarray(y).astype(np.int64)
    if n_classes == 2:
        predicted, outcome = proba[:, 1], (y == 1)
    else:
        predicted, outcome = proba.max(axis=1), (np.argmax(proba, axis=1) == y)
    bins = np.clip(np.floor(predicted * N_BINS).astype(np.int64), 0, N_BINS - 1)
    counts = np.bincount(bins, minlength=N_BINS)
    predicted_sum = np.bincount(bins, weights=predicted, minlength=N_BINS)
    observed_sum = np.bincount(bins, weights=outcome.astype(np.float64), minlength=N_BINS)
    curve = [
        {
            "predicted": float(predicted_sum[b] / counts[b]),
            "observed": float(observed_sum[b] / counts[b]),
            "count": int(counts[b]),
        }
        for b in np.flatnonzero(counts)
    ]
    return {"brier": brier_score(y, proba, n_classes), "curve": curve}


__all__ = ["N_BINS", "calibration"]
