"""The strategy benchmark end to end on real Ray: runs as Ray tasks, traces, report, resume,
a strategy registered here, the fold reports a scheduler acts on, reproducibility, and the
replay (on a benchmark directory of synthetic traces)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
import strategy_plugins
from fake_benchmark import STRATEGIES, write_fake_benchmark
from tables import make_mixed_table

from automl.benchmark import RunSettings, load_suite, run_benchmark
from automl.benchmark.replay import run_replay
from automl.benchmark.runs import META, RunKey, read_run
from automl.search.strategies import Strategy, register_strategy, unregister_strategy

SETTINGS = RunSettings(max_trials=3, cv_folds=3, models=("linear", "knn"))


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    make_mixed_table(160, seed=1).to_parquet(root / "binary.parquet")
    make_mixed_table(160, seed=2, task="regression").to_parquet(root / "regression.parquet")
    (root / "suite.yaml").write_text(
        "name: tiny\ntables:\n"
        "  - {name: bin, source: binary.parquet, target: target, task: binary}\n"
        "  - {name: reg, source: regression.parquet, target: target, task: regression}\n"
    )
    return load_suite(root / "suite.yaml")


@pytest.fixture(scope="module")
def first_fold():
    """A strategy registered in the test (random sampling, a scheduler that stops every
    trial after its first fold): benchmarked with no other change."""
    ray.cloudpickle.register_pickle_by_value(strategy_plugins)  # workers get it by value
    strategy = register_strategy(
        Strategy(
            "test-first-fold",
            strategy_plugins.random_sampler,
            scheduler=strategy_plugins.first_fold_scheduler,
            batched=False,
            space="random, every trial stopped after one fold",
        )
    )
    try:
        yield strategy
    finally:
        unregister_strategy(strategy.name)
        ray.cloudpickle.unregister_pickle_by_value(strategy_plugins)


@pytest.fixture(scope="module")
def bench(ray_instance, suite, first_fold, tmp_path_factory):
    output = tmp_path_factory.mktemp("bench")
    result = run_benchmark(suite, ["tpe", "test-first-fold"], SETTINGS, seeds=1, output=output)
    return output, result


def test_a_tiny_benchmark_writes_traces_a_report_and_plots(bench):
    output, result = bench
    assert not result.failed and len(result.ran) == 4 and not result.skipped
    for key in result.ran:
        meta, trace = read_run(key, output)
        assert meta["cpu_share"] == 1.0 and meta["folds"] == 3
        assert len(trace) == 3 and trace["trial"].tolist() == [0, 1, 2]
        assert set(trace["family"]) <= {"linear", "knn"}
        best = trace["best_so_far"].dropna()
        assert best.is_monotonic_increasing if meta["greater_is_better"] else best.is_monotonic_decreasing
    assert result.report == output / "report.html"
    page = result.report.read_text()
    assert "data:image/png;base64," in page and "test-first-fold" in page
    assert (output / "plots" / "anytime-bin.png").is_file() and (output / "report.md").is_file()


def test_a_scheduler_strategy_reports_each_fold_and_its_stopped_trials_are_traced(bench):
    output, _ = bench
    meta, trace = read_run(RunKey("bin", "test-first-fold", 0), output)
    assert meta["scheduler"] is True
    assert (trace["status"] == "stopped").all() and (trace["folds_done"] == 1).all()
    assert trace["fold_scores"].map(len).tolist() == [1, 1, 1]
    _, tpe = read_run(RunKey("bin", "tpe", 0), output)
    assert (tpe["status"] == "done").all() and (tpe["folds_done"] == 3).all()


def test_the_same_seed_proposes_the_same_configurations_again(bench, suite, tmp_path):
    output, _ = bench
    again = run_benchmark(suite.select(["bin"]), ["tpe"], SETTINGS, seeds=1, output=tmp_path, report=False)
    assert len(again.ran) == 1
    _, first = read_run(RunKey("bin", "tpe", 0), output)
    _, second = read_run(RunKey("bin", "tpe", 0), tmp_path)
    assert first["params"].tolist() == second["params"].tolist()
    assert first["family"].tolist() == second["family"].tolist()
    pd.testing.assert_series_equal(first["score"], second["score"])


def test_an_interrupted_benchmark_run_again_runs_only_what_is_missing(ray_instance, suite, tmp_path):
    """Ctrl-C (SIGINT) to a running `automl benchmark`, one run at a time: the finished run
    is kept, the interrupted one left without meta.json, and the same command runs it."""
    output = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "automl.cli",
        "benchmark",
        str(suite_path(suite)),
        "--tables",
        "bin",
        "--strategies",
        "tpe,random",
        "--max-trials",
        "3",
        "--cv-folds",
        "3",
        "--models",
        "linear,knn",
        "--cpus-per-run",
        "2",
        "--output",
        str(output),
    ]
    first = RunKey("bin", "tpe", 0)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (first.directory(output) / META).is_file():
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    interrupted = RunKey("bin", "random", 0)
    assert not (interrupted.directory(output) / META).exists()
    settings = RunSettings(max_trials=3, cv_folds=3, cpus_per_run=2, models=("linear", "knn"))
    resumed = run_benchmark(suite.select(["bin"]), ["tpe", "random"], settings, seeds=1, output=output)
    assert [str(k) for k in resumed.ran] == [str(interrupted)] and [str(k) for k in resumed.skipped] == [str(first)]
    assert resumed.report is not None


def suite_path(suite) -> str:
    return str(Path(suite.tables[0].source).parent / "suite.yaml")


def test_a_benchmark_of_other_settings_in_the_same_directory_is_refused(bench, suite):
    from automl.errors import SpecError

    output, _ = bench
    with pytest.raises(SpecError, match="other settings .*max_trials"):
        run_benchmark(
            suite, ["tpe"], RunSettings(max_trials=5, cv_folds=3, models=("linear", "knn")), seeds=1, output=output
        )


def test_replay_runs_every_strategy_on_a_surrogate_and_is_seeded(ray_instance, tmp_path):
    bench = write_fake_benchmark(tmp_path)
    report = run_replay(bench, seeds=2, max_trials=10)
    summary = json.loads((bench / "replay" / "summary.json").read_text())
    first = pd.read_parquet(bench / "replay" / "runs.parquet")
    assert set(first["strategy"]) == set(STRATEGIES) and (first.groupby(["table", "strategy"]).size() == 2).all()
    assert [row["table"] for row in summary["agreement"]] == [f"t{i}" for i in range(5)] + ["mean over tables"]
    assert all(q > 0.3 for q in summary["surrogate_quality"].values())  # it learnt the forests' lead (0 at random)
    assert (first["trials"] > 0).all() and (first["trials"] <= 10).all()
    assert "| t0 |" in report.read_text()
    run_replay(bench, seeds=2, max_trials=10)
    pd.testing.assert_frame_equal(first, pd.read_parquet(bench / "replay" / "runs.parquet"))
