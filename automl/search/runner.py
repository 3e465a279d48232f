"""Run the search: Ray Tune schedules the trials, Optuna chooses them.

The driver puts the data into the object store once, starts a `TrialStore` actor for the
trials' out-of-fold predictions and fold models, and hands Tune a light function
trainable: one report per trial, no checkpoints, no per-trial loggers, actors reused,
and several configurations per Tune trial when configurations are quick (`batching`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# Per-trial JSON/CSV/TensorBoard loggers cost more than a small trial: results live in
# the TrialStore instead. Set before Tune reads it.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402

from automl.errors import DataError  # noqa: E402
from automl.evaluation.metrics import get_metric  # noqa: E402
from automl.pipeline.trial import TrialData, TrialOutcome, TrialRow, TrialStatus, evaluate_config, split_config  # noqa: E402
from automl.search.batching import BatchingSearcher  # noqa: E402
from automl.search.journal import JournalState, SearchJournal  # noqa: E402
from automl.search.progress import SearchMonitor  # noqa: E402
from automl.search.resume import remaining_defaults, restored_storage  # noqa: E402
from automl.search.space import ConditionalSpace, default_points, make_sampler  # noqa: E402
from automl.search.store import TrialStore  # noqa: E402
from automl.search.worker import pin_threads, run_trial  # noqa: E402


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
    #: quick configurations are batched into Tune trials of about this many seconds. Longer
    #: than a trial actor takes to start (~3 s with our imports on 2 CPUs): with shorter
    #: trials, Tune hands a staged trial to a freed cached actor and kills the actor that
    #: was starting for it, again and again, so one actor does all the work while worker
    #: processes are started and killed beside it.
    target_batch_s: float = 4.0
    #: a trial projected to take longer than this is stopped between folds
    trial_timeout_s: float | None = None
    #: Tune retries a trial whose worker or node died this many times
    max_retries: int = 1
    #: the job's share of the cluster: at most this many CPUs busy at once (None: all)
    max_cpus: float | None = None
    #: where the journal goes (a path or URI; None: no journal, no resume)
    journal: str | None = None
    #: continue the journal's search instead of starting afresh
    resume: bool = False
    #: the training table's fingerprint: a resume refuses a journal of another table
    fingerprint: str | None = None
    #: memory each trial declares to Ray (bytes), so Ray decides how many fit at once
    trial_memory_bytes: int | None = None
    #: when no trial has succeeded at the end, evaluate this configuration (the cheapest
    #: family's default) in the driver, so that a budget judged large enough gives a model
    floor_config: dict[str, Any] | None = None


class StoredModels(Mapping[str, list[Any]]):
    """The fold models the search kept, fetched from its store when first asked for.

    Fetching every candidate's models when the search ended took 6 s of a 60 s job on a
    2,300-row table (forests, five folds each); the final model needs only its members'.
    `close` ends the store: nothing more can be fetched afterwards.
    """

    def __init__(self, store: Any, kept: list[str], scratch: str | None = None) -> None:
        self._store = store
        self._kept = list(kept)
        self._fetched: dict[str, list[Any]] = {}
        self._scratch = scratch  # a journal of our own, kept while the store may restart from it

    def __getitem__(self, trial_id: str) -> list[Any]:
        if trial_id not in self._fetched:
            if trial_id not in self._kept or self._store is None:
                raise KeyError(trial_id)
            self._fetched.update(ray.get(self._store.fold_models.remote([trial_id])))
        return self._fetched[trial_id]

    def __contains__(self, trial_id: object) -> bool:
        return trial_id in self._kept

    def __iter__(self) -> Iterator[str]:
        return iter(self._kept)

    def __len__(self) -> int:
        return len(self._kept)

    def close(self) -> None:
        if self._store is not None:
            ray.kill(self._store, no_restart=True)
            self._store = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


@dataclass
class SearchResult:
    """What a search found. Call `close` once the fold models are no longer needed."""

    rows: list[TrialRow]
    fold_models: Mapping[str, list[Any]] = field(default_factory=dict)
    wall_s: float = 0.0
    first_result_s: float | None = None  # from the call to the first finished trial
    retried: int = 0  # trials run again after their worker or node died
    concurrency: int = 1  # trials run at once, at most (the job's share of the cluster)

    def close(self) -> None:
        """End the store that holds the fold models (they stay available if fetched)."""
        if isinstance(self.fold_models, StoredModels):
            self.fold_models.close()

    @property
    def finished(self) -> list[TrialRow]:
        return [r for r in self.rows if r.status in (TrialStatus.DONE, TrialStatus.FAILED)]

    @property
    def succeeded(self) -> list[TrialRow]:
        return [r for r in self.rows if r.status is TrialStatus.DONE]


def run_search(data: TrialData, settings: SearchSettings, callbacks: Sequence[tune.Callback] = ()) -> SearchResult:
    """Search model families and hyperparameters on `data` with Ray Tune + Optuna.

    Ray must already be initialised (see `automl.job.ray_session`).

    Args:
        data: the job's data, folds and families (put into the object store once).
        settings: strategy, limits and resources.
        callbacks: more Tune callbacks (monitoring hooks), called after the progress monitor.
    """
    started = time.monotonic()
    scratch = None if settings.journal else tempfile.mkdtemp(prefix="automl-journal-")
    journal = SearchJournal(settings.journal or scratch)  # type: ignore[arg-type]
    restored = _restore(journal, settings.fingerprint) if settings.resume else JournalState(meta={})
    budget = settings.time_budget_s
    if budget is not None:
        budget = max(0.0, budget - restored.elapsed_s)
        data.deadline = time.time() + budget
        data.max_trial_s = settings.max_trial_share * budget
    if settings.trial_timeout_s is not None:
        data.max_trial_s = min(data.max_trial_s or math.inf, settings.trial_timeout_s)
    data.floor_config = settings.floor_config or None
    metric = get_metric(data.metric)
    n_rows = data.folds.n_rows
    meta = {
        "metric": data.metric,
        "max_trials": settings.max_trials,
        "time_budget_s": budget,
        "fingerprint": settings.fingerprint,
        "n_splits": len(data.folds),  # a resume validates on the same split (k folds or a holdout)
    }
    journal.start(meta, resume=settings.resume)
    left = None if settings.max_trials is None else settings.max_trials - len(restored.outcomes)
    store = (
        ray.remote(TrialStore)
        .options(
            name=f"automl-trial-store-{uuid.uuid4().hex[:8]}",
            num_cpus=0,
            scheduling_strategy=_this_node(),  # lives and dies with the driver's node
            max_restarts=-1,  # restarted from the journal; calls in flight are retried on it
            max_task_retries=-1,
        )
        .remote(data.metric, settings.keep_models, journal, time.time() - restored.elapsed_s)
    )
    cpus = float(ray.cluster_resources().get("CPU", 1))
    if settings.max_cpus is not None:
        cpus = min(cpus, settings.max_cpus)
    concurrency = max(1, int(cpus // settings.cpus_per_trial))
    resources = _trial_resources(settings)
    if "memory" in resources:  # Ray holds back what does not fit; the count says so up front
        memory = float(ray.cluster_resources().get("memory", 0.0))
        concurrency = max(1, min(concurrency, int(memory // resources["memory"])))
    if left is not None:
        concurrency = max(1, min(concurrency, left))
    space = ConditionalSpace(data.families, n_rows, data.schema.task)
    optuna_search = OptunaSearch(
        space=space,
        metric="score",
        mode=metric.mode,
        points_to_evaluate=remaining_defaults(_first_points(data, settings.floor_config), restored),
        sampler=make_sampler(settings.strategy, settings.seed),
        storage=restored_storage(restored.outcomes, space, metric.mode) if restored.outcomes else None,
    )
    searcher = BatchingSearcher(
        optuna_search,
        metric="score",
        mode=metric.mode,
        max_configs=settings.max_trials,
        target_batch_s=settings.target_batch_s,
        concurrency=concurrency,
        already_suggested=len(restored.outcomes),
    )
    monitor = SearchMonitor(metric, settings.time_budget_s, settings.max_trials, settings.show_progress)
    trainable = tune.with_resources(tune.with_parameters(run_trial, data=data, store=store), resources)
    storage = tempfile.mkdtemp(prefix="automl-tune-")
    try:
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                num_samples=-1,  # the searcher ends the search after max_trials configurations
                time_budget_s=budget,
                max_concurrent_trials=concurrency,
                reuse_actors=True,
                trial_dirname_creator=_trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=f"search-{uuid.uuid4().hex[:8]}",
                storage_path=storage,
                verbose=0,
                callbacks=[monitor, *callbacks],
                failure_config=tune.FailureConfig(max_failures=settings.max_retries),
            ),
        )
        if (left is None or left > 0) and (budget is None or budget > 1.0):  # else: resumed with nothing left
            with _quiet_tune_logs(), _trial_actors_on_idle_workers():
                tuner.fit()
        outcomes: dict[str, TrialOutcome] = ray.get(store.outcomes.remote())
        rows = [_row(trial_id, outcome) for trial_id, outcome in restored.outcomes.items()] + _rows(monitor, outcomes)
        if settings.floor_config and not any(o.ok for o in outcomes.values()):
            rows.append(_floor_trial(settings.floor_config, data, store))
        fold_models = StoredModels(store, ray.get(store.kept_ids.remote()), scratch)  # lives on until closed
    except BaseException:
        ray.kill(store, no_restart=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    first = None if monitor.first_done_at is None else monitor.first_done_at - started
    return SearchResult(
        rows=rows,
        fold_models=fold_models,
        wall_s=time.monotonic() - started,
        first_result_s=first,
        retried=monitor.retried,
        concurrency=concurrency,
    )


def _first_points(data: TrialData, floor_config: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each family's default, after the fallback configuration: started first, it ends
    within the budget the job checked it fits, while the search goes on beside it."""
    points = default_points(data.families, data.folds.n_rows, data.schema.task)
    if floor_config:
        points = [floor_config, *(p for p in points if p != floor_config)]
    return points


def _trial_resources(settings: SearchSettings) -> dict[str, float]:
    """What a trial holds: its CPUs, and the memory the table's size says it needs (never
    more than the largest node has, or Ray would hold the trial back for good)."""
    resources: dict[str, float] = {"cpu": settings.cpus_per_trial}
    if settings.trial_memory_bytes:
        node_memory = max((n["Resources"].get("memory", 0.0) for n in ray.nodes() if n.get("Alive")), default=0.0)
        resources["memory"] = float(min(settings.trial_memory_bytes, node_memory or settings.trial_memory_bytes))
    return resources


def _restore(journal: SearchJournal, fingerprint: str | None) -> JournalState:
    if not journal.exists():  # the driver was lost before the first trial: start afresh
        return JournalState(meta={})
    recorded = journal.meta().get("fingerprint")
    if fingerprint is not None and recorded is not None and recorded != fingerprint:
        raise DataError(
            "the training table is not the one this run started with (its rows, values or columns changed); "
            "resume needs the same table: put the original back, or start a new run with automl fit"
        )
    return journal.load()


def _floor_trial(config: dict[str, Any], data: TrialData, store: Any) -> TrialRow:
    """The cheapest configuration, evaluated here without the search's deadline.

    The job checked up front that the budget fits it; the search may still have ended
    without a model (a slow start of Ray's workers, a busy machine), and a budget that
    fits the cheapest model must give one.
    """
    pin_threads(data.n_threads)
    outcome = evaluate_config(config, replace(data, deadline=None, max_trial_s=None))
    trial_id = "floor.0"
    ray.get(store.add_many.remote({trial_id: outcome}))
    return _row(trial_id, replace(outcome, fold_models=None))


def _this_node() -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)


def _row(trial_id: str, outcome: TrialOutcome) -> TrialRow:
    return TrialRow.of(trial_id, outcome)


def _trial_dirname(trial: Any) -> str:
    return str(trial.trial_id)


@contextlib.contextmanager
def _quiet_tune_logs() -> Iterator[None]:
    """Tune warns that per-trial result files are missing (we disabled them on purpose) and logs
    a traceback for every failed trial: the monitor reports both, in one line each."""
    logger = logging.getLogger("ray.tune")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _trial_actors_on_idle_workers() -> Iterator[None]:
    """Let Ray start Tune's trial actors on the idle workers it already has.

    Tune gives its trial actors a runtime environment of their own, with the environment
    variable PL_DISABLE_FORK (for PyTorch Lightning, which we do not use). Ray hands an
    actor an idle worker only when their runtime environments match, so every trial actor
    waited for a new worker and its imports: 3.1 s to the first result of a search in a
    fresh Ray, against 0.14 s on the idle workers that Ray starts (and preloads) with the
    job. Without the variable the environment is the job's. Tune's other variables (cloud
    credentials, for instance) still pass, and a Ray that has them only starts new workers
    as before.
    """
    try:
        from ray.tune.execution import class_cache

        defaults = class_cache.DEFAULT_ENV_VARS
        saved = dict(defaults)
    except (ImportError, AttributeError, TypeError):  # another Tune: nothing to change
        yield
        return
    defaults.pop("PL_DISABLE_FORK", None)
    try:
        yield
    finally:
        defaults.clear()
        defaults.update(saved)


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
                rows.append(_row(row_id, outcome))
            elif record.status == "crashed":
                rows.append(TrialRow(row_id, family, params, TrialStatus.FAILED, None, record.error))
            else:
                reason = record.error or "stopped at the time budget before it finished"
                rows.append(TrialRow(row_id, family, params, TrialStatus.STOPPED, None, reason))
    return rows
