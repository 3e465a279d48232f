"""A user's own table, end to end on a real Ray: short budgets, non-finite values, rare
classes, many integer classes, options from every face, a lost trial store, resume checks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import ray
from tables import make_mixed_table, small_trial_data

from automl import AutoML
from automl.errors import DataError
from automl.estimators import AutoMLClassifier

pytestmark = pytest.mark.usefixtures("ray_instance")


def test_a_ten_second_budget_on_a_small_table_ends_with_a_model():
    frame = make_mixed_table(n_rows=200, seed=21)
    am = AutoML(time_budget_s=10, verbose=False).fit(frame, target="target")
    assert am.summary["n_trials"] >= 1 and am.summary["best_model"]
    assert am.predict(frame.head(3)).shape == (3,)
    steps = am.summary["budget"]["steps_s"]
    assert {"prepare", "ray_start", "search", "ensemble"} <= set(steps)


def test_the_cheapest_model_is_fitted_when_the_search_ends_without_one():
    from automl.job.preparation import choose_floor, prepare
    from automl.search import SearchSettings, run_search
    from automl.spec import spec_from_options

    prepared = prepare(make_mixed_table(n_rows=150, seed=22), spec_from_options(train="t", target="target"))
    choose_floor(prepared)
    # a search budget too short for Tune to start a trial: nothing is run
    settings = SearchSettings(time_budget_s=0.5, show_progress=False, floor_config=prepared.floor_config)
    result = run_search(prepared.data, settings)
    try:
        assert [r.trial_id for r in result.succeeded] == ["floor.0"]
        assert result.succeeded[0].family == "linear" and "floor.0" in result.fold_models
        assert len(result.fold_models["floor.0"]) == 5
    finally:
        result.close()


def test_infinite_values_are_missing_features_and_dropped_targets(tmp_path):
    frame = make_mixed_table(n_rows=200, seed=23, task="regression")
    frame.loc[::7, "x1"] = np.inf
    frame.loc[3, "x2"] = -np.inf
    frame.loc[[5, 9], "target"] = [np.inf, -np.inf]
    with pytest.warns(UserWarning, match="not finite"):
        am = AutoML(max_trials=3, time_budget_s=None, models=["linear", "xgboost"], cv_folds=3, verbose=False).fit(
            frame, target="target"
        )
    assert am.summary["n_failed"] == 0 and am.summary["n_rows"] == 198
    assert np.isfinite(am.predict(frame.head(10))).all()


def test_a_multiclass_table_with_a_rare_middle_class_trains_every_family():
    rng = np.random.default_rng(24)
    n = 240
    x = rng.normal(size=(n, 3))
    labels = np.where(x[:, 0] > 0, "high", "low").astype(object)
    labels[:3] = "mid"  # rarer than the five folds
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(target=labels)
    models = ["xgboost", "lightgbm", "catboost", "linear", "knn", "mlp"]
    am = AutoML(max_trials=6, time_budget_s=None, models=models, portfolio="none", verbose=False)
    am.fit(frame, target="target")
    board = am.leaderboard()
    assert am.summary["n_failed"] == 0, board["error"].dropna().tolist()
    assert set(board.loc[board["status"] == "done", "model"]) == set(models)  # each family's default
    assert am.predict_proba(frame.head(4)).shape == (4, 3)


def test_a_holdout_table_with_a_handful_of_positives_saves_a_model(tmp_path):
    rng = np.random.default_rng(25)
    n = 100_000  # a holdout split instead of k folds
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["target"] = 0
    frame.loc[frame.nlargest(10, "a").index, "target"] = 1
    am = AutoML(max_trials=2, time_budget_s=None, models=["linear"], verbose=False).fit(frame, target="target")
    assert am.summary["cv_folds"] == 1 and am.summary["positive_class"] == 1
    am.save(tmp_path / "model")
    assert (tmp_path / "model" / "manifest.json").is_file()


def test_a_classifier_on_many_integer_class_codes_searches_classes():
    rng = np.random.default_rng(26)
    X = rng.normal(size=(360, 4))
    y = np.digitize(X[:, 0] + 0.1 * rng.normal(size=360), np.quantile(X[:, 0], np.linspace(0, 1, 13)[1:-1]))
    clf = AutoMLClassifier(max_trials=2, time_budget_s=None, models=["linear"], cv_folds=3).fit(X, y)
    assert len(clf.classes_) == 12 and clf.automl_.summary["task"] == "multiclass"
    assert clf.predict_proba(X[:5]).shape == (5, 12)


def test_killing_the_trial_store_mid_search_loses_only_the_trials_in_flight():
    from ray import tune

    from automl.search import SearchSettings, run_search

    class KillStoreOnce(tune.Callback):
        killed = 0

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if not self.killed:
                names = [a for a in ray.util.list_named_actors() if a.startswith("automl-trial-store-")]
                ray.kill(ray.get_actor(names[0]), no_restart=False)
                self.killed += 1

    data = small_trial_data(("linear", "knn"), seed=27)
    planned = 30
    killer = KillStoreOnce()
    result = run_search(data, SearchSettings(max_trials=planned, show_progress=False, keep_models=5), [killer])
    try:
        assert killer.killed == 1
        assert len(result.rows) == planned
        lost = [r for r in result.rows if r.status != "done"]
        assert len(lost) <= 2 * 128  # at most the batches in flight (two trials run at once)
        assert len(result.succeeded) >= 1 and len(result.fold_models) >= 1
        best = max(result.succeeded, key=lambda r: r.outcome.score)
        assert best.trial_id in result.fold_models  # fetched from the restarted store
    finally:
        result.close()


def test_fit_spec_reaches_summary_and_resume_refuses_a_changed_table(tmp_path):
    frame = make_mixed_table(n_rows=160, seed=28)
    frame.to_csv(tmp_path / "train.csv", index=False)
    run_dir = tmp_path / "run"
    cli = [sys.executable, "-m", "automl.cli"]
    fit = subprocess.run(
        [*cli, "fit", str(tmp_path / "train.csv"), "--target", "target", "--max-trials", "3", "--cv-folds", "3",
         "--models", "linear,knn", "--ensemble", "best", "--positive-class", "no", "--metric", "f1",
         "--address", ray.get_runtime_context().gcs_address, "--output", str(run_dir), "--quiet"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["spec"]["ensemble"]["method"] == "best" and summary["ensemble_requested"] == "best"
    assert summary["spec"]["data"]["positive_class"] == "no" and summary["positive_class"] == "no"
    assert summary["spec"]["search"]["models"] == ["linear", "knn"] and summary["spec"]["budget"]["max_trials"] == 3
    assert "cv f1" in fit.stdout and "nested cv" not in fit.stdout  # the best trial's score is not nested

    changed = frame.copy()
    changed.loc[0, "x1"] += 1.0  # the file regenerated: one value differs
    changed.to_csv(tmp_path / "train.csv", index=False)
    resume = subprocess.run(
        [*cli, "resume", str(run_dir), "--address", ray.get_runtime_context().gcs_address, "--quiet"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert resume.returncode == 2, resume.stderr
    assert "not the one this run started with" in resume.stderr and "Traceback" not in resume.stderr


def test_a_test_table_with_one_class_is_refused_before_the_search(tmp_path):
    frame = make_mixed_table(n_rows=160, seed=29)
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame[frame["target"] == "yes"].to_csv(tmp_path / "test.csv", index=False)
    result = subprocess.run(
        [sys.executable, "-m", "automl.cli", "fit", str(tmp_path / "train.csv"), "--target", "target",
         "--test", str(tmp_path / "test.csv"), "--max-trials", "2", "--output", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and "only class 'yes'" in result.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_prepare_refuses_roc_auc_with_fewer_positives_than_folds():
    from automl.job.preparation import prepare
    from automl.spec import spec_from_options

    frame = make_mixed_table(n_rows=100, seed=30)
    frame["target"] = "no"
    frame.loc[:2, "target"] = "yes"
    with pytest.raises(DataError, match="--cv-folds 3"):
        prepare(frame, spec_from_options(train="t", target="target"))


def test_a_fit_that_ignores_its_time_limit_is_stopped_with_its_worker():
    import failing_families as module

    from automl.models import register, unregister
    from automl.search import SearchSettings, run_search

    ray.cloudpickle.register_pickle_by_value(module)
    register(module.HangsInFit())
    try:
        data = small_trial_data(("linear", "hangs_in_fit"), seed=31, watchdog_grace_s=1.0)
        settings = SearchSettings(max_trials=3, show_progress=False, trial_timeout_s=1.0)  # no time budget
        result = run_search(data, settings)
    finally:
        unregister("hangs_in_fit")
        ray.cloudpickle.unregister_pickle_by_value(module)
    try:
        by_family = {}
        for row in result.rows:
            by_family.setdefault(row.family, set()).add(row.status)
        assert by_family["hangs_in_fit"] == {"stopped"} and "done" in by_family["linear"]
        hung = [r for r in result.rows if r.family == "hangs_in_fit"]
        assert all("its worker was ended" in r.error or "not started" in r.error for r in hung)
    finally:
        result.close()
