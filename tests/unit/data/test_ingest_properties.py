"""Property-based checks: awkward tables, however they arrive, end in a schema and features
or in one `AutoMLError`, never in another exception.

Seeded (`derandomize=True`), so a run is repeatable; tables are small so the file runs in
seconds on two CPUs.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from automl.data import coerce_features, infer_schema, normalize_frame, read_table
from automl.data.coercion import columns_frame, feature_columns
from automl.data.schema import TableSchema
from automl.errors import AutoMLError, DataError

SEEDED = settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TASKS = ("auto", "binary", "multiclass", "regression")

_AWKWARD_TEXT = ["", " ", "  a ", "true", "No", "T", "2021-06-22", "22/06/2021 10:30", "1.5", "-0", "1e400"]
_AWKWARD_TEXT += ["nan", "NULL", "inf", "-Infinity", "café", "日本", "😀", "a,b", 'say "hi"', "line\nbreak"]
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6) | st.sampled_from(_AWKWARD_TEXT)
_DATE_TEXT = ["2021-06-22", "2021-02-30", "0001-01-01", "9999-12-31", "2021-06-22T10:30:00+05:00", "2021-06-22 10:30Z"]
_DATE_TEXT += ["22/06/2021", "06/22/2021", "1.5.2021", "10:30", "2021-13-01", "99999-01-01", "2021-06", "20210622"]
_ZONES = st.sampled_from(
    [dt.timezone.utc, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-dt.timedelta(hours=8))]
)

# each kind of column: its values (missing values are added to every kind)
VALUES = {
    "int": st.integers(-3, 3) | st.integers(-(2**63), 2**63 - 1),
    "float": st.sampled_from([0.0, 0.5, 1.0, 2.25]) | st.floats(allow_nan=True, allow_infinity=True),
    "huge_int": st.integers(2**63, 10**400) | st.integers(-(10**400), -(2**63) - 1),
    "text": _TEXT,
    "bool": st.booleans(),
    "date": st.dates() | st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1)),
    "datetime": st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)),
    "zoned_datetime": st.datetimes(dt.datetime(1678, 1, 1), dt.datetime(2261, 12, 31), timezones=_ZONES),
    "date_text": st.sampled_from(_DATE_TEXT) | st.dates().map(str),
    "decimal": st.decimals(-(10**6), 10**6, places=2, allow_nan=False, allow_infinity=False),
    "list": st.lists(st.integers(-2, 2), max_size=3),
}
VALUES["mixed"] = st.one_of(*(VALUES[k] for k in ("int", "float", "huge_int", "text", "bool", "date", "decimal")))

NAMES = (
    st.sampled_from(["y", "x", "id", "a", "1", "", " ", "é", "y"])  # few names: duplicates come often
    | st.text(max_size=4)
    | st.integers(-2, 12)
    | st.none()
    | st.tuples(st.integers(0, 2), st.text(max_size=2))
)


@st.composite
def columns(draw: st.DrawFn, n_rows: int) -> tuple[str, list[Any]]:
    kind = draw(st.sampled_from(sorted(VALUES)))
    value = st.one_of(st.none(), VALUES[kind], VALUES[kind], VALUES[kind])
    return kind, draw(st.lists(value, min_size=n_rows, max_size=n_rows))


# how a DataFrame from Python holds a column: pandas' choice, objects, Arrow, a category
STORAGES = ("pandas", "pandas", "object", "arrow", "category")


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[Any], list[list[Any]], Any, list[str]]:
    """Column names, each column's values, the target's name (usually one of the names),
    and each column's storage in a DataFrame."""
    n_rows = draw(st.integers(0, 30))
    n_columns = draw(st.integers(0, 6))
    unique = draw(st.integers(0, 3)) > 0  # duplicate names are refused early: mostly unique ones
    names = draw(st.lists(NAMES, min_size=n_columns, max_size=n_columns, unique_by=str if unique else None))
    values = [draw(columns(n_rows))[1] for _ in range(n_columns)]
    target = draw(st.sampled_from(names)) if names and draw(st.integers(0, 9)) else "not a column"
    storages = draw(st.lists(st.sampled_from(STORAGES), min_size=n_columns, max_size=n_columns))
    return names, values, target, storages


def as_frame(names: list[Any], values: list[list[Any]], storages: list[str] | None = None) -> pd.DataFrame:
    storages = storages or ["pandas"] * len(values)
    frame = pd.DataFrame({i: as_series(column, storages[i]) for i, column in enumerate(values)})
    frame.columns = pd.Index(names, dtype=object, tupleize_cols=False)
    return frame


def as_series(values: list[Any], storage: str) -> pd.Series:
    # where a storage cannot hold the values (lists as a category, mixed types in Arrow), pandas' choice
    if storage == "arrow":
        try:
            return pa.array(values).to_pandas(types_mapper=pd.ArrowDtype)
        except (pa.ArrowException, OverflowError):
            pass
    if storage == "category":
        try:
            return pd.Series(values).astype("category")
        except (OverflowError, TypeError, ValueError):
            pass
    try:
        return pd.Series(values, dtype=object if storage == "object" else None)
    except (OverflowError, TypeError, ValueError):  # huge ints, out of range dates
        return pd.Series(values, dtype=object)


def check_through_schema(frame: pd.DataFrame, target: Any) -> None:
    """infer_schema (each task) -> coerce_features -> feature_columns; only AutoMLError may escape."""
    for task in TASKS:
        try:
            schema = infer_schema(frame, str(target), task)
        except AutoMLError:
            event(f"{task}: refused")
            continue
        event(f"{task}: a schema of {len(schema.features)} feature(s)")
        assert schema.features and schema.task in ("binary", "multiclass", "regression")
        features = coerce_features(frame, schema)
        assert list(features.columns) == schema.features
        assert len(features) == len(frame)
        for info in schema.columns:
            if info.kind != "excluded":
                check_column(features[info.name].to_numpy(), info.kind, len(frame))
            if info.kind == "numeric":  # served rows' nulls are refused where training had none
                assert schema.allows_missing[info.name] == bool(features[info.name].isna().any())
        records = frame.to_dict("records")
        served = json.loads(json.dumps(records, default=str))  # a request's JSON: dates as text, NaN and Infinity
        for rows in (records, served):
            arrays = feature_columns(rows, schema)
            assert list(arrays) == schema.features
            for name, array in arrays.items():
                check_column(array, _kind(schema, name), len(frame))
        if len(frame):  # served rows are coerced as the table is
            pd.testing.assert_frame_equal(
                columns_frame(feature_columns(records, schema)).set_axis(features.index, axis=0), features
            )


def check_column(values: np.ndarray, kind: str, n_rows: int) -> None:
    assert len(values) == n_rows
    if kind == "numeric":
        assert values.dtype == np.float64 and not np.isinf(values).any()
    elif kind == "datetime":
        assert values.dtype == "datetime64[ns]"
    else:
        assert values.dtype == object
        assert all(isinstance(v, str) or (isinstance(v, float) and math.isnan(v)) for v in values)


def _kind(schema: TableSchema, name: str) -> str:
    return next(c.kind for c in schema.columns if c.name == name)


def names_clash(names: list[Any]) -> bool:
    return len({str(n) for n in names}) < len(names)


@SEEDED
@given(tables())
def test_a_dataframe_from_python(table):
    names, values, target, storages = table
    frame = as_frame(names, values, storages)
    original = frame.copy()
    try:
        normal = normalize_frame(frame)
    except DataError:
        assert names_clash(names)
        return
    assert not names_clash(names)
    assert list(normal.columns) == [str(n) for n in names] and len(normal) == len(frame)
    pd.testing.assert_frame_equal(frame, original)  # the caller's frame is left as it was
    check_through_schema(normal, target)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tables")


@SEEDED
@given(table=tables())
def test_a_csv_file(table, folder):
    names, values, target, _ = table
    path = folder / "table.csv"
    as_frame(names, values).to_csv(path, index=False)
    check_file(path, target)


@SEEDED
@given(table=tables())
def test_a_parquet_file(table, folder):
    names, values, target, _ = table
    path = folder / "table.parquet"
    written = {}  # column number: values as Arrow writes them
    for i, column in enumerate(values):
        try:
            written[i] = pa.array(column)
        except (pa.ArrowException, OverflowError):
            pass  # values Parquet cannot hold in one column (mixed types, integers beyond int64)
    event(f"{len(written)} of {len(values)} column(s) written")
    pq.write_table(pa.table(list(written.values()), names=[str(names[i]) for i in written]), path)
    check_file(path, target)


def check_file(path: Path, target: Any) -> None:
    try:
        frame = read_table(path)
    except DataError as exc:
        assert "\n" not in str(exc)  # the CLI prints it as one line
        return
    assert frame.shape[0] > 0 and frame.shape[1] > 0
    assert all(type(n) is str for n in frame.columns) and frame.columns.is_unique
    check_through_schema(frame, target)


# Characters that Latin-1 and cp1252 write alike (cp1252 puts others in 0x80-0x9f)
_C1_CONTROLS = "".join(chr(c) for c in range(0x7F, 0xA0))
SHARED_TEXT = st.text(
    st.characters(codec="latin-1", min_codepoint=32, exclude_characters=f'",{_C1_CONTROLS}'), max_size=8
)


@SEEDED
@given(
    values=st.lists(SHARED_TEXT | st.text(st.sampled_from("€šœŸ‰ab"), max_size=4), min_size=1, max_size=10),
    header=st.sampled_from(["naïve", "name"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252"]),
)
def test_text_in_a_common_encoding_is_read_back(values, header, encoding, folder):
    if encoding == "latin-1":  # no euro sign in Latin-1
        values = [v for v in values if all(c <= "\xff" for c in v)]
    body = "".join(f'"v{v}",{i % 2}\n' for i, v in enumerate(values))  # "v": text, never a number or null
    text = f"{header},y\nvalue,1\n{body}"
    data = text.encode(encoding)
    try:  # bytes that are UTF-8 are read as UTF-8, whatever wrote them
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    path = folder / "encoded.csv"
    path.write_bytes(data)
    frame = read_table(path)
    rows = [line.split(",")[0].strip('"') for line in text.split("\n")[:-1]]
    assert frame.columns.tolist() == [rows[0], "y"]
    assert frame.iloc[:, 0].tolist() == rows[1:]
