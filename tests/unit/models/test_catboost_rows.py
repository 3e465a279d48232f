"""CatBoost predicts from `FeaturesData` (its fast path) exactly as from the DataFrame it was fitted on."""

from __future__ import annotations

import numpy as np
import pytest
from tables import make_mixed_table

from automl.data import coerce_features, infer_schema
from automl.models import catboost as family
from automl.models import get_family
from automl.pipeline.trial import build_pipeline


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_features_data_predicts_as_the_frame(task):
    frame = make_mixed_table(300, seed=4, task=task)
    schema = infer_schema(frame, "target")
    X = coerce_features(frame, schema)
    y = frame["target"].to_numpy(dtype=float) if task == "regression" else frame["target"].factorize()[0]
    pipe = build_pipeline(get_family("catboost"), {"depth": 4, "learning_rate": 0.1}, schema, 0, 1)
    pipe.set_params(model__n_estimators=60).fit(X, y)
    rows = X.sample(40, random_state=2).copy()
    rows.iloc[:5, rows.columns.get_loc("colour")] = "ultraviolet"  # unseen, then missing values
    rows.iloc[5:10, rows.columns.get_loc("x2")] = np.nan
    Z = pipe[:-1].transform(rows)
    model = pipe.steps[-1][1]
    n_codes = model._codes()
    assert n_codes > 0 and not isinstance(family._rows(Z, n_codes), type(family._frame(Z, n_codes)))
    own = model.predict_proba if task != "regression" else model.predict
    parent = next(c for c in type(model).__mro__ if c.__module__.startswith("catboost"))  # fed the frame
    expected = getattr(parent, own.__name__)(model, family._frame(Z, n_codes))
    np.testing.assert_array_equal(own(Z), expected)
    np.testing.assert_array_equal(own(Z[:1]), expected[:1])
