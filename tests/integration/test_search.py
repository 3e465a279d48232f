"""Real searches on a real local Ray: models, leaderboards, failures, budgets."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
import ray.cloudpickle
from tables import make_mixed_table, predict_in_subprocess, small_trial_data

from automl import AutoML, AutoMLClassifier, AutoMLRegressor, JobSpec
from automl.models import register, unregister

pytestmark = pytest.mark.usefixtures("ray_instance")
THREE_FAMILIES = ["linear", "lightgbm", "random_forest"]


@pytest.fixture(scope="module")
def binary_search(tmp_path_factory):
    frame = make_mixed_table(n_rows=300, seed=1)
    am = AutoML(max_trials=8, time_budget_s=None, models=THREE_FAMILIES, cv_folds=3, verbose=False).fit(
        frame, target="target"
    )
    directory = am.save(tmp_path_factory.mktemp("search") / "model")
    return am, frame, directory


def trials_of(board):
    return board[board["status"] != "ensemble"].reset_index(drop=True)


def test_search_covers_families_and_records_every_trial(binary_search):
    am, _, _ = binary_search
    board = trials_of(am.leaderboard())
    assert len(board) == 8
    assert set(board["status"]) == {"done"}
    assert set(THREE_FAMILIES) <= set(board["model"])  # defaults of every family come first
    scores = board["cv_score"].to_numpy()
    assert np.all(np.diff(scores) <= 0)  # ranked best first (roc_auc: higher is better)
    assert board["rank"].tolist() == list(range(1, 9))
    summary = am.summary
    assert summary["n_trials"] == 8 and summary["n_failed"] == 0
    assert summary["best_cv_score"] == pytest.approx(scores[0])
    assert summary["best_model"] == board["model"].iloc[0]
    assert 0.75 < summary["best_cv_score"] <= 1.0


def test_loaded_model_predicts_the_same_in_and_out_of_process(binary_search, tmp_path):
    am, frame, directory = binary_search
    loaded = AutoML.load(directory)
    rows = frame.drop(columns=["target"]).head(60)
    np.testing.assert_array_equal(loaded.predict_proba(rows), am.predict_proba(rows))
    assert list(loaded.predict(rows)) == list(am.predict(rows))

    data = tmp_path / "rows.parquet"
    rows.to_parquet(data)
    predicted = predict_in_subprocess(directory, data, tmp_path / "pred.csv")
    assert list(predicted.columns) == ["prediction", "proba_no", "proba_yes"]
    np.testing.assert_allclose(predicted[["proba_no", "proba_yes"]].to_numpy(), am.predict_proba(rows), rtol=1e-9)
    assert predicted["prediction"].tolist() == list(am.predict(rows))


def test_failing_and_crashing_trials_are_isolated():
    import failing_families as module

    ray.cloudpickle.register_pickle_by_value(module)  # workers need the class by value
    register(module.AlwaysFails())
    register(module.CrashesWorker())
    register(module.RunsOutOfMemory())
    try:
        frame = make_mixed_table(n_rows=200, seed=2)
        am = AutoML(
            max_trials=7,
            time_budget_s=None,
            models=["always_fails", "crashes_worker", "runs_out_of_memory", "linear"],
            cv_folds=3,
            verbose=False,
        ).fit(frame, target="target")
    finally:
        unregister("always_fails")
        unregister("crashes_worker")
        unregister("runs_out_of_memory")
        ray.cloudpickle.unregister_pickle_by_value(module)
    board = trials_of(am.leaderboard())
    assert len(board) == 7
    by_family = board.groupby("model")["status"].agg(set).to_dict()
    assert by_family["always_fails"] == {"failed"}
    assert by_family["crashes_worker"] == {"failed"}
    assert by_family["runs_out_of_memory"] == {"failed"}
    oom = board[board["model"] == "runs_out_of_memory"]["error"]
    assert oom.str.startswith("out of memory: ").all()
    assert "done" in by_family["linear"]
    fails = board[board["model"] == "always_fails"]["error"]
    assert fails.str.contains("this family always fails to fit").all()
    crashed = board[board["model"] == "crashes_worker"]["error"]
    assert (crashed.str.len() > 0).all()
    assert am.summary["n_failed"] == (board["status"] == "failed").sum() >= 3
    assert am.summary["best_model"] == "linear"
    assert am.predict(frame.head(5)).shape == (5,)


def test_a_time_budget_ends_the_search_of_a_command_that_starts_its_own_ray(tmp_path):
    """`automl fit --address local` starts a new Ray inside the search, while the driver
    fits the first configurations; the budget's account says so."""
    make_mixed_table(n_rows=400, seed=3).to_parquet(tmp_path / "train.parquet")
    fit = subprocess.run(
        [sys.executable, "-m", "automl.cli", "fit", str(tmp_path / "train.parquet"), "--target", "target",
         "--time-budget", "12", "--cv-folds", "3", "--address", "local", "--output", str(tmp_path / "run"), "--quiet"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["max_trials"] is None and summary["n_trials"] >= 3
    steps = summary["budget"]["steps_s"]
    assert list(steps)[:3] == ["prepare", "fallback_timing", "ray_start"]  # Ray's start came after the planning
    assert 0 < steps["ray_start"] < steps["search"]  # ... within the search
    board = trials_of(pd.read_csv(tmp_path / "run" / "leaderboard.csv"))
    assert board["trial_id"].str.startswith("driver-").any()


@pytest.mark.parametrize("strategy", ["random", "qmc", "cmaes"])
def test_other_strategies_run(strategy):
    frame = make_mixed_table(n_rows=150, seed=4, task="multiclass")
    am = AutoML(
        strategy=strategy, max_trials=5, time_budget_s=None, models=["linear", "knn"], cv_folds=3, verbose=False
    ).fit(frame, target="target")
    board = trials_of(am.leaderboard())
    assert len(board) == 5 and set(board["status"]) == {"done"}
    assert am.summary["metric"] == "log_loss" and am.summary["strategy"] == strategy
    # sampled trials differ from the defaults evaluated first
    assert board["params"].nunique() == 5


def test_sklearn_estimators():
    frame = make_mixed_table(n_rows=200, seed=5, task="regression").drop(columns=["row_id", "when"])
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    reg = AutoMLRegressor(max_trials=3, time_budget_s=None, models=["linear", "hist_gradient_boosting"], cv_folds=3)
    reg.fit(X, y)
    assert reg.n_features_in_ == X.shape[1]
    assert reg.score(X, y) > 0.8  # R^2 on the training rows: the model learned the signal

    numeric = make_mixed_table(n_rows=200, seed=6, task="multiclass")
    Xc = numeric[["x1", "x2"]].fillna(0).to_numpy()
    clf = AutoMLClassifier(max_trials=3, time_budget_s=None, models=["linear"], cv_folds=3).fit(Xc, numeric["target"])
    assert list(clf.classes_) == ["high", "low", "mid"]
    proba = clf.predict_proba(Xc)
    assert proba.shape == (200, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(Xc)) <= set(clf.classes_)


def test_cli_fit_on_an_existing_cluster(ray_instance, tmp_path):
    """`automl fit --address` joins the running Ray; then predict and evaluate the run's model."""
    frame = make_mixed_table(n_rows=250, seed=7, task="regression")
    train, test = frame.iloc[:200], frame.iloc[200:]
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_parquet(tmp_path / "test.parquet")
    run_dir = tmp_path / "run"
    cli = [sys.executable, "-m", "automl.cli"]
    fit = subprocess.run(
        [*cli, "fit", str(tmp_path / "train.csv"), "--target", "target", "--max-trials", "4", "--cv-folds", "3",
         "--models", "linear,xgboost", "--test", str(tmp_path / "test.parquet"),
         "--address", ray_instance, "--output", str(run_dir),
         "--register", "prices", "--registry", str(tmp_path / "registry")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    assert f"run directory: {run_dir}" in fit.stdout
    assert "registered: prices v1 [champion]" in fit.stdout  # logged to MLflow, its model registered
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("task", "metric", "n_trials", "n_failed", "best_model", "best_cv_score", "ensemble_cv_score", "wall_s"):
        assert key in summary
    assert summary["task"] == "regression" and summary["metric"] == "rmse" and summary["n_trials"] == 4
    assert len(trials_of(pd.read_csv(run_dir / "leaderboard.csv"))) == 4
    assert "Leaderboard" in (run_dir / "report.html").read_text()

    evaluate = subprocess.run(
        [*cli, "evaluate", str(run_dir / "model"), str(tmp_path / "test.parquet")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert evaluate.returncode == 0, evaluate.stderr
    scores = json.loads(evaluate.stdout)
    assert scores["metric"] == "rmse"
    assert scores["score"] == pytest.approx(summary["test_score"])
    assert scores["score"] < np.std(test["target"])  # better than predicting the mean


@pytest.mark.parametrize("uri", [False, True], ids=["path", "uri"])
def test_spec_file_job(tmp_path, uri):
    """The run directory goes to a path or a URI (here file://; s3:// and gs:// take the same route)."""
    frame = make_mixed_table(n_rows=150, seed=8)
    frame.to_parquet(tmp_path / "train.parquet")
    output = f"file://{tmp_path / 'out'}" if uri else str(tmp_path / "out")
    (tmp_path / "job.yaml").write_text(
        f"name: spec-job\ndata: {{train: {tmp_path / 'train.parquet'}, target: target}}\n"
        f"budget: {{max_trials: 3}}\nsearch: {{models: [linear], cv_folds: 3}}\noutput: {output}\n"
    )
    from automl.job import run_job

    result, directory = run_job(JobSpec.from_yaml(tmp_path / "job.yaml"), show_progress=False)
    assert directory == output
    assert (tmp_path / "out" / "model" / "manifest.json").is_file()
    assert (tmp_path / "out" / "summary.json").is_file() and (tmp_path / "out" / "search").is_dir()
    assert JobSpec.from_yaml(tmp_path / "out" / "job.yaml").output == output  # what `automl resume` reads
    assert result.summary.name == "spec-job" and result.summary.n_trials == 3


def test_batched_quick_trials_are_all_recorded_with_out_of_fold_predictions():
    """The efficiency features (batches, one store call per batch) lose nothing."""
    from automl.search import SearchSettings, run_search

    data = small_trial_data(("linear", "knn"))
    y = data.y
    planned = 60
    result = run_search(data, SearchSettings(max_trials=planned, show_progress=False, keep_models=5))
    assert len(result.rows) == planned
    assert len({r.trial_id for r in result.rows}) == planned
    batches = {r.trial_id.split(".")[0] for r in result.rows}
    assert len(batches) < planned  # quick configurations were batched
    for row in result.rows:
        assert row.status == "done", row.error
        assert np.isfinite(row.outcome.score)
        if row.trial_id in result.fold_models:  # candidates keep their out-of-fold rows, the others drop them
            assert row.outcome.out_of_fold.shape == (len(y), 2)
            assert not np.isnan(row.outcome.out_of_fold).any()
        else:
            assert row.outcome.out_of_fold is None
    # models kept for the best five scores (compared by score: tied trials are interchangeable)
    scores = sorted((r.outcome.score for r in result.rows), reverse=True)[:5]
    kept = sorted((r.outcome.score for r in result.rows if r.trial_id in result.fold_models), reverse=True)[:5]
    assert kept == scores
    # fold models are fetched from the store when asked for, and stay once fetched
    best = max((r for r in result.rows if r.trial_id in result.fold_models), key=lambda r: r.outcome.score)
    assert best.outcome.score == scores[0]  # a kept one among those tied for the best
    models = result.fold_models[best.trial_id]
    assert len(models) == 3 and models[0].predict_proba(data.X.head(2)).shape == (2, 2)
    other = next(t for t in result.fold_models if t != best.trial_id)
    result.close()
    assert result.fold_models[best.trial_id] is models
    with pytest.raises(KeyError):
        result.fold_models[other]  # the store is gone


def test_repeated_bagging_cross_validates_the_best_trials_on_a_second_split():
    """On the job's Ray, within the share a long budget sets aside: the best trials again
    on folds of another seed, their out-of-fold predictions averaged, both bags kept."""
    from automl.budget import Budget
    from automl.evaluation.metrics import get_metric
    from automl.job.repeats import REPEAT_TRIALS, repeat_best, reserve_repeats
    from automl.pipeline.trial import TrialRow, evaluate_config, join_config

    data = small_trial_data(("linear", "knn"), n_rows=150)
    rows, fold_models = [], {}
    for index, (family, params) in enumerate(
        [("linear", {"C": c}) for c in (0.01, 0.1, 1.0)]
        + [("knn", {"n_neighbors": k, "weights": "uniform"}) for k in (3, 7)]
    ):
        outcome = evaluate_config(join_config(family, params), data)
        fold_models[f"t.{index}"] = outcome.fold_models
        rows.append(TrialRow.of(f"t.{index}", outcome))
    metric = get_metric("roc_auc")
    short = Budget(60.0)
    reserve_repeats(short, len(data.folds))
    assert repeat_best(rows, fold_models, data, metric, short, 1.0) == {}  # a short budget sets no time aside
    budget = Budget(300.0)
    reserve_repeats(budget, len(data.folds))
    repeated = repeat_best(rows, fold_models, data, metric, budget, 1.0)
    best = sorted(rows, key=lambda r: r.outcome.score, reverse=True)[:REPEAT_TRIALS]
    assert set(repeated) == {r.trial_id for r in best}
    for row in best:
        got = repeated[row.trial_id]
        assert len(got.fold_models) == 2 * len(data.folds)
        assert got.fold_models[: len(data.folds)] == fold_models[row.trial_id]
        assert not np.allclose(got.out_of_fold, row.outcome.out_of_fold)  # another split's predictions in it
        assert got.score == pytest.approx(metric(data.y, got.out_of_fold, 2))


def test_the_driver_evaluates_the_first_configurations_while_tune_starts():
    """The fallback and what fits a share of the budget run in the driver; Tune's points
    leave them out, so none is evaluated twice, and they are the search's trials like any."""
    from automl.models import get_family
    from automl.pipeline.trial import join_config
    from automl.search.runner import SearchSettings, run_search

    # families whose spaces are too large for a sampled configuration to repeat a default by
    # chance (k-NN's two small dimensions hold about 24 configurations)
    data = small_trial_data(("linear", "extra_trees"), n_rows=150)
    floor = join_config("linear", get_family("linear").default_params(150, "binary"))
    trees = join_config("extra_trees", get_family("extra_trees").default_params(150, "binary"))
    settings = SearchSettings(
        time_budget_s=12.0, floor_config=floor, prior_pace={"linear": 0.2, "extra_trees": 0.2}, show_progress=False
    )
    result = run_search(data, settings)
    try:
        driver = [r for r in result.rows if r.trial_id.startswith("driver-")]
        assert [join_config(r.family, r.params) for r in driver] == [floor, trees]
        assert all(r.status.value == "done" for r in driver)
        configs = [json.dumps(join_config(r.family, r.params), sort_keys=True) for r in result.rows]
        assert (
            configs.count(json.dumps(floor, sort_keys=True)) == 1
            and configs.count(json.dumps(trees, sort_keys=True)) == 1
        )
        assert len(result.succeeded) > len(driver)  # Tune's trials ran beside them
        best = max(driver, key=lambda r: r.outcome.score)
        assert best.trial_id in result.fold_models
    finally:
        result.close()


def test_until_ray_is_up_the_driver_goes_on_with_points_it_would_leave_to_tune(tmp_path):
    """A search that starts Ray itself: the driver fits the fallback, then goes on with a
    point too costly for its share once Ray is up, and hands its outcomes to the store
    once it exists; Tune leaves that point out."""
    from automl.models import get_family
    from automl.pipeline.trial import join_config
    from automl.search.journal import SearchJournal
    from automl.search.runner import SearchSettings, run_search
    from automl.search.warm_start import driver_points

    data = small_trial_data(("linear", "extra_trees"), n_rows=150)
    floor = join_config("linear", get_family("linear").default_params(150, "binary"))
    trees = join_config("extra_trees", get_family("extra_trees").default_params(150, "binary"))
    pace = {"linear": 0.2, "extra_trees": 4.0}  # within a trial's most (0.4 of 10 s), beyond a quarter
    assert driver_points([floor, trees], pace, 10.0, floor) == [floor]  # with Ray up, Tune's to run
    journal = str(tmp_path / "journal")
    settings = SearchSettings(
        time_budget_s=10.0, floor_config=floor, prior_pace=pace, show_progress=False, journal=journal
    )

    def start_ray() -> None:  # Ray is running: "starting" it lasts until the driver is done
        deadline = time.monotonic() + 120
        while any(t.name == "automl-warm-start" for t in threading.enumerate()) and time.monotonic() < deadline:
            time.sleep(0.05)

    result = run_search(data, settings, start_ray=start_ray)
    try:
        driver = [r for r in result.rows if r.trial_id.startswith("driver-")]
        assert [join_config(r.family, r.params) for r in driver] == [floor, trees]
        assert all(r.status.value == "done" for r in driver)
        configs = [json.dumps(join_config(r.family, r.params), sort_keys=True) for r in result.rows]
        assert configs.count(json.dumps(trees, sort_keys=True)) == 1
        assert {r.trial_id for r in driver} <= set(SearchJournal(journal).load().outcomes)  # the store took them
        assert len(result.succeeded) > len(driver)  # Tune's trials ran after
    finally:
        result.close()
