from __future__ import annotations

import numpy as np
import pytest
from tables import predict_in_subprocess

from automl.artifacts import load_model, save_model
from automl.data import coerce_features, infer_schema
from automl.ensemble import (
    Candidate,
    fit_stacker,
    pick_candidates,
    plan_ensemble,
    select_ensemble,
)
from automl.evaluation.metrics import Metric, get_metric
from automl.models import get_family
from automl.pipeline.model import Member, TabularModel
from automl.pipeline.trial import build_pipeline


def test_selection_finds_members_whose_errors_cancel():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    error = rng.normal(size=400)
    candidates = [y + error, y - error, rng.normal(size=400), y + 2 * rng.normal(size=400)]
    selection = select_ensemble(candidates, y, get_metric("rmse"))
    np.testing.assert_allclose(selection.weights, [0.5, 0.5, 0.0, 0.0])
    assert selection.score == pytest.approx(0.0, abs=1e-12)


def test_selection_weights_follow_the_metric_direction():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    good = np.clip(y * 0.6 + rng.random(300) * 0.4, 0, 1)
    bad = rng.random(300)
    proba = [np.column_stack([1 - p, p]) for p in (bad, good)]
    selection = select_ensemble(proba, y, get_metric("roc_auc"), 2)
    assert selection.weights[1] == 1.0 and selection.weights[0] == 0.0


def _candidates(parts, family="f"):
    metric = get_metric("roc_auc")
    return [Candidate(f"t{i}", family, 0.0, p.astype(np.float32)) for i, p in enumerate(parts)], metric


def test_complementary_members_are_kept_with_an_honest_score():
    rng = np.random.default_rng(2)
    n = 600
    y = rng.integers(0, 2, n)
    signal = y + rng.normal(scale=1.2, size=n)
    half = rng.normal(scale=1.0, size=n)
    # two views of the signal with independent noise: averaging them helps
    parts = [signal + half, signal - half + rng.normal(scale=0.3, size=n)]
    proba = [np.column_stack([1 - 1 / (1 + np.exp(-p)), 1 / (1 + np.exp(-p))]) for p in parts]
    candidates, metric = _candidates(proba)
    plan = plan_ensemble(candidates, y, metric, "binary", "selection", seed=0)
    assert plan.method == "selection"
    assert len(plan.trial_ids) == 2 and sum(plan.weights) == pytest.approx(1.0)
    assert plan.cv_score > plan.best_single_nested_score
    assert plan.cv_score == plan.nested_scores["selection"]


def test_stacking_that_overfits_falls_back_to_the_best_single_trial():
    rng = np.random.default_rng(3)
    n = 60
    y = rng.integers(0, 2, n)
    good = np.clip(0.5 * y + 0.5 * rng.random(n), 0.01, 0.99)
    # forty noise candidates: a meta-learner over 41 inputs and 60 rows overfits them
    parts = [good] + [rng.random(n) for _ in range(40)]
    proba = [np.column_stack([1 - p, p]) for p in parts]
    candidates, metric = _candidates(proba)
    plan = plan_ensemble(candidates, y, metric, "binary", "stacking", seed=0)
    assert plan.method == "best" and plan.requested == "stacking"
    assert plan.trial_ids == ["t0"] and plan.stacker is None
    assert "not better than" in plan.reason
    assert plan.nested_scores["stacking"] < plan.best_single_nested_score


def test_candidates_keep_every_family():
    ranked = [Candidate(f"t{i}", fam, 0.0, np.zeros(3)) for i, fam in enumerate("aaaabbc")]
    assert [c.trial_id for c in pick_candidates(ranked, 3)] == ["t0", "t1", "t2", "t4", "t6"]


@pytest.fixture
def ensemble_model(multiclass_table):
    frame = multiclass_table
    schema = infer_schema(frame, "target")
    X = coerce_features(frame, schema)
    y = np.searchsorted(np.array(schema.classes, dtype=object), frame["target"].to_numpy(dtype=object))
    halves = [np.arange(0, 100), np.arange(100, 200)]
    members = []
    for key, params in [("linear", {"C": 1.0}), ("knn", {"n_neighbors": 7, "weights": "uniform"})]:
        folds = [build_pipeline(get_family(key), params, schema, 0, 1).fit(X.iloc[train], y[train]) for train in halves]
        members.append(Member(f"t-{key}", key, params, folds))
    return schema, X, y, members


@pytest.mark.parametrize("combine", ["weights", "stacker"])
def test_ensemble_artifact_round_trips_in_and_out_of_process(ensemble_model, multiclass_table, tmp_path, combine):
    schema, X, y, members = ensemble_model
    stacker = None
    if combine == "stacker":
        parts = [m.predict_raw(X, "multiclass", 3) for m in members]
        stacker = fit_stacker(parts, y, "multiclass", 3, seed=0)
    model = TabularModel(schema, "log_loss", members, [0.7, 0.3], stacker)
    proba = model.predict_proba(multiclass_table)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba.shape == (200, 3)

    directory = save_model(model, tmp_path / "model")
    np.testing.assert_array_equal(load_model(directory).predict_proba(multiclass_table), proba)
    rows = tmp_path / "rows.csv"
    multiclass_table.to_csv(rows, index=False)
    predicted = predict_in_subprocess(directory, rows, tmp_path / "pred.parquet")
    np.testing.assert_allclose(predicted[["proba_high", "proba_low", "proba_mid"]].to_numpy(), proba, rtol=1e-12)


def test_an_inference_cap_prunes_the_lightest_members(ensemble_model, multiclass_table):
    from automl.ensemble.inference import inference_cost, prune_to_cost

    schema, X, y, members = ensemble_model
    model = TabularModel(schema, "log_loss", members, [0.7, 0.3])
    kept, pruned = prune_to_cost(model, [], None, multiclass_table, cap=1e9)
    assert pruned == 0 and kept is model
    cheap, pruned = prune_to_cost(model, [], None, multiclass_table, cap=1e-9)  # no model meets it: keep one
    assert pruned == 1 and [m.family for m in cheap.members] == ["linear"] and cheap.weights == [1.0]
    np.testing.assert_allclose(cheap.predict_proba(multiclass_table).sum(axis=1), 1.0)
    assert inference_cost(cheap, multiclass_table)["batch_ms_per_row"] > 0


def _noisy_views(n, seed, views=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    parts = []
    for _ in range(views):
        p = 1 / (1 + np.exp(-(y + rng.normal(scale=1.5, size=n))))
        parts.append(np.column_stack([1 - p, p]))
    return y, parts


def test_a_time_limited_ensemble_samples_rows_and_says_so():
    y, parts = _noisy_views(20_000, seed=3)
    candidates, metric = _candidates(parts)
    plan = plan_ensemble(candidates, y, metric, "binary", "selection", seed=0, time_limit_s=1e-4)
    assert "sampled rows" in plan.reason and "share of the budget" in plan.reason
    unlimited = plan_ensemble(candidates, y, metric, "binary", "selection", seed=0)
    assert "sampled" not in unlimited.reason


def test_a_holdout_with_one_validated_positive_keeps_the_best_trial_instead_of_raising():
    rng = np.random.default_rng(4)
    y = np.zeros(500, dtype=int)
    y[:5] = 1
    oof = np.full((500, 2), np.nan)
    valid = np.r_[0, np.arange(100, 200)]  # the holdout part: one positive among its rows
    oof[valid] = rng.dirichlet([1, 1], size=len(valid))
    candidates, metric = _candidates([oof, oof[:, ::-1].copy()])
    plan = plan_ensemble(candidates, y, metric, "binary", "selection", seed=0)
    assert plan.method == "best" and "fewer than 2 validated rows" in plan.reason


def test_nested_folds_with_a_rare_class_score_every_fold():
    y, parts = _noisy_views(300, seed=5, views=2)
    y[:] = 0
    y[:3] = 1  # three positives: three stratified nested folds, each with one
    candidates, metric = _candidates(parts)
    plan = plan_ensemble(candidates, y, metric, "binary", "selection", seed=0)
    assert np.isfinite(plan.best_single_nested_score)


def test_an_ensemble_with_no_time_left_still_ends_with_a_plan():
    y, parts = _noisy_views(400, seed=6)
    candidates, metric = _candidates(parts)
    plan = plan_ensemble(candidates, y, metric, "binary", "selection", seed=0, time_limit_s=0.0)
    assert plan.trial_ids and "rounds" in plan.reason  # the fewest rounds, all 400 rows (below the row floor)


def test_an_unknown_method_is_refused():
    y, parts = _noisy_views(200, seed=7)
    candidates, metric = _candidates(parts)
    with pytest.raises(ValueError, match="unknown ensemble method 'boosting'"):
        plan_ensemble(candidates, y, metric, "binary", "boosting", seed=0)


def test_a_metric_undefined_everywhere_keeps_the_best_trial_with_the_reason():
    y, parts = _noisy_views(200, seed=8)
    candidates, metric = _candidates(parts)
    undefined = Metric("undefined", True, frozenset({"binary"}), lambda y, p, k: float("nan"))
    plan = plan_ensemble(candidates, y, undefined, "binary", "selection", seed=0)
    assert plan.method == "best" and plan.trial_ids == ["t0"]
    assert "no nested score" in plan.reason and "every one NaN" in plan.reason
    with pytest.raises(ValueError, match="no undefined score to choose from"):
        select_ensemble(parts, y, undefined, 2)


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_a_stacker_combines_into_the_jobs_shape(task):
    rng = np.random.default_rng(9)
    n_classes = {"regression": 0, "binary": 2, "multiclass": 3}[task]
    if task == "regression":
        y = rng.normal(size=120)
        parts = [y + rng.normal(scale=s, size=120) for s in (0.1, 1.0)]
    else:
        y = rng.integers(0, n_classes, 120)
        parts = [rng.dirichlet(np.ones(n_classes), 120) for _ in range(2)]
    combined = fit_stacker(parts, y, task, n_classes, seed=0).combine(parts)
    if task == "regression":
        assert combined.shape == (120,) and np.corrcoef(combined, y)[0, 1] > 0.9
    else:
        assert combined.shape == (120, n_classes)
        np.testing.assert_allclose(combined.sum(axis=1), 1.0)
