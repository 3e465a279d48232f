"""The predictions every part of an assessment reads: each fold's model on its own rows.

A row is predicted once, by the first fold that lists it; the perturbation checks send
their altered rows through that same fold's predictor, so no row is ever scored by a
model that trained on it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from automl.errors import first_line

Predict = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class FoldPredictor:
    """A model and the rows it never saw in training.

    Args:
        rows: positions (into X and y) of the rows this predictor did not train on.
        predict: the raw features frame -> class probabilities of shape (n, n_classes),
            or regression values of shape (n,).
    """

    rows: np.ndarray
    predict: Predict


@dataclass(frozen=True)
class FoldRows:
    """One fold's predictor and the rows of X it is scored on (positions, sorted)."""

    predict: Predict
    rows: np.ndarray


@dataclass(frozen=True)
class OutOfFold:
    """Predictions aligned with X: `prediction[rows]` holds the scored rows' predictions.

    `folds` keeps, for each fold that predicted, the rows it owns; `rows` is their union.
    """

    prediction: np.ndarray
    rows: np.ndarray
    folds: tuple[FoldRows, ...]


def checked_prediction(output: np.ndarray, n_rows: int, *, task: str, n_classes: int, flip: bool) -> np.ndarray:
    """A predictor's output as float64 in the shape the metrics read.

    A binary model's one column of positive-class probabilities becomes two columns;
    `flip` swaps a binary task's columns (the positive class is read from column 1).

    Raises:
        ValueError: the output has the wrong shape for the task.
    """
    values = np.asarray(output, dtype=np.float64)
    if task == "regression":
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.shape != (n_rows,):
            raise ValueError(f"expected {n_rows} regression values, got shape {values.shape}")
        return values
    if values.ndim == 1 and n_classes == 2:
        values = np.column_stack([1.0 - values, values])
    if values.shape != (n_rows, n_classes):
        raise ValueError(f"expected probabilities of shape ({n_rows}, {n_classes}), got {values.shape}")
    return values[:, ::-1] if flip else values


def fold_predictor(predict: Predict, *, task: str, n_classes: int, flip: bool) -> Predict:
    """`predict` with its output checked (`checked_prediction`) and warnings silenced."""

    def checked(frame: pd.DataFrame) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = predict(frame)
        return checked_prediction(output, len(frame), task=task, n_classes=n_classes, flip=flip)

    return checked


def predict_out_of_fold(
    X: pd.DataFrame, folds: Sequence[FoldPredictor], *, task: str, n_classes: int, flip: bool, notes: list[str]
) -> OutOfFold:
    """Predict every fold's rows once. A fold whose predictor fails, rows listed by an
    earlier fold, rows out of range and rows with a non-finite prediction are left out,
    each with a note."""
    n = len(X)
    shape = (n,) if task == "regression" else (n, n_classes)
    prediction = np.full(shape, np.nan)
    owned = np.zeros(n, dtype=bool)
    kept: list[FoldRows] = []
    repeated = outside = not_finite = 0
    for k, fold in enumerate(folds):
        rows = np.asarray(fold.rows, dtype=np.int64).ravel()
        inside = (rows >= 0) & (rows < n)
        outside += int((~inside).sum())
        rows = np.unique(rows[inside])
        fresh = rows[~owned[rows]]
        repeated += len(rows) - len(fresh)
        if len(fresh) == 0:
            continue
        predict = fold_predictor(fold.predict, task=task, n_classes=n_classes, flip=flip)
        try:
            values = predict(X.iloc[fresh])
        except Exception as error:  # one fold's model failing leaves its rows out, not the evaluation
            notes.append(
                f"fold {k}'s model could not predict its {len(fresh)} rows, left out: {first_line(error, 200)}"
            )
            continue
        finite = np.isfinite(values) if values.ndim == 1 else np.isfinite(values).all(axis=1)
        not_finite += int((~finite).sum())
        fresh, values = fresh[finite], values[finite]
        prediction[fresh] = values
        owned[fresh] = True
        if len(fresh):
            kept.append(FoldRows(predict=predict, rows=fresh))
    if outside:
        notes.append(f"{outside} fold row position(s) outside the table were ignored")
    if repeated:
        notes.append(f"{repeated} row(s) listed by more than one fold were scored by the first fold only")
    if not_finite:
        notes.append(f"{not_finite} row(s) with a non-finite prediction were left out")
    uncovered = n - int(owned.sum())
    if uncovered:
        notes.append(f"{uncovered} of {n} rows were not predicted by any fold and are left out of every score")
    return OutOfFold(prediction=prediction, rows=np.flatnonzero(owned), folds=tuple(kept))


def sample_folds(folds: Sequence[FoldRows], max_rows: int, rng: np.random.Generator) -> tuple[FoldRows, ...]:
    """At most `max_rows` rows in all, drawn uniformly within each fold, each fold's share
    proportional to its size (largest remainders get the rows left over)."""
    sizes = np.array([len(f.rows) for f in folds], dtype=np.int64)
    total = int(sizes.sum())
    if total <= max_rows:
        return tuple(folds)
    exact = sizes * (max_rows / total)
    quota = np.floor(exact).astype(np.int64)
    quota[np.argsort(-(exact - quota), kind="stable")[: max_rows - int(quota.sum())]] += 1
    return tuple(
        FoldRows(predict=f.predict, rows=np.sort(rng.choice(f.rows, size=int(q), replace=False)))
        for f, q in zip(folds, quota, strict=True)
        if q > 0
    )


def predict_altered(
    X: pd.DataFrame, folds: Sequence[FoldRows], alter: Callable[[pd.DataFrame], pd.DataFrame]
) -> np.ndarray:
    """Each fold's rows altered by `alter` and predicted by that fold, concatenated in fold
    order (the order of `np.concatenate([f.rows for f in folds])`)."""
    return np.concatenate([f.predict(alter(X.iloc[f.rows])) for f in folds])


__all__ = [
    "FoldPredictor",
    "FoldRows",
    "OutOfFold",
    "checked_prediction",
    "fold_predictor",
    "predict_altered",
    "predict_out_of_fold",
    "sample_folds",
]
