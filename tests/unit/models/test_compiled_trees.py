"""Tree ensembles predicted through Treelite agree with their library, on rows with
missing values and unseen categories, and a model that cannot be compiled still predicts."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from tables import make_mixed_table

from automl.data import coerce_features, infer_schema
from automl.ensemble.compiling import compile_models
from automl.models import get_family
from automl.models.compiled_trees import ALL_ROWS, SMALL_ROWS, CompiledTrees, compile_trees
from automl.pipeline.model import Member, TabularModel
from automl.pipeline.trial import build_pipeline

FAMILIES = {
    "random_forest": {"n_estimators": 30, "max_features": 0.8, "min_samples_leaf": 1},
    "extra_trees": {"n_estimators": 30, "max_features": 0.8, "min_samples_leaf": 2},
    "hist_gradient_boosting": {"max_iter": 40, "learning_rate": 0.1, "max_leaf_nodes": 15},
}


def _table(task: str, n_rows: int, seed: int):
    """A mixed table, its schema, its coerced features and its encoded target."""
    frame = make_mixed_table(n_rows, seed=seed, task=task)
    schema = infer_schema(frame, "target")
    if task == "regression":
        y = frame["target"].to_numpy(dtype=float)
    else:
        y = np.searchsorted(np.array(schema.classes, dtype=object), frame["target"].to_numpy(dtype=object))
    return frame, schema, coerce_features(frame, schema), y


def _bagged(family: str, task: str, n_folds: int = 2) -> tuple[TabularModel, object]:
    frame, schema, X, y = _table(task, 300, seed=3)
    folds = [np.arange(len(y)) % n_folds != k for k in range(n_folds)]
    pipes = [build_pipeline(get_family(family), FAMILIES[family], schema, 0, 1).fit(X[rows], y[rows]) for rows in folds]
    return TabularModel(schema=schema, metric="log_loss", members=[Member("t", family, {}, pipes)]), frame


def _odd_rows(frame):
    """Rows the model never saw: missing values everywhere, unseen categories, a bad date."""
    rows = frame.drop(columns="target").sample(40, random_state=1).reset_index(drop=True)
    rows.loc[0:5, "colour"] = "ultraviolet"
    rows.loc[3:9, "city"] = None
    rows.loc[6:12, "x1"] = np.nan
    rows.loc[10:14, "x2"] = np.nan
    rows.loc[12:16, "when"] = None
    return rows


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_compiled_predictions_equal_the_library_s(family, task):
    model, frame = _bagged(family, task)
    rows = _odd_rows(frame)
    expected = model.predict_raw(rows)
    report = compile_models([model], frame.drop(columns="target"))
    assert report.compiled == 2 and report.refused == 0
    assert all(isinstance(c, CompiledTrees) for c in model.members[0].compiled)
    for batch in (rows.head(1), rows.head(SMALL_ROWS), rows):
        np.testing.assert_allclose(model.predict_raw(batch), expected[: len(batch)], rtol=1e-9, atol=1e-6)
    if task != "regression":  # labels agree except where the two likeliest classes tie
        top = np.sort(expected, axis=1)[:, -2:]
        clear = top[:, 1] - top[:, 0] > 1e-6
        np.testing.assert_array_equal(model.predict(rows)[clear], model.labels(expected)[clear])
    restored = pickle.loads(pickle.dumps(model))  # as an artifact stores it: Treelite's bytes
    assert isinstance(restored.members[0].compiled[0], CompiledTrees)
    np.testing.assert_allclose(restored.predict_raw(rows.head(1)), expected[:1], rtol=1e-9, atol=1e-6)


def test_single_rows_go_through_treelite_not_the_library(monkeypatch):
    model, frame = _bagged("random_forest", "binary")
    compile_models([model], frame.drop(columns="target"))
    forest = model.members[0].fold_models[0].steps[-1][1]
    monkeypatch.setattr(type(forest), "predict_proba", lambda *_: pytest.fail("the library predicted one row"))
    assert model.predict_raw(frame.head(1)).shape == (1, 2)


class _Tempered(RandomForestClassifier):
    """A forest whose probabilities are not its trees' average: Treelite's would differ."""

    def predict_proba(self, X):
        proba = np.sqrt(super().predict_proba(X))
        return proba / proba.sum(axis=1, keepdims=True)


def test_a_model_that_cannot_be_compiled_still_predicts():
    boosted, frame = _bagged("hist_gradient_boosting", "binary")
    forest, _ = _bagged("random_forest", "binary")
    tempered = forest.members[0].fold_models[0]
    tempered.steps[-1] = ("model", _Tempered(n_estimators=10, random_state=0))
    X = coerce_features(frame, forest.schema)
    tempered.fit(X, (frame["target"] == "yes").to_numpy(dtype=int))
    model = TabularModel(
        schema=boosted.schema, metric="log_loss", members=[boosted.members[0], forest.members[0]], weights=[0.5, 0.5]
    )
    expected = model.predict_raw(frame.head(20))
    report = compile_models([model], frame.drop(columns="target"))
    assert report.refused == 1 and report.compiled == 3
    assert model.members[1].compiled[0] is None and isinstance(model.members[1].compiled[1], CompiledTrees)
    np.testing.assert_allclose(model.predict_raw(frame.head(20)), expected, rtol=1e-9, atol=1e-6)


def test_not_a_tree_ensemble_is_not_compiled():
    model, frame = _bagged("random_forest", "binary")
    assert compile_trees(model.members[0].fold_models[0], frame.head(5)) is None  # a pipeline, not a forest


def test_compiling_stops_when_the_time_is_out():
    model, frame = _bagged("random_forest", "binary")
    report = compile_models([model], frame.drop(columns="target"), time_left=lambda: 0.0)
    assert report.compiled == 0 and report.skipped == 2 and model.members[0].compiled is None
    assert "left to their library" in (report.note() or "")


def test_a_member_copied_onto_other_fold_models_does_not_use_the_old_compiled_forms():
    from dataclasses import replace

    model, frame = _bagged("random_forest", "binary")
    refit, _ = _bagged("extra_trees", "binary", n_folds=3)
    compile_models([model], frame.drop(columns="target"))
    moved = replace(model.members[0], fold_models=refit.members[0].fold_models)  # a list of 2 kept for 3 folds
    expected = refit.predict_raw(frame.head(3))
    rows = coerce_features(frame.head(3), refit.schema)
    np.testing.assert_allclose(moved.predict_raw(rows, "binary", 2), expected)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("family", ["lightgbm", "xgboost"])
def test_boosters_compile_to_their_best_round_and_predict_as_their_wrapper(family, task):
    """An early-stopped XGBoost model keeps rounds past its best one: Treelite gets only
    those its wrapper predicts with."""
    from automl.pipeline.trial import fit_pipeline

    frame, schema, X, y = _table(task, 400, seed=5)
    params = {"learning_rate": 0.3, "num_leaves": 8} if family == "lightgbm" else {"learning_rate": 0.3, "max_depth": 3}
    pipe = build_pipeline(get_family(family), params, schema, 0, 1)
    rounds = fit_pipeline(pipe, get_family(family), X, y, task, 0)
    estimator = pipe.steps[-1][1]
    assert rounds is not None and rounds >= 1
    if family == "xgboost":
        assert estimator.get_booster().num_boosted_rounds() > rounds  # the patience rounds are there
    rows = _odd_rows(frame)
    Z = pipe[:-1].transform(rows)
    compiled = compile_trees(estimator, Z, max_rows=ALL_ROWS)
    assert compiled is not None
    expected = estimator.predict_proba(Z) if task != "regression" else estimator.predict(Z)
    got = compiled.predict_proba(Z) if task != "regression" else compiled.predict(Z)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_the_first_fold_s_timing_decides_for_the_member_s_other_folds():
    model, frame = _bagged("random_forest", "binary", n_folds=3)
    compile_models([model], frame.drop(columns="target"))
    limits = {c.max_rows for c in model.members[0].compiled}
    assert len(limits) == 1 and limits <= {ALL_ROWS, SMALL_ROWS}


def test_compiling_has_its_share_of_a_time_budget():
    from automl.budget import Budget
    from automl.ensemble.compiling import COMPILE_SHARE, compile_deadline, reserve_compile

    budget = Budget(100.0)
    reserve_compile(budget)
    assert budget.reserved["compile"] == pytest.approx(COMPILE_SHARE * 100.0)
    assert budget.grant("search") <= 100.0 - COMPILE_SHARE * 100.0  # earlier steps leave it
    clock = compile_deadline(budget)
    assert clock is not None and 0 < clock() <= 100.0
    assert compile_deadline(Budget(None)) is None  # no time limit: compile everything


def test_compiling_keeps_its_share_when_earlier_steps_ran_over():
    import time

    from automl.budget import Budget
    from automl.ensemble.compiling import COMPILE_SHARE, compile_deadline, reserve_compile

    budget = Budget(10.0, started=time.monotonic() - 12.0)  # the search ended 2 s past the budget
    reserve_compile(budget)
    clock = compile_deadline(budget)
    assert clock is not None and 0 < clock() <= COMPILE_SHARE * 10.0


def test_forests_are_compiled_before_boosters_while_time_lasts():
    forest, frame = _bagged("random_forest", "binary")
    boosted, _ = _bagged("hist_gradient_boosting", "binary")
    model = TabularModel(
        schema=forest.schema, metric="log_loss", members=[boosted.members[0], forest.members[0]], weights=[0.5, 0.5]
    )
    calls = iter(range(100))
    report = compile_models([model], frame.drop(columns="target"), time_left=lambda: 1.5 - next(calls))
    assert report.compiled == 2 and report.families == ["random_forest", "random_forest"]
    assert model.members[0].compiled is None  # the boosting member got no time


def test_a_treelite_failure_at_prediction_hands_over_to_the_library(caplog):
    model, frame = _bagged("random_forest", "binary")
    expected = model.predict_raw(frame.head(3))
    compile_models([model], frame.drop(columns="target"))
    compiled = model.members[0].compiled[0]
    compiled._model = object()  # not a Treelite model: its prediction raises
    np.testing.assert_allclose(model.predict_raw(frame.head(3)), expected, rtol=1e-9, atol=1e-6)
    assert compiled._model is None and "Treelite prediction failed" in caplog.text
