"""Converting a table's raw values to the training types its schema records.

Training tables, prediction files and served HTTP rows all pass through here, so a model
sees the same numbers, dates and category strings at prediction time as it was trained on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from automl.data.schema import ColumnInfo, TableSchema, list_names, text_column_names
from automl.data.values import TRUE_FALSE, to_datetime, to_numbers
from automl.errors import DataError

# Coerced features: a frame (`coerce_features`) or its columns' arrays (`feature_columns`)
FeatureTable = pd.DataFrame | Mapping[str, np.ndarray]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?Z?)?")


def coerce_features(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Select the schema's feature columns and convert them to the training types.

    Unparseable numbers and dates, and infinities, become missing values (handled by the
    pipeline); a missing column, or two columns of one name, is an error naming it.
    """
    frame = text_column_names(frame)
    out = {}
    for info, column in _feature_columns_of(frame, schema):
        if info.kind == "numeric":
            out[info.name] = to_numbers(column)
        elif info.kind == "datetime":
            out[info.name] = to_datetime(column)
        else:  # categorical and boolean: compared as strings so 1, "1" and True agree
            out[info.name] = _to_category_strings(column)
    return pd.DataFrame(out, index=frame.index)


def feature_arrays(frame: pd.DataFrame, schema: TableSchema) -> dict[str, np.ndarray]:
    """`coerce_features` as one NumPy array per column (the form `feature_columns` gives),
    for prediction: a model predicts from either form alike, and numbers already held as
    NumPy or Arrow numbers skip pandas' parsing, which costs a wide table's one row more
    than the model does."""
    out: dict[str, np.ndarray] = {}
    for info, column in _feature_columns_of(text_column_names(frame), schema):
        if info.kind == "numeric" and _held_as_numbers(column):
            values = column.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
            values[~np.isfinite(values)] = np.nan  # as `to_numbers`: no finite float is missing
            out[info.name] = values
        elif info.kind == "numeric":
            out[info.name] = to_numbers(column).to_numpy()
        elif info.kind == "datetime":
            out[info.name] = to_datetime(column).to_numpy()
        else:
            out[info.name] = _to_category_strings(column).to_numpy()
    return out


def _feature_columns_of(frame: pd.DataFrame, schema: TableSchema) -> Iterator[tuple[ColumnInfo, pd.Series]]:
    """The schema's feature columns of `frame`, each with its column info.

    Raises:
        DataError: a feature column is missing (all of them are named).
    """
    missing = [name for name in schema.features if name not in frame.columns]
    if missing:
        raise DataError(f"missing column(s): {list_names(missing)}")
    for info in schema.columns:
        if info.kind != "excluded":
            yield info, _as_trained(frame[info.name], info.name, schema)


def _as_trained(column: pd.Series, name: str, schema: TableSchema) -> pd.Series:
    """A column as the training table held it after the job's data-quality actions: a
    hashed column's values as their salted hashes, a clipped column within its bounds."""
    if name in schema.hashed:
        from automl.data.privacy import hash_column

        return hash_column(column, schema.hashed[name])
    if name in schema.clipped:
        low, high = schema.clipped[name]
        return to_numbers(column).clip(low, high)
    return column


def _held_as_numbers(column: pd.Series) -> bool:
    """NumPy's or Arrow's integers, floats or booleans (not decimals, text or objects)."""
    dtype = column.dtype
    if isinstance(dtype, pd.ArrowDtype):
        return dtype.kind in "iufb"
    return isinstance(dtype, np.dtype) and dtype.kind in "iufb"


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
        raise DataError(f"missing column(s): {list_names(missing)}")
    out: dict[str, np.ndarray] = {}
    for info in schema.columns:
        if info.kind == "excluded":
            continue
        values = [row[info.name] for row in rows]
        if info.name in schema.hashed or info.name in schema.clipped:
            values = _as_trained(pd.Series(values, dtype=object), info.name, schema).tolist()
        if info.kind == "numeric":
            out[info.name] = _numbers(values)
        elif info.kind == "datetime":
            out[info.name] = _dates(values)
        else:
            text = np.empty(len(values), dtype=object)  # filled, not converted: a list could nest
            text[:] = [_category_text(v) for v in values]
            out[info.name] = text
    return out


def logged_rows(rows: list[dict[str, Any]], schema: TableSchema) -> list[dict[str, Any]]:
    """Served rows as a request log may keep them: the model's feature columns only (no
    excluded column: IDs, dropped or personal data), hashed columns as their hashes."""
    out = [{name: row.get(name) for name in schema.features} for row in rows]
    for name, salt in schema.hashed.items():
        if name in schema.features:
            from automl.data.privacy import hash_column

            hashed = hash_column(pd.Series([row[name] for row in out], dtype=object), salt).tolist()
            for row, value in zip(out, hashed, strict=True):
                row[name] = value
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
    return to_numbers(pd.Series(values, dtype=object)).to_numpy()


def _dates(values: list[Any]) -> np.ndarray:
    # plain ISO 8601 (UTC), in the years NumPy's nanoseconds hold: pandas makes the others missing
    if all(v is None or (isinstance(v, str) and _ISO_DATE.fullmatch(v) and "1678" <= v[:4] <= "2261") for v in values):
        try:
            return np.array([v if v is None else v.replace(" ", "T").removesuffix("Z") for v in values], "M8[ns]")
        except ValueError:  # a month 13, say: pandas makes it missing
            pass
    return to_datetime(pd.Series(values)).to_numpy()


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
    return text.lower() if text.lower() in TRUE_FALSE else text


def _to_category_strings(column: pd.Series) -> pd.Series:
    if column.dtype != object or pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        # each distinct value converted once rather than every value (a column holds few
        # distinct ones). Not for mixed objects, where 1 and True hash alike but read
        # differently ("1", "true").
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        texts = np.empty(len(uniques) + 1, dtype=object)
        texts[:-1] = [_category_text(v) for v in uniques]
        texts[-1] = np.nan  # code -1: a missing value
        return pd.Series(texts[codes], index=column.index, dtype=object)
    return column.astype(object).map(_category_text).astype(object)
