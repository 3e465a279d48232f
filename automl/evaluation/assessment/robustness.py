"""Robustness: the job's metric under noise and missing values, and its worst slices.

The perturbation checks alter each fold's sampled rows and send them through that fold's
predictor: one predict call per rate and fold. The worst slices cost no prediction: they
re-score the unaltered predictions of the rows holding one value of a column.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from automl.errors import first_line
from automl.evaluation.assessment.fairness import group_labels
from automl.evaluation.assessment.perturbations import Perturber, is_categorical
from automl.evaluation.assessment.predictions import FoldRows, predict_altered
from automl.evaluation.assessment.scoring import Scorer, json_float, out_of_time

#: a slice needs at least this many rows, and at least `MIN_SLICE_SHARE` of them
MIN_SLICE_ROWS = 30
MIN_SLICE_SHARE = 0.01
#: categorical columns searched for their worst slice at most, in the table's order
MAX_SLICE_COLUMNS = 20


def perturbed_scores(
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[FoldRows],
    scorer: Scorer,
    rates: Sequence[float],
    alter: Callable[[pd.DataFrame, float], pd.DataFrame],
    *,
    what: str,
    deadline: float | None,
    notes: list[str],
) -> list[dict[str, Any]]:
    """`{"rate", "score"}` for each rate: the job's metric once `alter` has perturbed every
    fold's sampled rows at that rate. `y` is in fold order. Rates past the deadline are
    left out, with a note."""
    out: list[dict[str, Any]] = []
    for done, rate in enumerate(rates):
        if out_of_time(deadline):
            notes.append(f"robustness: the time was up after {done} of {len(rates)} {what} rate(s)")
            break
        try:
            prediction = predict_altered(X, folds, functools.partial(_at_rate, alter, float(rate)))
        except Exception as error:  # a model that cannot take the perturbed rows
            notes.append(f"robustness: {what} at rate {rate}: the model failed ({first_line(error, 200)})")
            score = None
        else:
            score = scorer.job(y, prediction, where=f"under {what} at rate {rate}")
        out.append({"rate": float(rate), "score": score})
    return out


def _at_rate(alter: Callable[[pd.DataFrame, float], pd.DataFrame], rate: float, frame: pd.DataFrame) -> pd.DataFrame:
    return alter(frame, rate)


def robustness(
    X: pd.DataFrame,
    y: np.ndarray,
    clean_prediction: np.ndarray,
    folds: Sequence[FoldRows],
    scorer: Scorer,
    perturber: Perturber,
    *,
    noise_rates: Sequence[float],
    missing_rates: Sequence[float],
    rng: np.random.Generator,
    deadline: float | None,
    notes: list[str],
) -> dict[str, Any]:
    """The clean score of the sampled rows and their scores under noise and missing values
    (`y` and `clean_prediction` in fold order); the worst slices are added by the caller."""
    untouched = perturber.untouched_by_noise(X)
    if untouched and noise_rates:
        notes.append(f"robustness: noise leaves {len(untouched)} column(s) as they are: {', '.join(untouched[:10])}")
    common: dict[str, Any] = {"deadline": deadline, "notes": notes}
    return {
        "score": scorer.job(y, clean_prediction, where="on the sampled rows (robustness)"),
        "noise": perturbed_scores(
            X, y, folds, scorer, noise_rates, lambda f, r: perturber.noisy(f, r, rng), what="noise", **common
        ),
        "missing": perturbed_scores(
            X,
            y,
            folds,
            scorer,
            missing_rates,
            lambda f, r: perturber.with_missing(f, r, rng),
            what="missing values",
            **common,
        ),
        "worst_slices": [],
    }


def worst_slices(
    X: pd.DataFrame, y: np.ndarray, prediction: np.ndarray, scorer: Scorer, notes: list[str]
) -> list[dict[str, Any]]:
    """For each categorical column, the value whose rows score worst on the job's metric
    (among values with at least max(`MIN_SLICE_ROWS`, `MIN_SLICE_SHARE` of the rows) rows,
    and a computable score), worst first. `X` holds the scored rows, aligned with `y`."""
    columns = [c for c in X.columns if is_categorical(X[c])]
    if len(columns) > MAX_SLICE_COLUMNS:
        notes.append(
            f"robustness: worst slices searched in the first {MAX_SLICE_COLUMNS} of {len(columns)} categorical columns"
        )
        columns = columns[:MAX_SLICE_COLUMNS]
    least = max(MIN_SLICE_ROWS, math.ceil(MIN_SLICE_SHARE * len(y)))
    sign = -1.0 if scorer.metric.greater_is_better else 1.0  # larger sign * score = worse
    out: list[dict[str, Any]] = []
    for name in columns:
        labels = group_labels(X[name])
        values, inverse, counts = np.unique(labels.astype(str), return_inverse=True, return_counts=True)
        worst: dict[str, Any] | None = None
        for v in np.flatnonzero(counts >= least):
            rows = np.flatnonzero(inverse == v)
            score = scorer.job(y[rows], prediction[rows], quiet=True)
            if score is not None and (worst is None or sign * score > sign * worst["score"]):
                worst = {
                    "feature": str(name),
                    "value": str(values[v]),
                    "count": int(counts[v]),
                    "score": json_float(score),
                }
        if worst is not None:
            out.append(worst)
    out.sort(key=lambda s: -sign * s["score"])
    return out


__all__ = ["MAX_SLICE_COLUMNS", "MIN_SLICE_ROWS", "MIN_SLICE_SHARE", "perturbed_scores", "robustness", "worst_slices"]
