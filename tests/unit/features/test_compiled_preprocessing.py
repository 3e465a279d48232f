"""The NumPy replay of fitted preprocessing gives what scikit-learn gives, row for row."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import KBinsDiscretizer
from tables import make_mixed_table

from automl.data import coerce_features, infer_schema
from automl.features.compiled import CompiledPipeline, compile_pipeline, compile_preprocessor, fast_pipeline
from automl.features.preprocessing import build_preprocessor


def _training(task: str) -> tuple[pd.DataFrame, np.ndarray, object]:
    frame = make_mixed_table(n_rows=240, seed=3, task=task)
    rng = np.random.default_rng(0)
    stamps = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700 * 24, len(frame)), unit="h")
    frame["when"] = stamps.strftime("%Y-%m-%d %H:%M")
    schema = infer_schema(frame, "target")
    target = frame["target"]
    y = target.to_numpy(dtype=float) if task == "regression" else pd.factorize(target, sort=True)[0]
    return coerce_features(frame, schema), y, schema


def _awkward_rows(schema: object) -> pd.DataFrame:
    """Missing values everywhere, categories never seen in training, dates before 1970."""
    rows = pd.DataFrame(
        {
            "row_id": [1, 2, 3, 4, 5, 6],
            "x1": [0.5, np.nan, -3.0, 1e6, 0.0, np.nan],  # x1 was never missing in training
            "x2": [np.nan, 4.0, np.nan, 0.0, 9.9, 2.0],
            "colour": ["red", None, "purple", "blue", np.nan, "green"],
            "city": ["c1", "c29", "atlantis", None, "c7", "c0"],
            "flag": [True, False, None, True, False, True],
            "when": ["2021-03-04 05:00", None, "1969-12-31 13:00", "1900-03-01 23:59", "not a date", "2022-12-31"],
        }
    )
    return coerce_features(rows, schema)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize(("scale", "high_cardinality"), [(True, "target"), (False, "ordinal")])
def test_replay_equals_scikit_learn(task, scale, high_cardinality):
    X, y, schema = _training(task)
    preprocessor = build_preprocessor(schema, scale=scale, high_cardinality=high_cardinality).fit(X, y)
    replay = compile_preprocessor(preprocessor)
    assert replay is not None
    for rows in (X.head(1), X, _awkward_rows(schema)):
        expected = preprocessor.transform(rows)
        got = replay(rows)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_a_column_with_nothing_to_learn_from_is_dropped_as_scikit_learn_drops_it():
    X, y, schema = _training("binary")
    X = X.copy()
    X["x2"] = np.nan  # every training value missing: the imputer learns no median and drops the column
    preprocessor = build_preprocessor(schema, scale=True).fit(X, y)
    rows = _awkward_rows(schema)
    np.testing.assert_allclose(compile_preprocessor(preprocessor)(rows), preprocessor.transform(rows), equal_nan=True)


def test_a_pipeline_with_a_step_it_does_not_know_is_left_to_scikit_learn():
    X, y, schema = _training("binary")
    numeric = schema.names_of("numeric")
    unknown = ColumnTransformer([("bins", KBinsDiscretizer(n_bins=3, encode="ordinal"), ["x1"])]).fit(X, y)
    passthrough = ColumnTransformer([("keep", "passthrough", numeric)]).fit(X, y)
    assert compile_preprocessor(unknown) is None and compile_preprocessor(passthrough) is None
    pipeline = Pipeline([("preprocess", unknown), ("model", LogisticRegression())]).fit(X, y)
    assert compile_pipeline(pipeline) is None and fast_pipeline(pipeline) is pipeline


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_linear_probabilities_equal_scikit_learns(task):
    X, y, schema = _training(task)
    preprocessor = build_preprocessor(schema, scale=True, high_cardinality="target")
    pipeline = Pipeline([("preprocess", preprocessor), ("model", LogisticRegression(C=0.5))]).fit(X, y)
    fast = fast_pipeline(pipeline)
    assert isinstance(fast, CompiledPipeline)
    assert fast.on_transformed._probabilities is not None  # the replay, not scikit-learn's
    for rows in (X.head(1), X, _awkward_rows(schema)):
        np.testing.assert_allclose(fast.predict_proba(rows), pipeline.predict_proba(rows), rtol=1e-12, atol=1e-15)


def test_compiled_pipeline_predicts_as_the_pipeline_and_falls_back_when_the_replay_fails(caplog):
    X, y, schema = _training("multiclass")
    preprocessor = build_preprocessor(schema, scale=True, high_cardinality="target")
    pipeline = Pipeline([("preprocess", preprocessor), ("model", LogisticRegression())]).fit(X, y)
    rows = _awkward_rows(schema)
    fast = fast_pipeline(pipeline)
    assert isinstance(fast, CompiledPipeline) and fast_pipeline(pipeline) is fast  # built once
    np.testing.assert_allclose(fast.predict_proba(rows), pipeline.predict_proba(rows), rtol=1e-9)
    np.testing.assert_array_equal(fast.predict(rows), pipeline.predict(rows))

    def broken(frame: pd.DataFrame) -> np.ndarray:
        raise ValueError("replay bug")

    failing = CompiledPipeline(broken, pipeline.steps[0][1], pipeline.steps[1][1])
    with caplog.at_level(logging.ERROR, logger="automl.features.compiled"):
        np.testing.assert_allclose(failing.predict_proba(rows), pipeline.predict_proba(rows))
        np.testing.assert_allclose(failing.predict_proba(rows), pipeline.predict_proba(rows))
    assert sum("compiled preprocessing failed" in r.getMessage() for r in caplog.records) == 1
