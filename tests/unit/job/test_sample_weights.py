"""A spec's sample-weight column and feature choices in a job's preparation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.errors import DataError
from automl.job.preparation import prepare
from automl.spec import JobSpec


def _table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "colour": rng.choice(["red", "blue"], n),
            "w": rng.uniform(0.5, 2.0, n),
            "target": np.where(x + rng.normal(size=n) > 0, "yes", "no"),
        }
    )


def _spec(**data: object) -> JobSpec:
    return JobSpec.from_dict(
        {"data": {"train": "t.parquet", "target": "target", **data}, "search": {"models": ["linear", "knn"]}}
    )


def test_the_weight_column_weighs_the_fits_and_is_no_feature():
    frame = _table()
    prepared = prepare(frame, _spec(weight_column="w"))
    np.testing.assert_allclose(prepared.data.weights, frame["w"].to_numpy())
    assert "w" not in prepared.schema.features and "w" not in {c.name for c in prepared.schema.columns}
    assert list(prepared.data.families) == ["linear"]  # k-NN fits no sample weights
    assert any("knn fits no sample weights" in note for note in prepared.notes)
    assert prepared.data.traits is not None and prepared.data.traits.categorical


def test_no_weight_column_means_no_weights_and_fixed_features_means_no_choices():
    prepared = prepare(_table(), JobSpec.from_dict({"data": {"train": "t", "target": "target"}}))
    assert prepared.data.weights is None and prepared.data.traits is not None
    fixed = prepare(
        _table(), JobSpec.from_dict({"data": {"train": "t", "target": "target"}, "search": {"fixed_features": True}})
    )
    assert fixed.data.traits is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["w"]), "no weight column 'w'"),
        (lambda f: f.assign(w=np.where(np.arange(len(f)) == 7, -1.0, f["w"])), "finite numbers >= 0: 1 row"),
        (lambda f: f.assign(w=f["w"].astype(object).where(np.arange(len(f)) != 3, "heavy")), "the first: 'heavy'"),
        (lambda f: f.assign(w=np.where(np.arange(len(f)) == 0, np.nan, f["w"])), "finite numbers >= 0"),
        (lambda f: f.assign(w=0.0), "weighs every row 0"),
    ],
)
def test_a_bad_weight_column_is_refused_before_the_search(change, message):
    with pytest.raises(DataError, match=message):
        prepare(change(_table()), _spec(weight_column="w"))


def test_the_target_cannot_be_the_weight_column():
    with pytest.raises(DataError, match="is the target"):
        prepare(_table(), _spec(weight_column="target"))
