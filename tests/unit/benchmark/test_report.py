"""The benchmark's report and replay, on a benchmark directory written as runs write it:
synthetic traces whose scores follow a known order of the strategies."""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import optuna
import pandas as pd
import pytest

from automl.benchmark.replay import run_replay
from automl.benchmark.report import GRID_POINTS, anytime, load_runs, write_report
from automl.benchmark.runs import META, TRACE, RunKey
from automl.files import json_text
from automl.models import registry
from automl.models.fixed_rounds import fixed_rounds
from automl.search.space import ConditionalSpace, quiet_optuna

STRATEGIES = {"tpe": 0.9, "random": 0.75, "cmaes": 0.6}  # the level each strategy's scores approach
FAMILIES = ["linear", "random_forest"]
BUDGET_S = 20.0


def _write_run(root, table: str, strategy: str, seed: int) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{table}/{strategy}/{seed}".encode()))  # hash() varies per process
    space = ConditionalSpace({k: fixed_rounds(registry.get_family(k)) for k in FAMILIES}, 300, "binary")
    with quiet_optuna():
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        rows, clock, best = [], 2.0, math.nan
        for trial_number in range(12):
            trial = study.ask()
            space(trial)
            seconds = float(rng.uniform(0.5, 1.5))
            clock += seconds
            forest = trial.params["model"] == "random_forest"  # the part of a score a surrogate can learn
            score = STRATEGIES[strategy] - 0.2 * float(rng.random()) / (trial_number + 1) + 0.5 * forest
            best = score if math.isnan(best) else max(best, score)
            params = {k.split("__", 1)[1]: v for k, v in trial.params.items() if k != "model"}
            rows.append(
                {
                    "trial": trial_number,
                    "config_id": f"c{trial_number}",
                    "family": trial.params["model"],
                    "params": json.dumps(params),
                    "status": "done",
                    "score": score,
                    "folds_done": 3,
                    "fold_scores": [score] * 3,
                    "seconds": seconds,
                    "time_s": clock,
                    "best_so_far": best,
                }
            )
    directory = RunKey(table, strategy, seed).directory(root)
    directory.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(directory / TRACE)
    meta = {
        "table": table,
        "strategy": strategy,
        "seed": seed,
        "task": "binary",
        "metric": "roc_auc",
        "greater_is_better": True,
        "n_rows": 300,
        "families": FAMILIES,
        "dummy_score": 0.5,
        "cpu_share": 1.0,
        "sampled": {"relative": 0, "independent": 30},
        "random_fallback": strategy == "cmaes",
        "scheduler": False,
        "space": "test",
        "done": len(rows),
        "best": best,
        "settings": {
            "time_budget_s": BUDGET_S,
            "max_trials": None,
            "cv_folds": 3,
            "portfolio": False,
            "early_stopping": False,
        },
    }
    (directory / META).write_text(json_text(meta))


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    for table in [f"t{i}" for i in range(5)]:
        for strategy in STRATEGIES:
            for seed in range(2):
                _write_run(root, table, strategy, seed)
    return root


def test_the_report_has_the_final_table_tests_and_plots(bench):
    html_path = write_report(bench)
    text = (bench / "report.md").read_text()
    assert "Friedman p = " in text and "Nemenyi critical difference" in text
    assert "mean ranks tpe 1.00, random 2.00, cmaes 3.00" in text
    final = pd.read_csv(bench / "final.csv")
    assert set(final["strategy"]) == set(STRATEGIES) and (final["seeds"] == 2).all()
    assert (final[final["strategy"] == "tpe"]["normalised"] > 0.99).all()
    for name in ["anytime-t0.png", "normalised.png", "ranks.png", "cd-25.png", "cd-50.png", "cd-100.png"]:
        assert (bench / "plots" / name).stat().st_size > 1000
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") == 5 + 2 + 3 and "src='plots/" not in page
    assert "Wilcoxon signed-rank against the best" in text


def test_anytime_best_never_gets_worse_and_is_the_dummy_before_a_first_result(bench):
    runs = load_runs(bench)
    curves = anytime(runs, np.linspace(0, BUDGET_S, GRID_POINTS))
    for _, run in curves.groupby(["table", "strategy", "seed"]):
        best = run["best"].dropna().to_numpy()
        assert len(best) and np.all(np.diff(best) >= 0)
        assert (run[run["best"].isna()]["normalised"] == 0.0).all()
    assert curves[curves["x"] == 0.0]["best"].isna().all()  # the first result comes after the start-up


def test_replay_runs_every_strategy_on_a_surrogate_and_is_seeded(bench):
    report = run_replay(bench, seeds=3, max_trials=15)
    summary = json.loads((bench / "replay" / "summary.json").read_text())
    first = pd.read_parquet(bench / "replay" / "runs.parquet")
    assert set(first["strategy"]) == set(STRATEGIES) and (first.groupby(["table", "strategy"]).size() == 3).all()
    assert [row["table"] for row in summary["agreement"]] == [f"t{i}" for i in range(5)] + ["mean over tables"]
    assert all(q > 0.3 for q in summary["surrogate_quality"].values())  # it learnt the forests' lead (0 at random)
    assert (first["trials"] > 0).all() and (first["trials"] <= 15).all()
    assert "| t0 |" in report.read_text()
    run_replay(bench, seeds=3, max_trials=15)
    pd.testing.assert_frame_equal(first, pd.read_parquet(bench / "replay" / "runs.parquet"))
