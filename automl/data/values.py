"""What a column's raw values are: their types, whether a model can use them, and reading
them as numbers or dates.

These judge one column at a time, before there is a schema; `schema` infers column kinds
from them and `coercion` converts tables with the same readings, so that inference and
prediction agree on what counts as a number, a date or a missing value.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

#: spellings (lower-cased) of a boolean column's two values
TRUE_FALSE = {"true", "false", "yes", "no", "y", "n", "t", "f"}
# What pandas' `infer_dtype` calls an object column whose values are all numbers
_NUMBER_FORMS = {"decimal", "integer", "floating", "mixed-integer-float"}
_NUMBER_TYPES = (int, float, Decimal, np.integer, np.floating)
_MISSING_TYPES = {type(None), type(pd.NA), type(pd.NaT)}


def unusable_values(values: pd.Series) -> str | None:
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


def holds_numbers(values: pd.Series) -> bool:
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


def _value_types(values: Iterable[Any]) -> set[type]:
    """The types of the values, missing values (None, NA, NaT) left out."""
    return {type(v) for v in values} - _MISSING_TYPES


def finite(values: pd.Series) -> pd.Series:
    """`values` without infinities (and missing values); values other than floats as they are."""
    if not pd.api.types.is_float_dtype(values.dtype):
        return values
    is_finite = np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))
    return values if is_finite.all() else values[is_finite]


def is_sequence(numbers: pd.Series) -> bool:
    """Whether the numbers, sorted, step by exactly one (as row numbers do)."""
    ordered = np.sort(numbers.to_numpy())
    return bool(np.all(np.diff(ordered) == 1))


def looks_like_dates(strings: pd.Series) -> bool:
    """Whether text values read as dates: nearly all of the first 200 parse as one."""
    sample = strings.head(200)
    if not sample.str.contains(r"\d{1,4}[-/.:]\d{1,2}", regex=True).mean() > 0.9:
        return False
    parsed = to_datetime(sample)
    return bool(parsed.notna().mean() > 0.95)


def to_numbers(column: pd.Series) -> pd.Series:
    """float64 numbers; what is no number, or no finite float (inf, 10**400), is missing."""
    if isinstance(column.dtype, pd.ArrowDtype):
        # pandas' to_numeric mislays missing values of Arrow decimals: NumPy's types do not
        column = column.astype("float64") if pd.api.types.is_numeric_dtype(column) else column.astype(object)
    try:
        numbers = pd.to_numeric(column, errors="coerce").astype("float64")
    except OverflowError:  # an integer beyond float's range: missing, like text that is no number
        fits = column.map(lambda v: not isinstance(v, int) or abs(v) < 2**1024)
        numbers = pd.to_numeric(column.where(fits), errors="coerce").astype("float64")
    is_finite = np.isfinite(numbers.to_numpy())
    return numbers if is_finite.all() else numbers.where(is_finite)


def to_datetime(column: pd.Series) -> pd.Series:
    """datetime64[ns] in UTC without a time zone; what is no date, or outside 1677-2262, is missing."""
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
