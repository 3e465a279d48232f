"""Column type inference, task inference and the input schema a model is trained on.

The schema is learned once from the training table and stored in the artifact, so that
prediction-time tables (files, HTTP rows) are coerced to exactly the training types.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from automl.errors import DataError

# Coerced features: a frame (`coerce_features`) or its columns' arrays (`feature_columns`)
FeatureTable = pd.DataFrame | Mapping[str, np.ndarray]
ColumnKind = Literal["numeric", "categorical", "boolean", "datetime", "excluded"]
TaskName = Literal["binary", "multiclass", "regression"]

# Integer targets with at most this many distinct values are treated as class labels.
MAX_CLASSES_FOR_INTEGER_TARGET = 10
_ID_NAME = re.compile(r"(^|_|\b)(id|uuid|guid|key)$", re.IGNORECASE)
_TRUE_FALSE = {"true", "false", "yes", "no", "y", "n", "t", "f"}
# What pandas' `infer_dtype` calls an object column whose values are all numbers
_NUMBER_FORMS = {"decimal", "integer", "floating", "mixed-integer-float"}
_NUMBER_TYPES = (int, float, Decimal, np.integer, np.floating)


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
        )


def infer_task(target: pd.Series) -> TaskName:
    """Guess binary / multiclass / regression from the target's values.

    Strings, booleans and categories are classes; floats with fractions are regression;
    integers are classes only when there are few distinct values (ages or counts with many
    values are better modelled as numbers). Decimals are numbers; infinities count as missing.
    """
    values = _finite(_target_values(target))
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
        raise DataError(f"target column {target!r} not found; columns are: {_list_names(frame.columns)}")
    y = _target_values(frame[target])
    if len(y) == 0:
        raise DataError(f"target column {target!r} has no values")
    n_infinite = len(y) - len(_finite(y))
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


def coerce_features(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Select the schema's feature columns and convert them to the training types.

    Unparseable numbers and dates, and infinities, become missing values (handled by the
    pipeline); a missing column, or two columns of one name, is an error naming it.
    """
    frame = text_column_names(frame)
    missing = [name for name in schema.features if name not in frame.columns]
    if missing:
        raise DataError(f"missing column(s): {_list_names(missing)}")
    out = {}
    for info in schema.columns:
        if info.kind == "excluded":
            continue
        column = frame[info.name]
        if info.kind == "numeric":
            out[info.name] = _to_numbers(column)
        elif info.kind == "datetime":
            out[info.name] = _to_datetime(column)
        else:  # categorical and boolean: compared as strings so 1, "1" and True agree
            out[info.name] = _to_category_strings(column)
    return pd.DataFrame(out, index=frame.index)


def feature_columns(rows: list[dict[str, Any]], schema: TableSchema) -> dict[str, np.ndarray]:
    """`coerce_features` for rows given as `{column: value}` dicts (a served request's JSON),
    as one NumPy array per column rather than a DataFrame (`columns_frame` makes one).

    Built column by column from Python lists. For the few rows of a served batch, pandas'
    per-column conversions cost a millisecond where the model took half that; lists take
    microseconds, and the DataFrame alone cost more than the model's arithmetic. Numbers
    that NumPy cannot read, and dates that are not plain ISO 8601 strings, go through
    `coerce_features`' own conversions. `TabularModel.predict_features` takes either form.
    """
    missing = [name for name in schema.features if any(name not in row for row in rows)]
    if missing:
        raise DataError(f"missing column(s): {_list_names(missing)}")
    out: dict[str, np.ndarray] = {}
    for info in schema.columns:
        if info.kind == "excluded":
            continue
        values = [row[info.name] for row in rows]
        if info.kind == "numeric":
            out[info.name] = _numbers(values)
        elif info.kind == "datetime":
            out[info.name] = _dates(values)
        else:
            text = np.empty(len(values), dtype=object)  # filled, not converted: a list could nest
            text[:] = [_category_text(v) for v in values]
            out[info.name] = text
    return out


def columns_frame(columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """A DataFrame of `feature_columns`' arrays, text kept as dtype object as `coerce_features`
    makes it (pandas 3 would infer its own str dtype from an object array)."""
    return pd.DataFrame({name: pd.Series(v, dtype=object) if v.dtype == object else v for name, v in columns.items()})


def column_values(column: pd.Series | np.ndarray) -> np.ndarray:
    """A column of a `FeatureTable` as an array, whichever form the table has."""
    return column.to_numpy() if isinstance(column, pd.Series) else column


def _numbers(values: list[Any]) -> np.ndarray:
    if all(type(v) in (int, float) or v is None for v in values):  # JSON numbers and nulls
        try:
            numbers = np.array(values, dtype="float64")  # None becomes NaN
        except OverflowError:
            pass
        else:
            numbers[np.isinf(numbers)] = np.nan  # JSON's Infinity is missing, as in tables
            return numbers
    return _to_numbers(pd.Series(values, dtype=object)).to_numpy()


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?Z?)?")


def _dates(values: list[Any]) -> np.ndarray:
    # plain ISO 8601 (UTC), in the years NumPy's nanoseconds hold: pandas makes the others missing
    if all(v is None or (isinstance(v, str) and _ISO_DATE.fullmatch(v) and "1678" <= v[:4] <= "2261") for v in values):
        try:
            return np.array([v if v is None else v.replace(" ", "T").removesuffix("Z") for v in values], "M8[ns]")
        except ValueError:  # a month 13, say: pandas makes it missing
            pass
    return _to_datetime(pd.Series(values)).to_numpy()


def _infer_column(column: pd.Series) -> ColumnInfo:
    name = str(column.name)
    values = column.dropna()
    unusable = _unusable_values(values)
    if unusable:
        return ColumnInfo(name, "excluded", f"excluded: {unusable} are not modelled")
    if _holds_numbers(values):
        values = _to_numbers(values)
    values = _finite(values)  # coerce_features makes infinities missing
    n = len(values)
    if n == 0:
        return ColumnInfo(name, "excluded", "excluded: every value is missing")
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        # no count of distinct values unless needed: hashing a million floats costs 0.1 s a column
        numbers = values.astype(float)
        if numbers.min() == numbers.max():
            return ColumnInfo(name, "excluded", "excluded: constant")
        integral = bool(np.all(np.mod(numbers[np.isfinite(numbers)], 1) == 0))
        if integral and n >= 20 and values.nunique() == n and (_ID_NAME.search(name) or _is_sequence(numbers)):
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
    if n_unique == 2 and set(strings.str.lower().unique()) <= _TRUE_FALSE:
        return ColumnInfo(name, "boolean", cardinality=2)
    if _looks_like_dates(strings):
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
            f"{where} has more than one column named {_list_names(duplicates)}; rename them so each name is unique"
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
    unusable = _unusable_values(values)
    if unusable:
        raise DataError(f"target column {column.name!r} holds {unusable}; choose a column of labels or numbers")
    return _to_numbers(values) if _holds_numbers(values) else values


def _unusable_values(values: pd.Series) -> str | None:
    """What the values are when no model can use them: nested values (lists, structs,
    maps), bytes, complex numbers or times of day; None for usable values."""
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype):
        arrow_type = dtype.pyarrow_dtype
        if pa.types.is_nested(arrow_type):
            return f"nested values ({str(arrow_type).split('<', 1)[0]})"
        if (
            pa.types.is_binary(arrow_type)
            or pa.types.is_large_binary(arrow_type)
            or pa.types.is_fixed_size_binary(arrow_type)
        ):
            return "binary values"
        if pa.types.is_time(arrow_type):
            return "times of day"
        return None
    if pd.api.types.is_complex_dtype(dtype):
        return "complex numbers"
    if not pd.api.types.is_object_dtype(dtype) or len(values) == 0:
        return None
    form = pd.api.types.infer_dtype(values, skipna=True)
    if form == "bytes":
        return "binary values"
    if form == "complex":
        return "complex numbers"
    if form == "time":
        return "times of day"
    if form.startswith("mixed"):  # perhaps containers, which pandas cannot hash or compare
        nested = {
            "list" if issubclass(t, np.ndarray) else t.__name__  # Parquet's lists arrive as arrays
            for t in _value_types(values)
            if issubclass(t, (tuple, frozenset)) or not issubclass(t, Hashable)
        }
        if nested:
            return f"nested values ({', '.join(sorted(nested))})"
    return None


def _holds_numbers(values: pd.Series) -> bool:
    """Whether an object column's values, missing ones aside, are all numbers: decimals,
    as Parquet's decimal columns arrive, or integers beyond int64."""
    if not pd.api.types.is_object_dtype(values.dtype) or len(values) == 0:
        return False
    form = pd.api.types.infer_dtype(values, skipna=True)
    if form in _NUMBER_FORMS:
        return True
    if form in ("mixed", "mixed-integer"):  # decimals with ints or floats, say
        types = _value_types(values)
        return all(issubclass(t, _NUMBER_TYPES) and not issubclass(t, (bool, np.bool_)) for t in types)
    return False


_MISSING_TYPES = {type(None), type(pd.NA), type(pd.NaT)}


def _value_types(values: Iterable[Any]) -> set[type]:
    """The types of the values, missing values (None, NA, NaT) left out."""
    return {type(v) for v in values} - _MISSING_TYPES


def _finite(values: pd.Series) -> pd.Series:
    """`values` without infinities (and missing values); values other than floats as they are."""
    if not pd.api.types.is_float_dtype(values.dtype):
        return values
    finite = np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))
    return values if finite.all() else values[finite]


def _has_missing(column: pd.Series, kind: ColumnKind) -> bool:
    """Whether the coerced column has missing values: infinities in numbers are missing too."""
    if kind == "numeric":
        return not bool(np.isfinite(_to_numbers(column).to_numpy()).all())
    return bool(column.isna().any())


def _is_sequence(numbers: pd.Series) -> bool:
    ordered = np.sort(numbers.to_numpy())
    return bool(np.all(np.diff(ordered) == 1))


def _looks_like_dates(strings: pd.Series) -> bool:
    sample = strings.head(200)
    if not sample.str.contains(r"\d{1,4}[-/.:]\d{1,2}", regex=True).mean() > 0.9:
        return False
    parsed = _to_datetime(sample)
    return bool(parsed.notna().mean() > 0.95)


def _to_numbers(column: pd.Series) -> pd.Series:
    """float64 numbers; what is no number, or no finite float (inf, 10**400), is missing."""
    if isinstance(column.dtype, pd.ArrowDtype):
        # pandas' to_numeric mislays missing values of Arrow decimals: NumPy's types do not
        column = column.astype("float64") if pd.api.types.is_numeric_dtype(column) else column.astype(object)
    try:
        numbers = pd.to_numeric(column, errors="coerce").astype("float64")
    except OverflowError:  # an integer beyond float's range: missing, like text that is no number
        fits = column.map(lambda v: not isinstance(v, int) or abs(v) < 2**1024)
        numbers = pd.to_numeric(column.where(fits), errors="coerce").astype("float64")
    finite = np.isfinite(numbers.to_numpy())
    return numbers if finite.all() else numbers.where(finite)


def _to_datetime(column: pd.Series) -> pd.Series:
    if isinstance(column.dtype, pd.ArrowDtype):  # Arrow's dates and times lack NumPy's conversions
        column = column.astype(object)
    if pd.api.types.is_datetime64_any_dtype(column):
        values = column
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = pd.to_datetime(column, errors="coerce", format="mixed", utc=True)
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    # pandas 3 keeps dates outside nanoseconds' years (1677-2262) in coarser units; as
    # nanoseconds they would overflow, so they become missing, as unparseable dates do
    values = values.where(values.between(pd.Timestamp.min, pd.Timestamp.max))
    return values.astype("datetime64[ns]")


def _category_text(value: Any) -> Any:
    if (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, (float, np.floating)) and np.isnan(value))
    ):
        return np.nan
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    text = str(value)
    return text.lower() if text.lower() in _TRUE_FALSE else text


def _to_category_strings(column: pd.Series) -> pd.Series:
    if column.dtype != object or pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        # each distinct value converted once: a million values of a dozen categories took
        # 1.4 s a column value by value. Not for mixed objects, where 1 and True hash alike
        # but read differently ("1", "true").
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        texts = np.empty(len(uniques) + 1, dtype=object)
        texts[:-1] = [_category_text(v) for v in uniques]
        texts[-1] = np.nan  # code -1: a missing value
        return pd.Series(texts[codes], index=column.index, dtype=object)
    return column.astype(object).map(_category_text).astype(object)


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numbers before strings so mixed labels still sort deterministically.
    return (0, value) if isinstance(value, (int, float, np.number)) else (1, str(value))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _list_names(names: Any, limit: int = 20) -> str:
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")
