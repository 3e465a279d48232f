"""On a wide table the one-hot codes are sparse (or ordinal codes), every family fits on
them, and the NumPy replay still gives what scikit-learn gives; narrow tables are as before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.preprocessing import StandardScaler
from tables import make_mixed_table

from automl.data import coerce_features, infer_schema
from automl.features.compiled import CompiledPipeline, compile_preprocessor, fast_pipeline
from automl.features.preprocessing import MAX_DENSE_ONEHOT_BYTES, SwitchOnRows, build_preprocessor
from automl.models.registry import family_keys, get_family
from automl.pipeline.trial import build_pipeline

N_CATEGORICAL, N_VALUES, N_NUMERIC = 300, 10, 5


def _wide(n_rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, object]:
    """`N_CATEGORICAL` columns of `N_VALUES` values (a few missing) and a few numbers."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, N_VALUES, size=(n_rows, N_CATEGORICAL))
    frame = pd.DataFrame(
        {f"c{j}": pd.Series(np.char.add("v", codes[:, j].astype(str)), dtype=object) for j in range(N_CATEGORICAL)}
    )
    for j in range(N_NUMERIC):
        frame[f"x{j}"] = rng.normal(size=n_rows)
    frame.loc[rng.random(n_rows) < 0.05, "c0"] = None
    frame.loc[rng.random(n_rows) < 0.05, "x0"] = np.nan
    signal = (codes[:, 0] < 5) + (codes[:, 1] == 3) + frame["x1"].to_numpy()
    frame["target"] = np.where(signal > np.median(signal), "yes", "no")
    schema = infer_schema(frame, "target")
    return coerce_features(frame, schema), pd.factorize(frame["target"], sort=True)[0], schema


def _awkward_rows(X: pd.DataFrame, schema: object) -> pd.DataFrame:
    """Training rows with a category never seen, missing categories and missing numbers."""
    rows = X.head(7).copy()
    rows.loc[rows.index[0], "c1"] = "never seen"
    rows.loc[rows.index[1], ["c0", "c2"]] = None
    rows.loc[rows.index[2], "x0"] = np.nan
    return coerce_features(rows, schema)  # as every table is before it is fitted or predicted


@pytest.fixture(scope="module")
def wide() -> tuple[pd.DataFrame, np.ndarray, object]:
    return _wide(2000)


def _bytes(Z: object) -> int:
    return Z.data.nbytes + Z.indices.nbytes + Z.indptr.nbytes if sparse.issparse(Z) else Z.nbytes


@pytest.mark.parametrize("scale", [False, True])
def test_a_wide_table_gives_a_small_csr_matrix(wide, scale):
    X, y, schema = wide
    Z = build_preprocessor(schema, scale=scale).fit_transform(X, y)
    assert sparse.issparse(Z) and Z.format == "csr" and Z.dtype == np.float64
    dense = Z.shape[0] * Z.shape[1] * Z.dtype.itemsize
    assert dense > MAX_DENSE_ONEHOT_BYTES  # what the dense one-hot codes would cost
    assert _bytes(Z) < 0.2 * dense
    # numbers (and their indicator) first, scaled where asked; the one-hot codes are only ones,
    # one per categorical column and row: nothing centred a sparse part
    numeric = Z[:, : N_NUMERIC + 1].toarray()
    if scale:
        np.testing.assert_allclose(numeric.mean(axis=0), 0, atol=1e-9)
    onehot = Z[:, N_NUMERIC + 1 :]
    assert np.all(onehot.data == 1) and np.all(np.diff(onehot.indptr) == N_CATEGORICAL)


def test_a_family_without_sparse_input_gets_ordinal_codes_instead(wide):
    X, y, schema = wide
    Z = build_preprocessor(schema, scale=False, accepts_sparse=False).fit_transform(X, y)
    assert isinstance(Z, np.ndarray) and Z.shape == (len(X), N_NUMERIC + 1 + N_CATEGORICAL)
    assert Z.nbytes < 0.2 * MAX_DENSE_ONEHOT_BYTES
    assert set(np.unique(Z[:, N_NUMERIC + 1 :])) <= set(range(N_VALUES + 1))  # codes; c0's missing is one too


def test_a_wide_table_with_few_rows_stays_dense_as_before():
    X, y, schema = _wide(200)
    for accepts_sparse in (True, False):
        preprocessor = build_preprocessor(schema, scale=True, accepts_sparse=accepts_sparse).fit(X, y)
        Z = preprocessor.transform(X)
        assert isinstance(Z, np.ndarray) and Z.shape[1] > N_CATEGORICAL * N_VALUES  # one-hot codes
        np.testing.assert_array_equal(compile_preprocessor(preprocessor)(X), Z)


@pytest.mark.parametrize("accepts_sparse", [True, False])
def test_a_narrow_table_is_dense_and_compiles(accepts_sparse):
    frame = make_mixed_table(n_rows=240, seed=3)
    schema = infer_schema(frame, "target")
    X = coerce_features(frame, schema)
    preprocessor = build_preprocessor(schema, scale=True, accepts_sparse=accepts_sparse).fit(X, frame["target"])
    Z = preprocessor.transform(X)
    assert isinstance(Z, np.ndarray)
    np.testing.assert_array_equal(compile_preprocessor(preprocessor)(X), Z)
    onehot = preprocessor.named_transformers_["onehot"]
    if accepts_sparse:  # as it was built before wide tables went sparse
        assert not isinstance(onehot, SwitchOnRows) and not onehot.steps[-1][1].sparse_output
    else:
        assert isinstance(onehot, SwitchOnRows) and onehot.chosen_.steps[-1][1].__class__.__name__ == "OneHotEncoder"


def test_the_replay_gives_scikit_learns_csr_matrix(wide):
    X, y, schema = wide
    preprocessor = build_preprocessor(schema, scale=True).fit(X, y)
    replay = compile_preprocessor(preprocessor)
    assert replay is not None
    for rows in (X.head(1), _awkward_rows(X, schema), X):
        expected, got = preprocessor.transform(rows), replay(rows)
        assert type(got) is type(expected) and got.format == "csr"
        assert got.shape == expected.shape and got.dtype == expected.dtype
        for part in ("indptr", "indices"):
            np.testing.assert_array_equal(getattr(got, part), getattr(expected, part))
        np.testing.assert_allclose(got.data, expected.data, rtol=1e-12, atol=1e-12)
    assert not any(
        isinstance(step, StandardScaler) and name == "onehot"
        for name, part, _ in preprocessor.transformers_
        for step in getattr(getattr(part, "chosen_", part), "steps", [])
    )


def _small_params(key: str, n_rows: int) -> dict[str, object]:
    family = get_family(key)
    params = family.default_params(n_rows, "binary")
    for name in ("n_estimators", "max_iter"):  # fewer rounds: a test, not a benchmark
        if name in params and key != "linear":
            params[name] = 20
    if family.early_stopping:  # rounds not searched: fixed as a refit fixes them
        params = family.with_rounds(params, 20)
    return params


@pytest.mark.parametrize("key", family_keys())
def test_every_family_fits_and_predicts_on_the_wide_table_as_the_replay_does(wide, key):
    X, y, schema = wide
    family = get_family(key)
    pipeline = build_pipeline(family, _small_params(key, len(X)), schema, seed=0, n_threads=1).fit(X, y)
    Z = pipeline.steps[0][1].transform(X.head(3))
    assert sparse.issparse(Z) == family.accepts_sparse
    rows = pd.concat([X.tail(300), _awkward_rows(X, schema)])
    expected = pipeline.predict_proba(rows)
    assert expected.shape == (len(rows), 2) and np.all(np.isfinite(expected))
    assert np.mean(pipeline.predict(X) == y) > 0.6  # it learnt something
    fast = fast_pipeline(pipeline)
    assert isinstance(fast, CompiledPipeline)  # the replay, not scikit-learn's transform
    np.testing.assert_allclose(fast.predict_proba(rows), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(fast.predict(rows), pipeline.predict(rows))
