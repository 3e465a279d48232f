"""The target column: usable rows, class order, encoding, and what the folds can score.

Classes are encoded as their index in `TableSchema.classes`. For a binary task the
positive class (the one threshold metrics such as f1 score) is put last, at index 1, so
every metric reads it from the same column; the other tasks keep the sorted order.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from automl.data.schema import TableSchema
from automl.data.splits import Folds
from automl.errors import DataError, SpecError


def drop_unusable_targets(frame: pd.DataFrame, target: str, notes: list[str]) -> pd.DataFrame:
    """Drop rows whose target is missing, or not finite where the target is numeric.

    Each drop is a warning and a note: a user should know that rows were left out.
    """
    if target not in frame.columns:
        return frame  # infer_schema reports it with the list of columns
    column = frame[target]
    unusable = column.isna().to_numpy(copy=True)
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        with np.errstate(invalid="ignore"):
            unusable |= ~np.isfinite(column.to_numpy(dtype=np.float64, na_value=np.nan))
    dropped = int(unusable.sum())
    if dropped:
        message = f"dropped {dropped} row(s) whose target {target!r} is missing or not finite"
        warnings.warn(message, stacklevel=3)
        notes.append(message)
        frame = frame[~unusable].reset_index(drop=True)
    return frame


def order_classes(schema: TableSchema, target: pd.Series, positive_class: Any = None) -> TableSchema:
    """The schema with a binary task's positive class last (index 1).

    The positive class is `positive_class` when given, else the minority class, and on a
    tie the label that sorts last (the order the classes had before).

    Raises:
        SpecError: `positive_class` is not one of the target's classes, or the task is not binary.
    """
    classes = list(schema.classes or [])
    if schema.task != "binary":
        if positive_class is not None:
            raise SpecError(f"positive_class applies to a binary task; this one is {schema.task}")
        return schema
    if positive_class is not None:
        keys = [label_key(c) for c in classes]
        wanted = label_key(positive_class)
        matches = [i for i, key in enumerate(keys) if key == wanted or str(key) == str(wanted)]
        if not matches:
            raise SpecError(
                f"positive_class {positive_class!r} is not a class of target {schema.target!r}; "
                f"its classes are {', '.join(repr(c) for c in classes)}"
            )
        positive = matches[0]
    else:
        counts = encode_known(target, schema)
        sizes = np.bincount(counts[counts >= 0], minlength=2)
        positive = 0 if sizes[0] < sizes[1] else 1  # a tie keeps the label that sorts last
    ordered = [classes[1 - positive], classes[positive]]
    return replace(schema, classes=ordered)


def positive_class(schema: TableSchema) -> Any:
    """The class threshold metrics score (binary tasks), else None; a plain Python value."""
    if schema.task != "binary" or not schema.classes:
        return None
    label = schema.classes[1]
    return label.item() if isinstance(label, np.generic) else label


def encode_target(target: pd.Series, schema: TableSchema) -> np.ndarray:
    """Regression values as float64, or each label's class index."""
    if schema.task == "regression":
        return pd.to_numeric(target, errors="raise").to_numpy(dtype=np.float64)
    return encode_known(target, schema)


def encode_known(target: pd.Series, schema: TableSchema) -> np.ndarray:
    """Class index of each label in `schema.classes`; -1 for labels the model never saw."""
    lookup = {label_key(c): i for i, c in enumerate(schema.classes or [])}
    return np.array([lookup.get(label_key(v), -1) for v in target], dtype=np.int64)


def label_key(value: Any) -> Any:
    """A label as a plain hashable value, so 1, 1.0 and np.int64(1) are one class."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def check_enough_rows(y: np.ndarray, schema: TableSchema, folds: int) -> None:
    """Refuse a table too small for `folds`-fold validation, or a class with one row.

    Raises:
        DataError: with what to change.
    """
    if len(y) < 2 * folds:
        raise DataError(
            f"the table has {len(y)} usable rows; {folds}-fold validation needs at least {2 * folds} "
            "(add rows or lower --cv-folds)"
        )
    if schema.task != "regression":
        counts = np.bincount(y, minlength=len(schema.classes or []))
        if counts.min() < 2:
            rare = [schema.classes[i] for i in np.flatnonzero(counts < 2)]  # type: ignore[index]
            raise DataError(
                f"class(es) {rare} of target {schema.target!r} have fewer than 2 rows: a model cannot learn and "
                "be validated on them; add rows of those classes or drop them from the table"
            )


def check_scorable(y: np.ndarray, folds: Folds, schema: TableSchema, metric: str, needs_both: bool) -> None:
    """Refuse up front a metric that some validation fold cannot score.

    ROC AUC of a binary task needs both classes in every validation fold: with fewer rows
    of a class than folds, some fold has none, and every trial would fail on it after the
    whole budget was spent.

    Raises:
        DataError: naming the class, its row count and what to change.
    """
    if not needs_both or schema.task != "binary":
        return
    for _, valid in folds.splits:
        present = np.unique(y[valid])
        if len(present) < 2:
            counts = np.bincount(y, minlength=2)
            rare = int(np.argmin(counts))
            label = (schema.classes or [None, None])[rare]
            fix = (
                f"use --cv-folds {max(2, int(counts[rare]))} or fewer"
                if len(folds) > 1 and counts[rare] >= 2
                else "add rows of that class"
            )
            raise DataError(
                f"class {label!r} of target {schema.target!r} has {int(counts[rare])} row(s), too few for "
                f"{metric} on every one of the {len(folds)} validation fold(s); {fix}, or choose --metric log_loss"
            )


__all__ = [
    "check_enough_rows",
    "check_scorable",
    "drop_unusable_targets",
    "encode_known",
    "encode_target",
    "label_key",
    "order_classes",
    "positive_class",
]
