"""A benchmark directory as runs write it, with synthetic traces whose scores follow a
known order of the strategies (the report's unit tests and the replay's integration test)."""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import optuna
import pandas as pd

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


def write_fake_benchmark(root, tables: int = 5, seeds: int = 2):
    for table in [f"t{i}" for i in range(tables)]:
        for strategy in STRATEGIES:
            for seed in range(seeds):
                _write_run(root, table, strategy, seed)
    return root
