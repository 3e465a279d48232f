from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from automl.data import coerce_features, infer_schema, normalize_frame, read_table
from automl.data.coercion import feature_columns
from automl.errors import DataError


def kinds(schema):
    return {c.name: c.kind for c in schema.columns}


@pytest.fixture
def csv(tmp_path):
    def write(data: bytes | str, name: str = "t.csv"):
        path = tmp_path / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    return write


def test_a_csv_header_that_repeats_a_name_is_refused(csv):
    with pytest.raises(DataError, match=r"t\.csv has more than one column named 'a'; rename them"):
        read_table(csv("a,b,a,y\n1,2,3,0\n4,5,6,1\n"))


def test_a_parquet_file_with_duplicate_names_is_refused(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table([pa.array([1, 2]), pa.array([3, 4]), pa.array([0, 1])], names=["a", "a", "y"]), path)
    with pytest.raises(DataError, match=r"t\.parquet has more than one column named 'a'"):
        read_table(path)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("prénom,y\ncafé,1\nthé,0\n".encode("latin-1"), ["café", "thé"]),  # the header too is Latin-1
        ("name,y\ncafé,1\nthé,0\n".encode("latin-1"), ["café", "thé"]),  # only values
        ("name,y\n5 €,1\n“quoted”,0\n".encode("cp1252"), ["5 €", "“quoted”"]),  # Windows' code page
        (b"name,y\n\x81\xe9,1\nx,0\n", ["\x81é", "x"]),  # no cp1252 (0x81): Latin-1 decodes any bytes
        ("name,y\ncafé,1\nthé,0\n".encode("utf-8-sig"), ["café", "thé"]),  # UTF-8 with a BOM
    ],
    ids=["latin-1-header", "latin-1-values", "cp1252", "any-bytes", "utf-8-bom"],
)
def test_csv_text_that_is_not_utf8_is_decoded(csv, data, expected):
    frame = read_table(csv(data))
    assert frame.columns[1] == "y" and frame.columns[0] in ("name", "prénom")
    assert frame.iloc[:, 0].tolist() == expected


def test_a_file_that_is_no_table_is_one_readable_error(csv):
    with pytest.raises(DataError, match=r"t\.csv: cannot read as csv \(CSV parse error") as caught:
        read_table(csv(b"PK\x03\x04\x00\x00,\xff\xfe\n\x00\x01,\x02,\x03\n"))
    assert "\n" not in str(caught.value)


def test_non_text_column_names_become_text():
    frame = pd.DataFrame({1: [1.0, 2.0, 3.0], (1, "b"): ["a", "b", "a"], None: [1, 0, 1], "y": [0, 1, 0]})
    normal = normalize_frame(frame)
    assert normal.columns.tolist() == ["1", "(1, 'b')", "None", "y"]
    assert frame.columns.tolist() == [1, (1, "b"), None, "y"]  # the caller's frame is left alone
    assert kinds(infer_schema(normal, "y")) == {"1": "numeric", "(1, 'b')": "categorical", "None": "numeric"}


def test_names_that_become_the_same_text_are_refused():
    frame = pd.DataFrame([[1, 2, 0], [3, 4, 1]], columns=pd.Index([1, "1", "y"], dtype=object))
    with pytest.raises(DataError, match=r"the table has column names that read the same as text: 1, '1'"):
        normalize_frame(frame)


def test_duplicate_dataframe_columns_are_refused_by_name():
    frame = pd.DataFrame([[1, 2, 3, 0], [4, 5, 6, 1]], columns=["a", "b", "a", "y"])
    with pytest.raises(DataError, match=r"my frame has more than one column named 'a'; rename them"):
        normalize_frame(frame, where="my frame")


def test_something_else_than_a_dataframe_is_refused():
    with pytest.raises(DataError, match="the table is a list, not a pandas DataFrame"):
        normalize_frame([[1, 2]])  # type: ignore[arg-type]


def test_a_clean_frame_is_returned_as_it_is():
    frame = pd.DataFrame({"x": np.arange(1000.0), "c": ["a", "b"] * 500, "y": [0, 1] * 500})
    assert normalize_frame(frame) is frame  # nothing to convert: no copy


def test_decimal_objects_become_floats_and_other_columns_are_shared():
    frame = pd.DataFrame({"d": [Decimal("1.50"), None, Decimal("1E+400")], "x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    normal = normalize_frame(frame)
    assert normal["d"].dtype == np.float64 and normal["d"].isna().tolist() == [False, True, True]
    assert normal["d"].iloc[0] == 1.5
    assert np.shares_memory(normal["x"].to_numpy(), frame["x"].to_numpy())
    assert frame["d"].dtype == object  # the caller's frame is left alone


@pytest.fixture
def decimal_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    prices = [Decimal(i) / 4 for i in range(30)]
    table = pa.table(
        {
            "price": pa.array(prices, type=pa.decimal128(10, 2)),
            "wide": pa.array([Decimal(i % 7) for i in range(29)] + [None], type=pa.decimal256(40, 0)),
            "grade": pa.array([Decimal(i % 3) for i in range(30)], type=pa.decimal128(5, 0)),
            "y": list(range(30)),
        }
    )
    pq.write_table(table, path)
    return path


def test_parquet_decimals_are_numbers(decimal_parquet):
    frame = read_table(decimal_parquet)
    assert frame.dtypes.to_dict() == {"price": "float64", "wide": "float64", "grade": "float64", "y": "int64"}
    schema = infer_schema(frame, "y")
    assert kinds(schema) == {"price": "numeric", "wide": "numeric", "grade": "numeric"}
    assert coerce_features(frame, schema)["price"].tolist()[:3] == [0.0, 0.25, 0.5]


def test_a_decimal_target_is_a_number(decimal_parquet):
    frame = read_table(decimal_parquet)
    assert infer_schema(frame, "price").task == "regression"
    grade = infer_schema(frame, "grade")  # few integral values: classes, as for other numbers
    assert grade.task == "multiclass" and grade.classes == [0, 1, 2]


@pytest.fixture
def nested_parquet(tmp_path):
    path = tmp_path / "n.parquet"
    table = pa.table(
        {
            "tags": pa.array([[1, 2], [3], None, []]),
            "point": pa.array([{"x": 1, "y": 2}, {"x": 3, "y": 4}, None, {"x": 5, "y": 6}]),
            "attrs": pa.array([[("k", 1)], [("j", 2)], [], None], type=pa.map_(pa.string(), pa.int64())),
            "blob": pa.array([b"\x00\x01", b"\x02", None, b"\x03"]),
            "x": [1.0, 2.5, 3.0, 4.5],
            "y": [0, 1, 0, 1],
        }
    )
    pq.write_table(table, path)
    return path


def test_nested_and_binary_parquet_columns_are_excluded_with_a_note(nested_parquet):
    frame = read_table(nested_parquet)
    schema = infer_schema(frame, "y")
    assert kinds(schema) == {
        "tags": "excluded",
        "point": "excluded",
        "attrs": "excluded",
        "blob": "excluded",
        "x": "numeric",
    }
    notes = dict(note.split(": ", 1) for note in schema.notes)
    assert notes["tags"] == "excluded: nested values (list) are not modelled"
    assert notes["point"] == "excluded: nested values (dict) are not modelled"
    assert notes["blob"] == "excluded: binary values are not modelled"
    assert coerce_features(frame, schema).columns.tolist() == ["x"]
    assert list(feature_columns(frame.to_dict("records"), schema)) == ["x"]


@pytest.mark.parametrize("target", ["tags", "point", "attrs", "blob"])
def test_a_nested_target_is_refused(nested_parquet, target):
    frame = read_table(nested_parquet)
    with pytest.raises(DataError, match=rf"target column '{target}' holds (nested|binary) values"):
        infer_schema(frame, target)


def test_parquet_dates_beyond_nanoseconds_are_dates(tmp_path):
    path = tmp_path / "dates.parquet"
    when = [dt.date(2021, 1, 1) + dt.timedelta(days=i) for i in range(8)] + [dt.date(1, 1, 1), dt.date(9999, 12, 31)]
    pq.write_table(pa.table({"when": when, "y": [0, 1] * 5}), path)
    frame = read_table(path)
    schema = infer_schema(frame, "y")
    assert kinds(schema) == {"when": "datetime"}
    assert coerce_features(frame, schema)["when"].isna().tolist() == [False] * 8 + [True, True]


def test_csv_infinities_are_missing_numbers(csv):
    frame = read_table(csv("x,z,y\n1.5,1,0\ninf,2,1\n-inf,3,0\n2.5,4,1\n"))
    schema = infer_schema(frame, "y")
    assert kinds(schema) == {"x": "numeric", "z": "numeric"}
    assert schema.allows_missing == {"x": True, "z": False}
    assert coerce_features(frame, schema)["x"].isna().tolist() == [False, True, True, False]
