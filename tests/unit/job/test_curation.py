"""The data-quality step of a job's preparation: column rules, personal data, clipping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.data.coercion import coerce_features, feature_columns, logged_rows
from automl.data.schema import TableSchema
from automl.errors import SpecError
from automl.job.preparation import prepare
from automl.spec import JobSpec


def _table(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[:3] = [40.0, -35.0, 60.0]  # far outliers
    return pd.DataFrame(
        {
            "x": x,
            "z": rng.uniform(size=n),
            "email": [f"person{i % 40}@mail.example.com" for i in range(n)],
            "city": rng.choice(["paris", "rome", "oslo"], n),
            "notes": rng.choice(["a", "b"], n),
            "target": np.where(x + rng.normal(size=n) > 0, "yes", "no"),
        }
    )


def _spec(**sections: dict) -> JobSpec:
    return JobSpec.from_dict({"data": {"train": "t.parquet", "target": "target"}, **sections})


def test_personal_data_is_left_out_unless_allowed():
    excluded = prepare(_table(), _spec()).schema
    assert "email" not in excluded.features
    assert "personal data (email)" in {c.name: c.note for c in excluded.columns}["email"]
    allowed = prepare(_table(), _spec(data_quality={"allow_personal_data": True})).schema
    assert "email" in allowed.features


def test_dropped_columns_are_excluded_and_never_logged():
    prepared = prepare(_table(), _spec(data_quality={"drop": ["notes"]}))
    assert "notes" not in prepared.schema.features
    assert prepared.privacy["dropped"] == ["notes"]
    rows = _table().drop(columns=["target"]).head(2).to_dict(orient="records")
    kept = logged_rows(rows, prepared.schema)
    assert all(set(r) == set(prepared.schema.features) for r in kept)
    assert all("email" not in r and "notes" not in r for r in kept)


def test_hashed_columns_are_hashed_alike_at_fit_predict_serve_and_in_the_log():
    frame = _table()
    prepared = prepare(frame, _spec(data_quality={"hash": ["city"]}))
    schema = prepared.schema
    salt = schema.hashed["city"]
    assert len(salt) >= 32
    trained = set(prepared.data.X["city"])
    assert trained.isdisjoint({"paris", "rome", "oslo"}) and len(trained) == 3
    rows = frame.drop(columns=["target"]).head(5)
    records = rows.to_dict(orient="records")
    assert list(coerce_features(rows, schema)["city"]) == list(feature_columns(records, schema)["city"])
    assert [r["city"] for r in logged_rows(records, schema)] == list(coerce_features(rows, schema)["city"])
    again = TableSchema.from_dict(schema.to_dict())  # as the artifact stores it
    assert again.hashed == schema.hashed
    # a new job makes a new salt
    assert prepare(frame, _spec(data_quality={"hash": ["city"]})).schema.hashed["city"] != salt


def test_outlier_clipping_bounds_numbers_at_fit_and_predict():
    frame = _table()
    plain = prepare(frame, _spec())
    assert plain.data.X["x"].max() == 60.0 and not plain.schema.clipped
    clipped = prepare(frame, _spec(data_quality={"clip_outliers": True}))
    low, high = clipped.schema.clipped["x"]
    assert clipped.data.X["x"].max() == pytest.approx(high) and high < 60.0
    assert clipped.data.X["x"].min() == pytest.approx(low) and low > -35.0
    served = feature_columns([{"x": 1e6, "z": 0.5, "city": "rome", "notes": "a", "email": "a@b.co"}], clipped.schema)
    assert served["x"][0] == pytest.approx(high)
    assert "z" not in clipped.schema.clipped  # uniform: no value beyond its fences
    assert any("clipped" in a for a in clipped.quality["actions"])


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"data_quality": {"drop": ["nope"]}}, "data_quality.drop names column(s) the table lacks: 'nope'"),
        ({"data_quality": {"hash": ["target"]}}, "data_quality.hash names the target column"),
        ({"evaluation": {"sensitive_features": ["sex"]}}, "evaluation.sensitive_features names column(s)"),
        ({"data_quality": {"drop": ["x", "z", "city", "notes"]}}, "no usable feature columns are left"),
    ],
)
def test_rules_that_cannot_work_are_refused_before_the_search(sections, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        prepare(_table(), _spec(**sections))


def test_a_column_both_dropped_and_hashed_is_refused_by_the_spec():
    with pytest.raises(SpecError, match="both dropped and hashed"):
        _spec(data_quality={"drop": ["city"], "hash": ["city"]})


def test_sensitive_columns_are_kept_by_training_row_for_fairness():
    frame = _table()
    prepared = prepare(frame, _spec(evaluation={"sensitive_features": ["notes"]}))
    assert prepared.sensitive is not None
    assert list(prepared.sensitive["notes"]) == list(frame["notes"])
