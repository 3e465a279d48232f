from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.data import coerce_features, infer_schema, infer_task
from automl.data.schema import ColumnInfo, TableSchema, columns_frame, feature_columns
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
