"""Search overhead: our Ray Tune path against plain sequential Optuna, side by side.

The same objective (3-fold CV of an XGBoost model on scikit-learn's breast_cancer, its
number of trees calibrated to a target trial duration) and the same trial count run
(a) in plain sequential Optuna in this process, threads pinned to one, and
(b) through `automl.search.run_search` on a new local Ray with CPUS CPUs, started for
each search as `automl fit` starts it.

    efficiency = (sequential time / CPUS) / our time       (1.0: no overhead at all)

Also printed: `ray.init`'s seconds, time to the first finished trial (Ray start included) and the driver's
resident memory after 50 and after 500 finished trials.

    python benchmarks/overhead.py [--cpus 2] [--sizes 0.05,0.2,1,2] [--memory-trials 500]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import optuna
import pandas as pd
import psutil
from sklearn.datasets import load_breast_cancer
from threadpoolctl import threadpool_limits

from automl.data import coerce_features, infer_schema, make_folds
from automl.models.base import ModelFamily
from automl.pipeline.trial import TrialData, evaluate_config
from automl.search.space import ConditionalSpace, make_sampler


class FixedCostXGBoost(ModelFamily):
    """XGBoost whose cost is set by `n_estimators`: every tree is grown to full depth, so
    the searched learning rate and seed change the model but not the work."""

    key = "fixed_cost"

    def __init__(self, n_estimators: int) -> None:
        self.n_estimators = n_estimators

    def search_space(self, trial: Any, n_rows: int, task: str) -> None:
        trial.suggest_float("learning_rate", 0.01, 0.3, log=True)
        trial.suggest_int("random_state", 0, 1000)

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {"learning_rate": 0.1, "random_state": 0}

    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> Any:
        import xgboost as xgb

        return xgb.XGBClassifier(
            n_estimators=self.n_estimators, max_depth=4, min_child_weight=0, reg_lambda=1.0, tree_method="hist",
            n_jobs=n_threads, verbosity=0, **params,
        )  # fmt: skip


def make_data(n_estimators: int) -> TrialData:
    frame = load_breast_cancer(as_frame=True).frame
    schema = infer_schema(frame, "target")
    y = frame["target"].to_numpy()
    return TrialData(
        X=coerce_features(frame, schema), y=y, schema=schema,
        folds=make_folds(y, classification=True, n_folds=3, seed=0), metric="roc_auc",
        families={"fixed_cost": FixedCostXGBoost(n_estimators)}, seed=0, n_threads=1,
    )  # fmt: skip


def trial_seconds(n_estimators: int, repeats: int = 3) -> float:
    data = make_data(n_estimators)
    config = {"model": "fixed_cost", "fixed_cost__learning_rate": 0.1, "fixed_cost__random_state": 0}
    times = []
    with threadpool_limits(1):
        for _ in range(repeats):
            start = time.perf_counter()
            evaluate_config(config, data)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def calibrate(target_s: float) -> int:
    """Trees for a trial of about `target_s`: a straight line through two timings, refined once."""
    small, large = 5, 80
    t_small, t_large = trial_seconds(small), trial_seconds(large)
    # a noisy pair of timings can make the slope near zero and the tree count explode:
    # a tree costs at least a quarter of the large model's average
    per_tree = max((t_large - t_small) / (large - small), t_large / large / 4)
    trees = max(1, round(small + (target_s - t_small) / per_tree))
    if trees <= small:
        return trees
    measured = trial_seconds(trees)
    per_tree = max((measured - t_small) / (trees - small), t_large / large / 4)
    return max(1, round(trees + (target_s - measured) / per_tree))


def sequential_optuna(data: TrialData, n_trials: int, timeout_s: float) -> tuple[float, int]:
    """Seconds for `n_trials` in plain Optuna, and the trials run: fewer when a noisy
    calibration made trials longer than planned and `timeout_s` ended the study first."""
    space = ConditionalSpace(data.families, len(data.y), "binary")
    study = optuna.create_study(direction="maximize", sampler=make_sampler("tpe", 0))

    def objective(trial: optuna.Trial) -> float:
        space(trial)
        return evaluate_config(dict(trial.params), data).score

    start = time.perf_counter()
    with threadpool_limits(1):
        study.optimize(objective, n_trials=n_trials, timeout=timeout_s)
    return time.perf_counter() - start, len(study.trials)


class MemoryProbe:
    """A Tune callback recording the driver's RSS once given numbers of configurations finished."""

    def __init__(self, checkpoints: tuple[int, ...]) -> None:
        from ray.tune import Callback

        probe = self

        class _Callback(Callback):
            def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
                probe.finished += len(result.get("outcomes", []))
                for mark in checkpoints:
                    if probe.finished >= mark and mark not in probe.rss_mb:
                        probe.rss_mb[mark] = psutil.Process().memory_info().rss / 2**20

        self.finished = 0
        self.rss_mb: dict[int, float] = {}
        self.callback = _Callback()


def _search_in_new_ray(
    cpus: int, data: TrialData, n_trials: int, callbacks: list[Any] | None = None
) -> tuple[float, Any]:
    """Seconds `ray.init` took, and the search's result, in a new local Ray as `automl fit` starts it."""
    from automl.job import WORKER_PRELOAD, ray_session
    from automl.search import SearchSettings, run_search

    started = time.perf_counter()
    with ray_session("local", num_cpus=cpus, preload=WORKER_PRELOAD):
        ray_start_s = time.perf_counter() - started
        result = run_search(data, SearchSettings(max_trials=n_trials, show_progress=False), callbacks or [])
        result.close()
    return ray_start_s, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--sizes", default="0.05,0.2,1,2", help="target trial durations in seconds")
    parser.add_argument("--work-s", type=float, default=60.0, help="sequential seconds of work per size")
    parser.add_argument("--memory-trials", type=int, default=500)
    args = parser.parse_args()

    rows = []
    for target in (float(s) for s in args.sizes.split(",")):
        trees = calibrate(target)  # before Ray starts: its workers' imports would skew the timings
        n_trials = max(8, int(args.work_s / trial_seconds(trees)))
        sequential, n_trials = sequential_optuna(make_data(trees), n_trials, timeout_s=2 * args.work_s)
        ray_start_s, result = _search_in_new_ray(args.cpus, make_data(trees), n_trials)
        done = sum(r.status == "done" for r in result.rows)
        rows.append({
            "trial_s": round(sequential / n_trials, 3),
            "trials": n_trials,
            "completed": done,
            "sequential_s": round(sequential, 2),
            "ours_s": round(result.wall_s, 2),
            "limit_s": round(sequential / args.cpus, 2),
            "efficiency": round(sequential / args.cpus / result.wall_s, 3),
            "ray_init_s": round(ray_start_s, 2),
            "first_trial_s": round(ray_start_s + (result.first_result_s or float("nan")), 2),
        })  # fmt: skip
        print(rows[-1], flush=True)

    probe = MemoryProbe((50, args.memory_trials))
    _, memory = _search_in_new_ray(args.cpus, make_data(calibrate(0.05)), args.memory_trials, [probe.callback])

    print(f"\nCPUs: {args.cpus}; each search in a new local Ray, as `automl fit` runs it")
    print(pd.DataFrame(rows).to_string(index=False))
    before, after = probe.rss_mb.get(50, float("nan")), probe.rss_mb.get(args.memory_trials, float("nan"))
    print(
        f"\ndriver RSS: {before:.0f} MiB after 50 trials, {after:.0f} MiB after {args.memory_trials} "
        f"(ratio {after / before:.2f}); {sum(r.status == 'done' for r in memory.rows)} trials completed "
        f"in {memory.wall_s:.1f}s"
    )


if __name__ == "__main__":
    main()
