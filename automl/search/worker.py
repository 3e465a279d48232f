"""What runs in the trial workers: kept light, because every worker imports it at start.

It imports Ray Tune's session API, the trial evaluation and the store's thresholds, and
not the driver's side (Optuna, the Tuner, progress display).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import ray
from ray import tune
from threadpoolctl import threadpool_limits

from automl.evaluation.metrics import get_metric
from automl.search.batching_keys import BATCH_KEY, EXPECTED_KEY, IDS_KEY
from automl.search.store import ModelThresholds
from automl.search.trial import TrialData, TrialOutcome, evaluate_config, split_config

_pinned = threading.local()  # per thread: the thread count already applied


def pin_threads(n_threads: int) -> None:
    """Limit BLAS / OpenMP pools to the CPUs the trial holds, once per thread.

    Oversubscribed pools make small fits many times slower. OpenMP's limit belongs to the
    calling thread, and Tune runs each trial in a new thread, whose pools start from the
    process default: a worker that imported the libraries before Ray set its
    OMP_NUM_THREADS (one preloaded as Ray starts) would run every later trial on all
    cores. Inspecting the pools costs milliseconds, so a thread does it once.
    """
    if getattr(_pinned, "n_threads", None) == n_threads:
        return
    import lightgbm  # noqa: F401  (load their OpenMP runtimes before limiting them)
    import xgboost  # noqa: F401

    threadpool_limits(limits=n_threads)
    _pinned.n_threads = n_threads


_thresholds: list[ModelThresholds] = []  # per worker process: the store's last bar


def run_trial(config: dict[str, Any], data: TrialData, store: Any) -> None:
    """Tune's trainable: evaluate a batch of configurations, hand the outcomes to the store.

    One store call and one Tune report per batch, whatever its size.
    """
    pin_threads(data.n_threads)
    metric = get_metric(data.metric)
    bar = _thresholds[-1] if _thresholds else ModelThresholds(metric.greater_is_better)
    outcomes: dict[str, TrialOutcome] = {}
    seconds: list[float] = []
    expected = config.get(EXPECTED_KEY) or [None] * len(config[IDS_KEY])
    for key, item, expected_s in zip(config[IDS_KEY], config[BATCH_KEY], expected, strict=True):
        started = time.perf_counter()
        reason = _no_time_for(expected_s, data.deadline)
        if reason:
            family, params = split_config(item)
            outcome = TrialOutcome(family, params, error=reason, stopped=True)
        else:
            outcome = evaluate_config(item, data)
        if outcome.ok and not bar.wants(outcome.score, outcome.family):
            outcome.fold_models = None  # not an ensemble candidate: don't ship the models
        outcomes[key] = outcome
        seconds.append(time.perf_counter() - started)
    _thresholds[:] = [ray.get(store.add_many.remote(outcomes))]
    statuses = [("done", o.score) if o.ok else ("stopped" if o.stopped else "failed", None) for o in outcomes.values()]
    scores = [score for status, score in statuses if status == "done"]
    best = (max if metric.greater_is_better else min)(scores) if scores else math.nan
    # seconds per configuration, so the searcher learns each family's pace: only from
    # configurations that ran all their folds (a stopped or failed one tells too little)
    paces = [s if o.ok else None for s, o in zip(seconds, outcomes.values(), strict=True)]
    tune.report({"score": best, "outcomes": statuses, "seconds": paces})


def _no_time_for(expected_s: float | None, deadline: float | None) -> str | None:
    """Why a configuration should not start: the time budget is over, or its family's pace
    says it would not finish before it (its folds would be stopped and thrown away)."""
    if deadline is None:
        return None
    left = deadline - time.time()
    if left <= 0:
        return "stopped at the time budget before it started"
    if expected_s is not None and expected_s > left:
        return f"not started: its family took {expected_s:.1f}s a configuration, {left:.1f}s of the budget was left"
    return None
