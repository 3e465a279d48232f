"""Run the search: Ray Tune schedules the trials, Optuna chooses them.

The driver puts the data into the object store once, starts a `TrialStore` actor for the
trials' out-of-fold predictions and fold models, and hands Tune a light function
trainable: one report per trial, no checkpoints, no per-trial loggers, actors reused,
and several configurations per Tune trial when configurations are quick (`batching`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

# Per-trial JSON/CSV/TensorBoard loggers cost more than a small trial: results live in
# the TrialStore instead. Set before Tune reads it.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402

from automl.evaluation.metrics import get_metric  # noqa: E402
from automl.search.batching import BatchingSearcher  # noqa: E402
from automl.search.progress import SearchMonitor  # noqa: E402
from automl.search.space import ConditionalSpace, default_points, make_sampler  # noqa: E402
from automl.search.store import TrialStore  # noqa: E402
from automl.search.trial import TrialData, TrialOutcome, split_config  # noqa: E402
from automl.search.worker import run_trial  # noqa: E402


@dataclass
class SearchSettings:
    """How to search: strategy, limits and resources (validated upstream by `JobSpec`)."""

    strategy: str = "tpe"
    seed: int = 0
    max_trials: int | None = None
    time_budget_s: float | None = None
    cpus_per_trial: float = 1.0
    keep_models: int = 20
    show_progress: bool = True
    #: a trial projected to take longer than this share of the time budget stops early
    max_trial_share: float = 0.4
    #: quick configurations are batched into Tune trials of about this many seconds
    target_batch_s: float = 1.0


@dataclass
class TrialRow:
    """One trial as the leaderboard sees it, whatever became of it."""

    trial_id: str
    family: str
    params: dict[str, Any]
    status: str  # done | failed | stopped
    outcome: TrialOutcome | None = None
    error: str | None = None


@dataclass
class SearchResult:
    rows: list[TrialRow]
    fold_models: dict[str, list[Any]] = field(default_factory=dict)
    wall_s: float = 0.0
    first_result_s: float | None = None  # from the call to the first finished trial

    @property
    def finished(self) -> list[TrialRow]:
        return [r for r in self.rows if r.status in ("done", "failed")]

    @property
    def succeeded(self) -> list[TrialRow]:
        return [r for r in self.rows if r.status == "done"]


def run_search(data: TrialData, settings: SearchSettings, callbacks: Sequence[tune.Callback] = ()) -> SearchResult:
    """Search model families and hyperparameters on `data` with Ray Tune + Optuna.

    Ray must already be initialised (see `automl.job.ray_session`).

    Args:
        data: the job's data, folds and families (put into the object store once).
        settings: strategy, limits and resources.
        callbacks: more Tune callbacks (monitoring hooks), called after the progress monitor.
    """
    started = time.monotonic()
    if settings.time_budget_s is not None:
        data.deadline = time.time() + settings.time_budget_s
        data.max_trial_s = settings.max_trial_share * settings.time_budget_s
    metric = get_metric(data.metric)
    n_rows = data.folds.n_rows
    store = ray.remote(TrialStore).options(num_cpus=0).remote(data.metric, settings.keep_models)
    cpus = float(ray.cluster_resources().get("CPU", 1))
    concurrency = max(1, int(cpus // settings.cpus_per_trial))
    if settings.max_trials:
        concurrency = min(concurrency, settings.max_trials)
    optuna_search = OptunaSearch(
        space=ConditionalSpace(data.families, n_rows, data.schema.task),
        metric="score",
        mode=metric.mode,
        points_to_evaluate=default_points(data.families, n_rows, data.schema.task),
        sampler=make_sampler(settings.strategy, settings.seed),
    )
    searcher = BatchingSearcher(
        optuna_search,
        metric="score",
        mode=metric.mode,
        max_configs=settings.max_trials,
        target_batch_s=settings.target_batch_s,
        concurrency=concurrency,
    )
    monitor = SearchMonitor(metric, settings.time_budget_s, settings.max_trials, settings.show_progress)
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, data=data, store=store), {"cpu": settings.cpus_per_trial}
    )
    storage = tempfile.mkdtemp(prefix="automl-tune-")
    try:
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                num_samples=-1,  # the searcher ends the search after max_trials configurations
                time_budget_s=settings.time_budget_s,
                max_concurrent_trials=concurrency,
                reuse_actors=True,
                trial_dirname_creator=_trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=f"search-{uuid.uuid4().hex[:8]}",
                storage_path=storage,
                verbose=0,
                callbacks=[monitor, *callbacks],
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
        with _quiet_tune_logs():
            tuner.fit()
        outcomes: dict[str, TrialOutcome] = ray.get(store.outcomes.remote())
        rows = _rows(monitor, outcomes)
        # the store kept models only for ensemble candidates: ask for any finished trial's
        fold_models = ray.get(store.fold_models.remote([r.trial_id for r in rows if r.status == "done"]))
    finally:
        ray.kill(store)
        shutil.rmtree(storage, ignore_errors=True)
    first = None if monitor.first_done_at is None else monitor.first_done_at - started
    return SearchResult(rows=rows, fold_models=fold_models, wall_s=time.monotonic() - started, first_result_s=first)


def _trial_dirname(trial: Any) -> str:
    return str(trial.trial_id)


@contextlib.contextmanager
def _quiet_tune_logs() -> Iterator[None]:
    """Tune warns that per-trial result files are missing: we disabled them on purpose."""
    logger = logging.getLogger("ray.tune")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _rows(monitor: SearchMonitor, outcomes: dict[str, TrialOutcome]) -> list[TrialRow]:
    """One row per configuration: what the store received, else what Tune saw of its batch."""
    rows = []
    for record in monitor.records.values():  # in start order
        if record.status == "crashed" and len(record.configs) > 1:
            continue  # its configurations were retried one by one
        for row_id, config in zip(record.ids, record.configs, strict=True):
            family, params = split_config(config)
            outcome = outcomes.get(row_id)
            if outcome is not None:
                status = "done" if outcome.ok else "stopped" if outcome.stopped else "failed"
                rows.append(TrialRow(row_id, family, params, status, outcome, outcome.error))
            elif record.status == "crashed":
                rows.append(TrialRow(row_id, family, params, "failed", None, record.error))
            else:
                reason = record.error or "stopped at the time budget before it finished"
                rows.append(TrialRow(row_id, family, params, "stopped", None, reason))
    return rows
