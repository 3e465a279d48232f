from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from automl.data import coerce_features, infer_schema, infer_task
from automl.data.coercion import columns_frame, feature_columns
from automl.data.schema import ColumnInfo, TableSchema
from automl.errors import DataError


def kinds(schema):
    return {c.name: c.kind for c in schema.columns}


def test_column_kinds_are_inferred(binary_table):
    schema = infer_schema(binary_table, "target")
    assert kinds(schema) == {
        "row_id": "excluded",
        "x1": "numeric",
        "x2": "numeric",
        "colour": "categorical",
        "city": "categorical",
        "flag": "boolean",
        "when": "datetime",
    }
    assert schema.task == "binary"
    assert schema.classes == ["no", "yes"]
    assert "row_id" not in schema.features
    assert any("row_id" in note and "ID" in note for note in schema.notes)
    assert schema.allows_missing["x2"] and not schema.allows_missing["x1"]


def test_free_text_and_constant_columns_are_excluded():
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    frame = pd.DataFrame(
        {
            "text": [" ".join(rng.choice(words, 8)) + f" {i}" for i in range(50)],
            "same": ["k"] * 50,
            "x": rng.normal(size=50),
            "y": rng.integers(0, 2, 50),
        }
    )
    schema = infer_schema(frame, "y")
    assert kinds(schema) == {"text": "excluded", "same": "excluded", "x": "numeric"}


@pytest.mark.parametrize(
    "values, expected",
    [
        (["a", "b"] * 10, "binary"),
        ([True, False] * 10, "binary"),
        (["a", "b", "c"] * 10, "multiclass"),
        ([0, 1, 2, 3] * 10, "multiclass"),
        (list(range(40)), "regression"),
        ([0.5, 1.25, 2.0] * 10, "regression"),
        ([0, 1] * 10, "binary"),
    ],
    ids=["strings-2", "bools", "strings-3", "few-ints", "many-ints", "floats", "zero-one"],
)
def test_task_inference(values, expected):
    assert infer_task(pd.Series(values, name="y")) == expected


def test_unknown_target_names_the_columns(binary_table):
    with pytest.raises(DataError, match=r"target column 'nope' not found; columns are: 'row_id'"):
        infer_schema(binary_table, "nope")


def test_single_class_target_is_refused(binary_table):
    frame = binary_table.assign(target="yes")
    with pytest.raises(DataError, match="1 distinct value"):
        infer_schema(frame, "target")


def test_task_that_does_not_fit_the_target(binary_table, regression_table):
    with pytest.raises(DataError, match="2 classes"):
        infer_schema(regression_table, "target", task="binary")
    with pytest.raises(DataError, match="numeric target"):
        infer_schema(binary_table, "target", task="regression")


def test_coerce_handles_missing_values_unseen_categories_and_types(binary_table):
    schema = infer_schema(binary_table, "target")
    new = pd.DataFrame(
        {
            "x1": ["1.5", None],  # strings that are numbers, and a missing value
            "x2": [3, 4],
            "colour": ["purple", None],  # never seen in training
            "city": ["c1", "c2"],
            "flag": ["True", 0],
            "when": ["2022-05-01", "not a date"],
            "extra": [1, 2],
        }
    )
    X = coerce_features(new, schema)
    assert list(X.columns) == schema.features
    assert X["x1"].tolist()[0] == 1.5 and np.isnan(X["x1"].tolist()[1])
    assert X["flag"].tolist() == ["true", "0"]
    assert X["when"].isna().tolist() == [False, True]


_RECORD_SCHEMA = TableSchema(
    columns=[
        ColumnInfo("id", "excluded"),
        ColumnInfo("n", "numeric"),
        ColumnInfo("c", "categorical"),
        ColumnInfo("b", "boolean"),
        ColumnInfo("d", "datetime"),
    ],
    target="y",
    task="binary",
)


@pytest.mark.parametrize(
    ("n", "c", "b", "d"),
    [
        # what a served request usually holds: JSON numbers, strings, booleans, ISO dates
        ([1, 2.5, None], ["a", "b", None], [True, False, None], ["2021-06-22", "2020-01-31", None]),
        ([0, -3, 7.0], [1, 2.0, "x"], ["TRUE", "no", 0], ["2021-06-22T10:30Z", "2021-06-22 10:30:15.25", "2261-12-31"]),
        # what takes the pandas path: text numbers, booleans, huge integers, other dates
        (["1.5", "abc", True], [float("nan"), 3.5, "Yes"], [1, 1.0, "f"], ["2021-02-30", "1500-01-01", "03/04/2021"]),
        ([10**400, 1, None], ["x", "y", "z"], [False, None, None], ["2021-06-22T10:30:00Z", 1624320000000, "nope"]),
        ([float("nan"), float("inf"), 2], [None, None, None], [None, None, None], [None, None, None]),
    ],
)
def test_records_are_coerced_as_tables_are(n, c, b, d):
    rows = [{"id": i, "n": n[i], "c": c[i], "b": b[i], "d": d[i]} for i in range(3)]
    expected = coerce_features(pd.DataFrame.from_records(rows), _RECORD_SCHEMA)
    for subset in (rows, rows[:1]):  # a batch, and a lone request
        pd.testing.assert_frame_equal(
            columns_frame(feature_columns(subset, _RECORD_SCHEMA)), expected.head(len(subset)), check_index_type=False
        )


def test_values_beyond_what_the_types_hold_become_missing():
    # both raised before: pandas 3 parses 1500-01-01 in seconds, and 10**400 is no float
    rows = pd.DataFrame({"id": [1, 2], "n": [10**400, 1], "c": ["a", "b"], "b": [True, False],
                         "d": ["1500-01-01", "2021-06-22"]})  # fmt: skip
    X = coerce_features(rows, _RECORD_SCHEMA)
    assert X["n"].isna().tolist() == [True, False] and X["d"].isna().tolist() == [True, False]
    assert X["d"].dtype == "datetime64[ns]" and X["d"].iloc[1] == pd.Timestamp("2021-06-22")


def test_records_missing_a_column_are_refused():
    with pytest.raises(DataError, match=r"missing column\(s\): 'd'"):
        feature_columns([{"n": 1, "c": "a", "b": True}], _RECORD_SCHEMA)


def test_missing_feature_column_is_named(binary_table):
    schema = infer_schema(binary_table, "target")
    with pytest.raises(DataError, match=r"missing column\(s\): 'colour'"):
        coerce_features(binary_table.drop(columns=["colour"]), schema)


def test_schema_survives_a_dict_round_trip(multiclass_table):
    schema = infer_schema(multiclass_table, "target")
    again = type(schema).from_dict(schema.to_dict())
    assert again == schema


def test_empty_csv_fields_are_missing_values(tmp_path, binary_table):
    from automl.data import read_table

    path = tmp_path / "t.csv"
    binary_table.to_csv(path, index=False)
    again = read_table(path)
    assert again["colour"].isna().sum() == binary_table["colour"].isna().sum() > 0
    schema = infer_schema(binary_table, "target")
    pd.testing.assert_frame_equal(coerce_features(again, schema), coerce_features(binary_table, schema))


def test_duplicate_columns_are_refused_by_name():
    frame = pd.DataFrame([[1, 2, 0], [3, 4, 1], [5, 7, 0]], columns=["a", "a", "y"])
    with pytest.raises(DataError, match=r"more than one column named 'a'"):
        infer_schema(frame, "y")
    schema = infer_schema(frame.set_axis(["a", "b", "y"], axis=1), "y")
    with pytest.raises(DataError, match=r"more than one column named 'a'"):
        coerce_features(frame, schema)


def test_non_text_column_names_are_found_as_text():
    frame = pd.DataFrame({1: [1.0, 2.0, 3.5], None: ["a", "b", "a"], "y": [0, 1, 0]})
    schema = infer_schema(frame, "y")
    assert kinds(schema) == {"1": "numeric", "None": "categorical"}
    assert coerce_features(frame, schema).columns.tolist() == ["1", "None"]


@pytest.mark.parametrize(
    ("values", "note"),
    [
        ([[1, 2], [3], None, []], "nested values (list)"),
        ([np.array([1]), np.array([2, 3]), None, np.array([])], "nested values (list)"),
        ([{"a": 1}, {"a": 2}, None, {}], "nested values (dict)"),
        ([{1}, {2}, None, set()], "nested values (set)"),
        ([(1, 2), (3, 4), None, (5, 6)], "nested values (tuple)"),
        ([1, "a", [2], None], "nested values (list)"),  # mixed with plain values
        (pd.Series([[1], [2], None, [3]], dtype=pd.ArrowDtype(pa.list_(pa.int64()))), "nested values (list)"),
        ([b"a", b"b", None, b"c"], "binary values"),
        (np.array([1 + 2j, 3, 4, 5j]), "complex numbers"),
    ],
    ids=["lists", "arrays", "dicts", "sets", "tuples", "mixed", "arrow-lists", "bytes", "complex"],
)
def test_columns_of_values_no_model_uses_are_excluded(values, note):
    odd = values if isinstance(values, (pd.Series, np.ndarray)) else pd.Series(values, dtype=object)
    frame = pd.DataFrame({"odd": odd, "x": [1.0, 2.0, 3.0, 4.5], "y": [0, 1, 0, 1]})
    schema = infer_schema(frame, "y")
    assert kinds(schema) == {"odd": "excluded", "x": "numeric"}
    assert schema.notes == [f"odd: excluded: {note} are not modelled"]
    assert coerce_features(frame, schema).columns.tolist() == ["x"]
    assert list(feature_columns(frame.to_dict("records"), schema)) == ["x"]
    with pytest.raises(DataError, match=rf"target column 'odd' holds {re.escape(note)}; choose a column"):
        infer_schema(frame, "odd")


def test_infinities_are_missing_numbers():
    frame = pd.DataFrame({"x": [1.0, np.inf, -np.inf, 2.0, 3.0], "z": [1.0, 2.0, 3.0, 4.0, 5.0], "y": [0, 1, 0, 1, 0]})
    schema = infer_schema(frame, "y")
    assert schema.allows_missing == {"x": True, "z": False}  # served nulls are fine where training had inf
    assert coerce_features(frame, schema)["x"].isna().tolist() == [False, True, True, False, False]
    served = feature_columns([{"x": float("inf"), "z": 1}, {"x": float("-inf"), "z": "Infinity"}], schema)
    assert np.isnan(served["x"]).all() and np.isnan(served["z"][1])


@pytest.mark.parametrize(
    ("values", "kind", "note"),
    [
        ([np.inf, 1.0, 2.0, 3.0], "numeric", ""),
        ([np.inf, 1.0, 1.0, np.nan], "excluded", "excluded: constant"),
        ([np.inf, -np.inf, np.nan, np.inf], "excluded", "excluded: every value is missing"),
    ],
    ids=["numbers", "constant-but-inf", "only-inf"],
)
def test_infinities_do_not_count_as_values_of_a_column(values, kind, note):
    from automl.data.schema import _infer_column

    assert _infer_column(pd.Series(values, name="a")) == ColumnInfo("a", kind, note)


def test_infinities_in_a_target_count_as_missing_or_are_refused():
    assert infer_task(pd.Series([0.0, 1.0, np.inf] * 5, name="y")) == "binary"
    assert infer_task(pd.Series([0.5, 1.25, np.inf, 2.0] * 5, name="y")) == "regression"
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [1.5, np.inf, 2.5, 3.5]})
    with pytest.raises(DataError, match=r"target column 'y' has 1 infinite value\(s\).*leave the target empty"):
        infer_schema(frame, "y")


def test_decimal_objects_are_numbers():
    prices = [Decimal(i) / 4 for i in range(30)]
    frame = pd.DataFrame({"price": prices, "grade": [Decimal(i % 3) for i in range(30)], "x": np.arange(30) % 4})
    assert infer_task(frame["price"]) == "regression"
    assert infer_task(frame["grade"]) == "multiclass"
    schema = infer_schema(frame, "x")
    assert kinds(schema) == {"price": "numeric", "grade": "numeric"}
    X = coerce_features(frame, schema)
    assert X["price"].dtype == np.float64 and X["price"].iloc[1] == 0.25
    assert feature_columns([{"price": Decimal("2.5"), "grade": None}], schema)["price"].tolist() == [2.5]


def test_arrow_backed_columns_are_coerced():
    prices = [Decimal("1.5"), None, Decimal("2.25"), Decimal("3")]
    dates = [dt.date(2021, 1, 1), dt.date(2021, 2, 1), None, dt.date(1, 1, 1)]
    frame = pd.DataFrame(
        {
            "price": pd.Series(prices, dtype=pd.ArrowDtype(pa.decimal128(5, 2))),
            "when": pd.Series(dates, dtype=pd.ArrowDtype(pa.date32())),
            "y": [0, 1, 0, 1],
        }
    )
    schema = infer_schema(frame, "y")
    assert kinds(schema) == {"price": "numeric", "when": "datetime"}
    X = coerce_features(frame, schema)
    assert X["price"].tolist()[0] == 1.5 and np.isnan(X["price"].tolist()[1])
    assert X["when"].dtype == "datetime64[ns]" and X["when"].isna().tolist() == [False, False, True, True]


def test_missing_times_are_missing_categories():
    frame = pd.DataFrame({"wait": pd.to_timedelta([1, 2, None, 3], unit="s"), "x": [1.0, 2, 3, 4], "y": [0, 1, 0, 1]})
    X = coerce_features(frame, infer_schema(frame, "y"))
    assert X["wait"].isna().tolist() == [False, False, True, False]  # not a category "NaT"
