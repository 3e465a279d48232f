"""What a model's input schema is, and how it is inferred from the training table.

The schema is learned once from the training table and stored in the artifact, so that
prediction-time tables (files, HTTP rows) are coerced to exactly the training types
(`automl.data.coercion`). How single values are judged lives in `automl.data.values`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from automl.data.values import (
    TRUE_FALSE,
    finite,
    holds_numbers,
    is_sequence,
    looks_like_dates,
    to_numbers,
    unusable_values,
)
from automl.errors import DataError

ColumnKind = Literal["numeric", "categorical", "boolean", "datetime", "excluded"]
TaskName = Literal["binary", "multiclass", "regression"]

# Integer targets with at most this many distinct values are treated as class labels.
MAX_CLASSES_FOR_INTEGER_TARGET = 10
_ID_NAME = re.compile(r"(^|_|\b)(id|uuid|guid|key)$", re.IGNORECASE)


@dataclass(frozen=True)
class ColumnInfo:
    """One input column: its inferred kind, and why it was excluded if it was."""

    name: str
    kind: ColumnKind
    note: str = ""
    cardinality: int = 0  # distinct values seen in training (categorical columns)


@dataclass
class TableSchema:
    """The feature columns of a training table and how each is treated."""

    columns: list[ColumnInfo]
    target: str
    task: TaskName
    classes: list[Any] | None = None
    allows_missing: dict[str, bool] = field(default_factory=dict)
    #: columns used only as salted hashes (`data_quality.hash`): the job's salt of each, kept
    #: in the artifact so that prediction-time values hash as the training values did
    hashed: dict[str, str] = field(default_factory=dict)
    #: numeric columns clipped to these bounds (`data_quality.clip_outliers`), at fit and predict
    clipped: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [c.name for c in self.columns if c.kind != "excluded"]

    def names_of(self, *kinds: ColumnKind) -> list[str]:
        return [c.name for c in self.columns if c.kind in kinds]

    @property
    def notes(self) -> list[str]:
        return [f"{c.name}: {c.note}" for c in self.columns if c.note]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.classes is not None:
            data["classes"] = [_plain(c) for c in self.classes]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSchema:
        return cls(
            columns=[ColumnInfo(**c) for c in data["columns"]],
            target=data["target"],
            task=data["task"],
            classes=data.get("classes"),
            allows_missing=dict(data.get("allows_missing", {})),
            hashed=dict(data.get("hashed", {})),
            clipped={k: (float(lo), float(hi)) for k, (lo, hi) in data.get("clipped", {}).items()},
        )


def infer_task(target: pd.Series) -> TaskName:
    """Guess binary / multiclass / regression from the target's values.

    Strings, booleans and categories are classes; floats with fractions are regression;
    integers are classes only when there are few distinct values (ages or counts with many
    values are better modelled as numbers). Decimals are numbers; infinities count as missing.
    """
    values = finite(_target_values(target))
    n_unique = values.nunique()
    if n_unique < 2:
        raise DataError(f"target column {target.name!r} has {n_unique} distinct value(s); need at least 2")
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "binary" if n_unique == 2 else "multiclass"
    numbers = values.astype(float)
    is_integral = bool(np.all(np.mod(numbers, 1) == 0))
    if n_unique == 2:
        return "binary"
    if is_integral and n_unique <= MAX_CLASSES_FOR_INTEGER_TARGET:
        return "multiclass"
    return "regression"


def infer_schema(frame: pd.DataFrame, target: str, task: str = "auto") -> TableSchema:
    """Infer each feature column's kind and the task; check the target is usable.

    Raises:
        DataError: duplicate column names, unknown target column, a target of nested or
            infinite values or with fewer than two classes, a classification task asked for
            on a continuous target, or no usable feature.
    """
    frame = text_column_names(frame)
    if target not in frame.columns:
        raise DataError(f"target column {target!r} not found; columns are: {list_names(frame.columns)}")
    y = _target_values(frame[target])
    if len(y) == 0:
        raise DataError(f"target column {target!r} has no values")
    n_infinite = len(y) - len(finite(y))
    if n_infinite:
        raise DataError(
            f"target column {target!r} has {n_infinite} infinite value(s) (or too large for a float); "
            "remove those rows or leave the target empty there"
        )
    inferred = infer_task(y)
    if task == "auto":
        task = inferred
    elif task in ("binary", "multiclass"):
        n_classes = y.nunique()
        if task == "binary" and n_classes != 2:
            raise DataError(f"task binary needs a target with 2 classes; {target!r} has {n_classes}")
        if task == "multiclass" and n_classes < 3:
            raise DataError(f"task multiclass needs at least 3 classes; {target!r} has {n_classes}")
        if n_classes > max(50, len(y) // 5):
            raise DataError(f"target {target!r} has {n_classes} distinct values: too many to be classes")
    elif task == "regression":
        if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
            raise DataError(f"task regression needs a numeric target; {target!r} is {y.dtype}")
    else:
        raise DataError(f"unknown task {task!r}; choose auto, binary, multiclass or regression")

    columns = [_infer_column(frame[name]) for name in frame.columns if name != target]
    if not any(c.kind != "excluded" for c in columns):
        raise DataError("no usable feature columns (every column is the target, constant, an ID or free text)")
    classes = sorted(y.unique().tolist(), key=_sort_key) if task != "regression" else None
    allows_missing = {c.name: _has_missing(frame[c.name], c.kind) for c in columns if c.kind != "excluded"}
    chosen: TaskName = "binary" if task == "binary" else "multiclass" if task == "multiclass" else "regression"
    return TableSchema(columns=columns, target=target, task=chosen, classes=classes, allows_missing=allows_missing)


def _infer_column(column: pd.Series) -> ColumnInfo:
    name = str(column.name)
    values = column.dropna()
    unusable = unusable_values(values)
    if unusable:
        return ColumnInfo(name, "excluded", f"excluded: {unusable} are not modelled")
    if holds_numbers(values):
        values = to_numbers(values)
    values = finite(values)  # coerce_features makes infinities missing
    n = len(values)
    if n == 0:
        return ColumnInfo(name, "excluded", "excluded: every value is missing")
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        # no count of distinct values unless needed: hashing every float of a large column is slow
        numbers = values.astype(float)
        if numbers.min() == numbers.max():
            return ColumnInfo(name, "excluded", "excluded: constant")
        integral = bool(np.all(np.mod(numbers[np.isfinite(numbers)], 1) == 0))
        if integral and n >= 20 and values.nunique() == n and (_ID_NAME.search(name) or is_sequence(numbers)):
            return ColumnInfo(name, "excluded", "excluded: looks like a row ID (unique integers)")
        return ColumnInfo(name, "numeric")
    n_unique = values.nunique()
    if n_unique == 1:
        return ColumnInfo(name, "excluded", "excluded: constant")
    if pd.api.types.is_bool_dtype(values):
        return ColumnInfo(name, "boolean", cardinality=2)
    if pd.api.types.is_datetime64_any_dtype(values):
        return ColumnInfo(name, "datetime")
    strings = values.astype(str)
    if n_unique == 2 and set(strings.str.lower().unique()) <= TRUE_FALSE:
        return ColumnInfo(name, "boolean", cardinality=2)
    if looks_like_dates(strings):
        return ColumnInfo(name, "datetime")
    if n >= 20 and n_unique == n:
        return ColumnInfo(name, "excluded", "excluded: looks like an ID (every value unique)")
    if n >= 20 and n_unique > 0.5 * n and strings.str.len().mean() > 30 and strings.str.contains(" ").mean() > 0.5:
        return ColumnInfo(name, "excluded", "excluded: free text (not modelled yet)")
    return ColumnInfo(name, "categorical", cardinality=int(n_unique))


def text_column_names(frame: pd.DataFrame, where: str = "the table") -> pd.DataFrame:
    """`frame` with every column name as text (a view, not a copy of the data).

    Raises:
        DataError: two columns have one name, or names that read the same as text
            (1 and "1"): a column must be found by its name.
    """
    names = frame.columns
    if not names.is_unique:
        duplicates = names[names.duplicated()].unique()
        raise DataError(
            f"{where} has more than one column named {list_names(duplicates)}; rename them so each name is unique"
        )
    if all(type(name) is str for name in names):
        return frame
    text = pd.Index([str(name) for name in names])
    if not text.is_unique:
        clashes = [name for name, same in zip(names, text.duplicated(keep=False), strict=True) if same]
        raise DataError(
            f"{where} has column names that read the same as text: {', '.join(repr(n) for n in clashes[:20])}; "
            "rename them so each name is unique"
        )
    return frame.set_axis(text, axis=1)


def _target_values(column: pd.Series) -> pd.Series:
    """The target's values as `infer_task` and `infer_schema` judge them: no missing values,
    decimals (and other number objects) as floats, those beyond a float's range as NaN."""
    values = column.dropna()
    unusable = unusable_values(values)
    if unusable:
        raise DataError(f"target column {column.name!r} holds {unusable}; choose a column of labels or numbers")
    return to_numbers(values) if holds_numbers(values) else values


def _has_missing(column: pd.Series, kind: ColumnKind) -> bool:
    """Whether the coerced column has missing values: infinities in numbers are missing too."""
    if kind == "numeric":
        return not bool(np.isfinite(to_numbers(column).to_numpy()).all())
    return bool(column.isna().any())


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numbers before strings so mixed labels still sort deterministically.
    return (0, value) if isinstance(value, (int, float, np.number)) else (1, str(value))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def list_names(names: Any, limit: int = 20) -> str:
    """Column names quoted for an error message, the first `limit` of them."""
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")
