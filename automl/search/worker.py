"""What runs in the trial workers: kept light, because every worker imports it at start.

It imports Ray Tune's session API, the trial evaluation and the store's thresholds, and
not the driver's side (Optuna, the Tuner, progress display).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import ray
from ray import tune
from ray.actor import ActorHandle
from threadpoolctl import threadpool_limits

from automl.evaluation.metrics import get_metric
from automl.pipeline.trial import TrialData, TrialOutcome, TrialStatus, evaluate_config, split_config
from automl.search.batching_keys import BATCH_KEY, EXPECTED_KEY, IDS_KEY, PARTIAL_KEY, REPORT_FOLDS_KEY
from automl.search.store import ModelThresholds, TrialStore, status_of

#: how long a worker ending a hung batch waits for the store to take its outcomes: the
#: worker is ended either way, and a store restarting from its journal may not answer
HUNG_BATCH_STORE_TIMEOUT_S = 30.0

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


def run_trial(config: dict[str, Any], data: TrialData, store: ActorHandle[TrialStore]) -> None:
    """Tune's trainable: evaluate a batch of configurations, hand the outcomes to the store.

    One store call and one Tune report per batch, whatever its size (plus one to learn
    which of the batch's configurations the store already holds: a batch run again after
    its worker died does not evaluate those again). A scheduler's trial, one
    configuration, also reports after each fold but the last (`_fold_reporter`).
    """
    pin_threads(data.n_threads)
    metric = get_metric(data.metric)
    bar = _thresholds[-1] if _thresholds else ModelThresholds(metric.greater_is_better)
    ids, items = list(config[IDS_KEY]), list(config[BATCH_KEY])
    known: dict[str, tuple[TrialStatus, float | None]] = ray.get(store.statuses.remote(ids))
    outcomes: dict[str, TrialOutcome] = {}
    seconds: dict[str, float | None] = {}
    expected = config.get(EXPECTED_KEY) or [None] * len(ids)
    for index, (key, item, expected_s) in enumerate(zip(ids, items, expected, strict=True)):
        if key in known:
            continue
        started = time.perf_counter()
        family, params = split_config(item)
        # an early-stopping family's rounds end on the round clock: it fits the time left
        clocked = family in data.families and data.families[family].early_stopping
        reason = _no_time_for(None if clocked else expected_s, data.deadline)
        if reason:
            outcome = TrialOutcome(family, params, error=reason, stopped=True)
        else:
            limits = replace(data, max_trial_s=None) if item == data.floor_config else data
            on_fold = _fold_reporter(len(data.folds)) if config.get(REPORT_FOLDS_KEY) and len(ids) == 1 else None
            with _watchdog(
                limits, functools.partial(_end_hung_batch, store, outcomes, ids[index:], items[index:], data)
            ):
                outcome = evaluate_config(item, limits, on_fold)
        if outcome.ok and not bar.wants(outcome.score, outcome.family):
            # not an ensemble candidate: its models and out-of-fold rows are never needed
            outcome.fold_models = outcome.out_of_fold = None
        outcomes[key] = outcome
        # seconds per configuration, so the searcher learns each family's pace: only from
        # configurations that ran all their folds (a stopped or failed one tells too little)
        seconds[key] = time.perf_counter() - started if outcome.ok else None
    if outcomes:
        _thresholds[:] = [ray.get(store.add_many.remote(outcomes))]
    statuses = [known[key] if key in known else status_of(outcomes[key]) for key in ids]
    scores = [score for status, score in statuses if status is TrialStatus.DONE and score is not None]
    best = (max if metric.greater_is_better else min)(scores) if scores else math.nan
    tune.report(
        {
            "score": best,
            "outcomes": statuses,
            "seconds": [seconds.get(key) for key in ids],
            "fold_scores": [outcomes[key].fold_scores if key in outcomes else [] for key in ids],
        }
    )


def _fold_reporter(n_folds: int) -> Callable[[int, list[float]], None]:
    """Report each fold but the last to Tune (the last one's report is the trial's own):
    the mean score so far, the fidelity a scheduler weighs. Tune's function trials report
    synchronously, so a trial its scheduler stops ends here, before its next fold."""

    def report(fold: int, scores: list[float]) -> None:
        if fold >= n_folds:
            return
        tune.report(
            {
                "score": float(np.mean(scores)),
                "outcomes": [(TrialStatus.STOPPED, None)],
                "seconds": [None],  # not a whole configuration's pace
                "fold_scores": [scores],
                PARTIAL_KEY: f"stopped by its scheduler after {fold} of {n_folds} folds",
            }
        )

    return report


class SearchTrainable:
    """`run_trial` under a name of this search's own.

    Tune keys a trainable, and the parameters `tune.with_parameters` puts in the object
    store, by the trainable's name and `str()` in a registry the whole Ray job shares:
    two searches running at once in one job (a benchmark's runs are tasks of one job)
    would otherwise read each other's data.
    """

    def __init__(self, tag: str) -> None:
        self.__name__ = f"automl_trial_{tag}"

    def __call__(self, config: dict[str, Any], data: TrialData, store: ActorHandle[TrialStore]) -> None:
        run_trial(config, data, store)

    def __str__(self) -> str:
        return self.__name__


@contextlib.contextmanager
def _watchdog(data: TrialData, expire: Callable[[], None]) -> Iterator[None]:
    """Call `expire` if the configuration runs `data.watchdog_grace_s` past its limit.

    The families check their fit clock (`automl.models.base`); a fit that never returns to
    Python to do so (a hung library, a plug-in family without checks) would hold the
    worker, and with no time budget the job, for ever.
    """
    limits = [t for t in (data.deadline, None if data.max_trial_s is None else time.time() + data.max_trial_s) if t]
    if not limits:
        yield
        return
    timer = threading.Timer(max(0.0, min(limits) - time.time()) + data.watchdog_grace_s, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _end_hung_batch(
    store: ActorHandle[TrialStore],
    outcomes: dict[str, TrialOutcome],
    ids: list[str],
    items: list[dict[str, Any]],
    data: TrialData,
) -> None:
    """Record the hung configuration as stopped and the rest of its batch as not started,
    then end the worker: Tune sees it crash, and its retry finds them all in the store."""
    reason = f"stopped: its fit ran {data.watchdog_grace_s:.0f}s past its time limit, so its worker was ended"
    ended = dict(outcomes)
    for position, (key, item) in enumerate(zip(ids, items, strict=True)):
        family, params = split_config(item)
        why = reason if position == 0 else "not started: an earlier configuration of its batch hung"
        ended[key] = TrialOutcome(family, params, error=why, stopped=True)
    try:
        ray.get(store.add_many.remote(ended), timeout=HUNG_BATCH_STORE_TIMEOUT_S)
    finally:
        os._exit(1)


def _no_time_for(expected_s: float | None, deadline: float | None) -> str | None:
    """Why a configuration should not start: the time budget is over, or its family's pace
    says it would not finish before it (its folds would be stopped and thrown away)."""
    if deadline is None:
        return None
    left = deadline - time.time()
    if left <= 0:
        return "stopped at the time budget before it started"
    if expected_s is not None and expected_s > left:
        return (
            f"not started: a configuration of its family is expected to take {expected_s:.1f}s, "
            f"{left:.1f}s of the budget was left"
        )
    return None
