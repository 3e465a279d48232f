"""Fairness: the model's scores per group of each sensitive column, with fairlearn.

Predicted labels are the argmax of the probabilities. Demographic parity and equalized
odds differences are binary-only (they compare rates of the positive class); a missing
sensitive value is a group of its own, `MISSING_GROUP`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    equalized_odds_difference,
    selection_rate,
)

from automl.errors import first_line
from automl.evaluation.assessment.scoring import Scorer, json_float

MISSING_GROUP = "(missing)"


def group_labels(column: pd.Series) -> np.ndarray:
    """Each value as text, missing values as `MISSING_GROUP`."""
    missing = column.isna().to_numpy()
    labels = np.array([str(v) for v in column.to_numpy(dtype=object)], dtype=object)
    labels[missing] = MISSING_GROUP
    return labels


def fairness(
    sensitive: pd.DataFrame, y: np.ndarray, prediction: np.ndarray, *, task: str, scorer: Scorer, notes: list[str]
) -> dict[str, Any]:
    """Per sensitive column: each group's row count and scores, and the binary task's
    demographic parity and equalized odds differences (largest gap between groups).

    `sensitive`, `y` and `prediction` hold the same rows in the same order. A column that
    cannot be assessed is left out with a note.
    """
    metrics = _group_metrics(task, prediction, scorer)
    labels = None if task == "regression" else np.argmax(prediction, axis=1)
    out: dict[str, Any] = {}
    if task == "multiclass":
        notes.append("fairness: demographic parity and equalized odds differences are defined for binary tasks only")
    elif task == "regression":
        notes.append("fairness: demographic parity and equalized odds differences need class labels (not regression)")
    for name in sensitive.columns:
        try:
            groups = group_labels(sensitive[name])
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                frame = MetricFrame(metrics=metrics, y_true=y, y_pred=np.arange(len(y)), sensitive_features=groups)
            by_group = frame.by_group
        except Exception as error:  # a column fairlearn cannot group by
            notes.append(f"fairness of {name!r}: not computed ({first_line(error, 200)})")
            continue
        entry: dict[str, Any] = {
            "groups": [
                {
                    "group": str(group),
                    "count": int(row["count"]),
                    **{k: json_float(row[k]) for k in metrics if k != "count"},
                }
                for group, row in by_group.iterrows()
            ],
            "demographic_parity_difference": None,
            "equalized_odds_difference": None,
        }
        if task == "binary" and labels is not None:
            for key, difference in (
                ("demographic_parity_difference", demographic_parity_difference),
                ("equalized_odds_difference", equalized_odds_difference),
            ):
                entry[key] = _difference(difference, y, labels, groups, f"{key} of {name!r}", notes)
        out[str(name)] = entry
    return out


def _group_metrics(task: str, prediction: np.ndarray, scorer: Scorer) -> dict[str, Callable[..., float]]:
    """MetricFrame's metrics. MetricFrame splits `y_pred` by group; it is given row
    positions, so that each metric can read the rows' probabilities through them."""

    def registry(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
        def score(y_true: np.ndarray, rows: np.ndarray) -> float:
            value = scorer(name, y_true, prediction[rows.astype(np.int64)], quiet=True)
            return np.nan if value is None else value

        return score

    metrics: dict[str, Callable[..., float]] = {"count": count}
    if task == "regression":
        metrics["rmse"] = registry("rmse")
        metrics["mean_prediction"] = lambda y_true, rows: float(np.mean(prediction[rows.astype(np.int64)]))
    else:
        metrics["accuracy"] = registry("accuracy")
        if task == "binary":
            metrics["selection_rate"] = lambda y_true, rows: float(
                selection_rate(y_true, np.argmax(prediction[rows.astype(np.int64)], axis=1), pos_label=1)
            )
    metrics.setdefault(scorer.metric.name, registry(scorer.metric.name))
    return metrics


def _difference(
    difference: Callable[..., float], y: np.ndarray, labels: np.ndarray, groups: np.ndarray, what: str, notes: list[str]
) -> float | None:
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = json_float(difference(y, labels, sensitive_features=groups))
    except Exception as error:  # e.g. a group without positive rows for the true positive rate
        notes.append(f"fairness: {what} not computable ({first_line(error, 200)})")
        return None
    if value is None:
        notes.append(f"fairness: {what} not computable (a group lacks positive or negative rows)")
    return value


__all__ = ["MISSING_GROUP", "fairness", "group_labels"]
