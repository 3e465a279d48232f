from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import KBinsDiscretizer

from automl.data import coerce_features, infer_schema
from automl.data.coercion import feature_columns
from automl.features.compiled import fast_pipeline
from automl.models import get_family
from automl.pipeline.model import Member, TabularModel
from automl.pipeline.trial import build_pipeline


def _fit(frame, family_key, params):
    schema = infer_schema(frame, "target")
    X = coerce_features(frame, schema)
    if schema.task == "regression":
        y = frame["target"].to_numpy(dtype=float)
    else:
        y = np.searchsorted(np.array(schema.classes, dtype=object), frame["target"].to_numpy(dtype=object))
    pipe = build_pipeline(get_family(family_key), params, schema, 0, 1).fit(X, y)
    return TabularModel(schema=schema, metric="log_loss", members=[Member("t", family_key, params, [pipe])])


def test_prediction_frame_for_classification(multiclass_table):
    model = _fit(multiclass_table, "linear", {"C": 1.0})
    out = model.prediction_frame(multiclass_table)
    assert list(out.columns) == ["prediction", "proba_high", "proba_low", "proba_mid"]
    np.testing.assert_allclose(out.filter(like="proba_").sum(axis=1), 1.0)
    assert set(out["prediction"]) <= {"high", "low", "mid"}


def test_prediction_frame_for_regression(regression_table):
    model = _fit(regression_table, "linear", {"alpha": 1.0})
    out = model.prediction_frame(regression_table)
    assert list(out.columns) == ["prediction"]
    assert np.corrcoef(out["prediction"], regression_table["target"])[0, 1] > 0.8


def test_unseen_categories_and_missing_values_do_not_crash(binary_table):
    for family, params in [("linear", {"C": 1.0}), ("knn", {"n_neighbors": 5, "weights": "uniform"})]:
        model = _fit(binary_table, family, params)
        rows = binary_table.head(3).copy()
        rows["colour"] = ["ultraviolet", None, "red"]
        rows["city"] = ["atlantis", "c1", None]
        rows["x1"] = [np.nan, 1.0, np.nan]
        rows["when"] = [None, "2030-01-01", "garbage"]
        proba = model.predict_proba(rows)
        assert proba.shape == (3, 2) and np.isfinite(proba).all()


def test_a_fold_model_that_missed_a_class_still_gives_every_column(multiclass_table):
    schema = infer_schema(multiclass_table, "target")
    X = coerce_features(multiclass_table, schema)
    y = np.searchsorted(np.array(schema.classes, dtype=object), multiclass_table["target"].to_numpy(dtype=object))
    keep = y != 2
    pipe = build_pipeline(get_family("linear"), {"C": 1.0}, schema, 0, 1).fit(X[keep], y[keep])
    model = TabularModel(schema=schema, metric="log_loss", members=[Member("t", "linear", {}, [pipe])])
    proba = model.predict_proba(pd.DataFrame(multiclass_table))
    assert proba.shape[1] == 3 and np.all(proba[:, 2] == 0)


def test_served_column_arrays_predict_as_the_frame_with_or_without_the_replay(binary_table):
    """Served rows reach the model as column arrays; a member whose preprocessing has no
    NumPy replay is given a frame built from them."""
    model = _fit(binary_table, "linear", {"C": 1.0})
    X = coerce_features(binary_table, model.schema)
    y = (binary_table["target"] == "yes").to_numpy(dtype=int)
    bins = ColumnTransformer([("bins", KBinsDiscretizer(n_bins=3, encode="ordinal"), ["x1"])])
    unknown = Pipeline([("preprocess", bins), ("model", LogisticRegression())]).fit(X, y)
    assert fast_pipeline(unknown) is unknown  # scikit-learn's own pipeline, which needs a frame
    mixed = TabularModel(
        schema=model.schema, metric="log_loss", members=[*model.members, Member("u", "custom", {}, [unknown])]
    )
    edited = binary_table.head(12).drop(columns="target").astype(object)
    edited.loc[0, "colour"], edited.loc[1, "city"] = None, "atlantis"  # missing, unseen
    edited.loc[2, "x2"], edited.loc[3, "when"] = None, None
    rows = edited.where(edited.notna(), None).to_dict(orient="records")
    for subset in (rows, rows[:1]):
        for candidate in (model, mixed):
            expected = candidate.predict_raw(pd.DataFrame.from_records(subset))  # as `automl predict` reads rows
            np.testing.assert_allclose(candidate.predict_features(feature_columns(subset, model.schema)), expected)


def test_members_that_share_a_fold_preprocessing_transform_the_rows_once(binary_table, monkeypatch):
    """Two tree families fitted on the same fold rows learn the same ordinal codes: the
    batch is transformed once for both, and the ensemble predicts as each pipeline alone."""
    from automl.pipeline import shared

    schema = infer_schema(binary_table, "target")
    X = coerce_features(binary_table, schema)
    y = (binary_table["target"] == "yes").to_numpy(dtype=int)
    folds = [np.arange(0, 150), np.arange(50, 200)]

    def bag(key, params):
        return [build_pipeline(get_family(key), params, schema, 0, 1).fit(X.iloc[rows], y[rows]) for rows in folds]

    forest = bag("random_forest", {"n_estimators": 20, "max_features": "sqrt", "min_samples_leaf": 2})
    boosted = bag("lightgbm", {"num_leaves": 4, "learning_rate": 0.1})
    linear = bag("linear", {"C": 1.0})
    members = [Member("rf", "random_forest", {}, forest), Member("gbm", "lightgbm", {}, boosted)]
    members.append(Member("lin", "linear", {}, linear))
    model = TabularModel(schema=schema, metric="roc_auc", members=members, weights=[0.5, 0.3, 0.2])
    keys = {shared.preprocessing_key(p) for p in forest + boosted}
    assert len(keys) == 2  # one per fold: the two tree families' fitted codes are the same
    assert shared.preprocessing_key(linear[0]) not in keys  # scaled one-hot codes differ

    calls = []
    original = shared.SharedBatch.transformed

    def counted(self, pipeline):
        key = shared.preprocessing_key(pipeline)
        calls.append(key not in self._done)
        return original(self, pipeline)

    monkeypatch.setattr(shared.SharedBatch, "transformed", counted)
    proba = model.predict_proba(binary_table)
    assert sum(calls) == 4 and len(calls) == 6  # 2 folds x (trees, linear) computed; 2 reused
    alone = sum(
        w * np.mean([p.predict_proba(X) for p in m.fold_models], axis=0)
        for w, m in zip(model.weights, model.members, strict=True)
    )
    np.testing.assert_allclose(proba, alone / alone.sum(axis=1, keepdims=True), rtol=1e-12, atol=1e-15)
