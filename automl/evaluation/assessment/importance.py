"""Permutation importance: how much the job's metric drops when one column is shuffled.

Each column is shuffled within each fold's sampled rows (so a fold's model only meets its
own validation rows, rearranged), `REPEATS` times, the repeats predicted in one call.
Costs one predict call per column and fold, on `REPEATS` times the fold's sampled rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from automl.errors import first_line
from automl.evaluation.assessment.predictions import FoldRows
from automl.evaluation.assessment.scoring import Scorer, json_float, out_of_time

REPEATS = 3
#: columns shuffled at most, in the table's order
MAX_COLUMNS = 50


def permutation_importance(
    X: pd.DataFrame,
    y: np.ndarray,
    clean_prediction: np.ndarray,
    folds: Sequence[FoldRows],
    scorer: Scorer,
    rng: np.random.Generator,
    *,
    deadline: float | None,
    notes: list[str],
) -> list[dict[str, Any]]:
    """`{"feature", "mean", "std"}` of each column's drop in the job's metric (positive:
    the column matters), most important first.

    Args:
        X: the features, all rows.
        y, clean_prediction: targets and unaltered predictions of the sampled rows, in
            fold order (`np.concatenate([f.rows for f in folds])`).
        folds: each fold's predictor with its sampled rows.
        deadline: past it, the columns not yet shuffled are left out, with a note.
    """
    clean = scorer.job(y, clean_prediction, where="on the sampled rows (importance)")
    if clean is None:
        notes.append("importance: not computed, the job's metric is undefined on the sampled rows")
        return []
    columns = list(X.columns)
    if len(columns) > MAX_COLUMNS:
        notes.append(f"importance: computed for the first {MAX_COLUMNS} of {len(columns)} columns only")
        columns = columns[:MAX_COLUMNS]
    frames = [X.iloc[f.rows] for f in folds]
    out: list[dict[str, Any]] = []
    for done, column in enumerate(columns):
        if out_of_time(deadline):
            notes.append(f"importance: the time was up after {done} of {len(columns)} columns; the others are left out")
            break
        try:
            drops = _drops(column, frames, folds, y, clean, scorer, rng)
        except Exception as error:  # a model that cannot take this column shuffled
            notes.append(f"importance of {column!r}: not computed ({first_line(error, 200)})")
            continue
        if not drops:
            notes.append(f"importance of {column!r}: the job's metric is undefined on the shuffled rows")
            continue
        out.append({"feature": str(column), "mean": json_float(np.mean(drops)), "std": json_float(np.std(drops))})
    out.sort(key=lambda item: -(item["mean"] if item["mean"] is not None else -np.inf))
    return out


def _drops(
    column: Any,
    frames: list[pd.DataFrame],
    folds: Sequence[FoldRows],
    y: np.ndarray,
    clean: float,
    scorer: Scorer,
    rng: np.random.Generator,
) -> list[float]:
    """The metric's drop of each repeat that could be scored."""
    per_repeat: list[list[np.ndarray]] = [[] for _ in range(REPEATS)]
    for frame, fold in zip(frames, folds, strict=True):
        copies = []
        for _ in range(REPEATS):
            shuffled = frame.copy()
            shuffled[column] = frame[column].iloc[rng.permutation(len(frame))].set_axis(frame.index)
            copies.append(shuffled)
        predicted = fold.predict(pd.concat(copies, ignore_index=True))
        for r, part in enumerate(np.split(predicted, REPEATS)):
            per_repeat[r].append(part)
    scores = [scorer.job(y, np.concatenate(parts), quiet=True) for parts in per_repeat]
    return [scorer.drop(clean, s) for s in scores if s is not None]


__all__ = ["MAX_COLUMNS", "REPEATS", "permutation_importance"]
