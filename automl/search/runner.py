"""Run the search: Ray Tune schedules the trials, Optuna chooses them.

The driver puts the data into the object store once, starts a `TrialStore` actor for the
trials' out-of-fold predictions and fold models, and hands Tune a light function
trainable: one report per trial, no checkpoints, no per-trial loggers, actors reused,
and several configurations per Tune trial when configurations are quick (`batching`).
A `TrialLedger` records every configuration, and the search's rows come from it.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import optuna
import ray
from ray import tune
from ray.actor import ActorHandle
from ray.tune.search.optuna import OptunaSearch
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from sklearn.pipeline import Pipeline

from automl.errors import DataError
from automl.evaluation.metrics import get_metric
from automl.pipeline.trial import TrialData, TrialRow, TrialStatus, evaluate_config
from automl.search.batching import TARGET_BATCH_S, BatchingSearcher
from automl.search.journal import JournalState, SearchJournal
from automl.search.ledger import TrialLedger
from automl.search.portfolio import portfolio_points, with_feature_defaults
from automl.search.progress import SearchMonitor
from automl.search.resume import remaining_defaults, restored_storage
from automl.search.space import ConditionalSpace, quiet_optuna
from automl.search.store import TrialStore
from automl.search.strategies import FallbackCounter, Strategy, get_strategy
from automl.search.tuner import run_tuner
from automl.search.warm_start import WarmStart, driver_points, while_ray_starts
from automl.search.worker import SearchTrainable, pin_threads

#: with less of the time budget left than this, a resumed search starts no Tune trials:
#: they would be stopped before a configuration could finish
MIN_SEARCH_BUDGET_S = 1.0


@dataclass
class SearchSettings:
    """How to search: strategy, limits and resources (validated upstream by `JobSpec`)."""

    #: a registered strategy's name, or the entry itself (`search.strategies`)
    strategy: str | Strategy = "tpe"
    seed: int = 0
    max_trials: int | None = None
    time_budget_s: float | None = None
    cpus_per_trial: float = 1.0
    #: fold models and out-of-fold predictions are kept for this many of the best trials
    #: (and each family's best): the ensemble's candidates
    keep_models: int = 20
    show_progress: bool = True
    #: a trial projected to take longer than this share of the time budget stops early
    max_trial_share: float = 0.4
    #: quick configurations are batched into Tune trials of about this many seconds, longer
    #: than a trial actor takes to start (see `batching.TARGET_BATCH_S`)
    target_batch_s: float = TARGET_BATCH_S
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
    #: configurations evaluated first, after the fallback (`portfolio.load_portfolio`); the
    #: searched families' defaults follow those it lacks. Empty: each family's default.
    portfolio: list[dict[str, Any]] = field(default_factory=list)
    #: seconds a configuration of each family is expected to take before one has been
    #: measured (`cost.prior_pace`): batches are sized, and configurations that cannot
    #: finish in the time left are not started, from the first configuration on
    prior_pace: dict[str, float] = field(default_factory=dict)
    #: evaluate the portfolio and the families' defaults first; off, every configuration
    #: is the strategy's own (a cold start, as a strategy comparison wants)
    start_points: bool = True


class StoredModels(Mapping[str, list[Pipeline]]):
    """The fold models the search kept, fetched from its store when first asked for.

    The final model needs only its members' fold models, and every candidate's (forests,
    five folds each) can take seconds to copy out of the store. `close` ends the store:
    nothing more can be fetched afterwards.
    """

    def __init__(self, store: ActorHandle[TrialStore], kept: list[str], scratch: str | None = None) -> None:
        self._store: ActorHandle[TrialStore] | None = store
        self._kept = list(kept)
        self._fetched: dict[str, list[Pipeline]] = {}
        self._scratch = scratch  # a journal of our own, kept while the store may restart from it

    def __getitem__(self, trial_id: str) -> list[Pipeline]:
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

    rows: list[TrialRow]  # every configuration, in start order (`TrialLedger.rows`)
    fold_models: Mapping[str, list[Pipeline]] = field(default_factory=dict)
    wall_s: float = 0.0
    first_result_s: float | None = None  # from the call to the first finished trial
    retried: int = 0  # trials run again after their worker or node died
    concurrency: int = 1  # trials run at once, at most (the job's share of the cluster)
    #: parameters the sampler chose from its model of the space ("relative") and one at a
    #: time ("independent"; at random for the strategies with `random_fallback`)
    sampled: dict[str, int] = field(default_factory=dict)

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


def run_search(
    data: TrialData,
    settings: SearchSettings,
    callbacks: Sequence[tune.Callback] = (),
    start_ray: Callable[[], None] | None = None,
) -> SearchResult:
    """Search model families and hyperparameters on `data` with Ray Tune + Optuna.

    Ray must be initialised (see `automl.job.ray_session`), or `start_ray` starts it: it
    is called once the driver has begun its first configurations, which go on meanwhile.

    Args:
        data: the job's data, folds and families (put into the object store once).
        settings: strategy, limits and resources.
        callbacks: more Tune callbacks (monitoring hooks), called after the progress monitor.
        start_ray: starts Ray, when it is not running yet.
    """
    started = time.monotonic()
    strategy = get_strategy(settings.strategy)
    journal, scratch = _open_journal(settings)
    restored = _restore(journal, settings)
    budget = _apply_limits(data, settings, restored.elapsed_s)
    journal.start(_journal_meta(data, settings, budget), resume=settings.resume)
    left = None if settings.max_trials is None else settings.max_trials - len(restored.outcomes)
    searching = (left is None or left > 0) and (budget is None or budget > MIN_SEARCH_BUDGET_S)
    starting = remaining_defaults(_first_points(data, settings), restored) if settings.start_points else []
    pace = settings.prior_pace
    # a trial count is Tune's to keep: the driver's configurations would be more
    warm = driver_points(starting, pace, budget, settings.floor_config) if searching and left is None else []
    extra = [] if start_ray is None else while_ray_starts(starting, pace, budget, warm, settings.max_trial_share)
    warm_start = WarmStart(warm, data, extra).start()
    ledger = TrialLedger(restored.outcomes)
    sampler = FallbackCounter(strategy.make_sampler(settings.seed))
    store: ActorHandle[TrialStore] | None = None
    try:
        if start_ray is not None:
            start_ray()
        store = _start_store(data, settings, journal, restored.elapsed_s)
        taken = warm_start.attach(store)
        resources = _trial_resources(settings)
        concurrency = _concurrency(settings, resources, left)
        tune_s = None if budget is None or data.deadline is None else data.deadline - time.time()
        if searching and (tune_s is None or tune_s > MIN_SEARCH_BUDGET_S):
            monitor = SearchMonitor(
                ledger,
                get_metric(data.metric),
                budget_s=settings.time_budget_s,
                max_trials=settings.max_trials,
                show=settings.show_progress,
            )
            with quiet_optuna():
                searcher = _searcher(
                    data, settings, restored, concurrency, [p for p in starting if p not in taken], sampler, strategy
                )
                trainable = tune.with_resources(
                    tune.with_parameters(SearchTrainable(uuid.uuid4().hex[:8]), data=data, store=store), resources
                )
                mode, folds = get_metric(data.metric).mode, len(data.folds)
                scheduler = None if strategy.scheduler is None else strategy.scheduler("score", mode, folds)
                run_tuner(
                    trainable,
                    searcher,
                    [monitor, *callbacks],
                    budget_s=tune_s,
                    concurrency=concurrency,
                    max_retries=settings.max_retries,
                    scheduler=scheduler,
                )
        for trial_id, outcome in warm_start.finish().items():
            ledger.add(trial_id, outcome)
        ledger.end()  # batches still running were stopped by the budget (Tune may not say so)
        fold_models = _collect(ledger, store, data, settings, scratch)
    except BaseException:
        warm_start.finish()  # its fits end by the deadline; the store must outlive them
        if store is not None:
            _end_store(store, scratch)
        raise
    first = None if ledger.first_done_at is None else ledger.first_done_at - started
    return SearchResult(
        rows=ledger.rows(),
        fold_models=fold_models,
        wall_s=time.monotonic() - started,
        first_result_s=first,
        retried=ledger.retried,
        concurrency=concurrency,
        sampled=sampler.counts(),
    )


def _open_journal(settings: SearchSettings) -> tuple[SearchJournal, str | None]:
    """The search's journal, and the scratch directory that holds it when the job keeps
    none (the store still journals, so that a restarted store recovers its trials)."""
    if settings.journal:
        return SearchJournal(settings.journal), None
    scratch = tempfile.mkdtemp(prefix="automl-journal-")
    return SearchJournal(scratch), scratch


def _restore(journal: SearchJournal, settings: SearchSettings) -> JournalState:
    """What a resumed search ran before (nothing for a new search)."""
    if not settings.resume or not journal.exists():  # a lost driver before the first trial starts afresh
        return JournalState(meta={})
    recorded = journal.meta().get("fingerprint")
    if settings.fingerprint is not None and recorded is not None and recorded != settings.fingerprint:
        raise DataError(
            "the training table is not the one this run started with (its rows, values or columns changed); "
            "resume needs the same table: put the original back, or start a new run with automl fit"
        )
    return journal.load()


def _apply_limits(data: TrialData, settings: SearchSettings, elapsed_s: float) -> float | None:
    """Put the search's deadline and per-trial limits into `data`; return the time budget
    left (None: no budget), less what a resumed search spent before."""
    budget = settings.time_budget_s
    if budget is not None:
        budget = max(0.0, budget - elapsed_s)
        data.deadline = time.time() + budget
        data.max_trial_s = settings.max_trial_share * budget
    if settings.trial_timeout_s is not None:
        data.max_trial_s = min(data.max_trial_s or math.inf, settings.trial_timeout_s)
    data.floor_config = settings.floor_config or None
    return budget


def _journal_meta(data: TrialData, settings: SearchSettings, budget: float | None) -> dict[str, Any]:
    return {
        "metric": data.metric,
        "max_trials": settings.max_trials,
        "time_budget_s": budget,
        "fingerprint": settings.fingerprint,
        "n_splits": len(data.folds),  # a resume validates on the same split (k folds or a holdout)
    }


def _start_store(
    data: TrialData, settings: SearchSettings, journal: SearchJournal, elapsed_s: float
) -> ActorHandle[TrialStore]:
    """The actor that takes the trials' outcomes, on the driver's node."""
    handle = (
        ray.remote(TrialStore)
        .options(
            name=f"automl-trial-store-{uuid.uuid4().hex[:8]}",
            num_cpus=0,
            scheduling_strategy=_this_node(),  # lives and dies with the driver's node
            max_restarts=-1,  # restarted from the journal; calls in flight are retried on it
            max_task_retries=-1,
        )
        .remote(data.metric, settings.keep_models, journal, time.time() - elapsed_s)
    )
    # Ray types `.remote()` as the actor handle or the class, so that methods type-check
    # against the class's; this is the handle
    return cast("ActorHandle[TrialStore]", handle)


def _end_store(store: ActorHandle[TrialStore], scratch: str | None) -> None:
    ray.kill(store, no_restart=True)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


def _concurrency(settings: SearchSettings, resources: Mapping[str, float], left: int | None) -> int:
    """Trials at once: the job's share of the cluster's CPUs and memory, and no more than
    the configurations left to run."""
    cpus = float(ray.cluster_resources().get("CPU", 1))
    if settings.max_cpus is not None:
        cpus = min(cpus, settings.max_cpus)
    concurrency = max(1, int(cpus // settings.cpus_per_trial))
    if "memory" in resources:  # Ray holds back what does not fit; the count says so up front
        memory = float(ray.cluster_resources().get("memory", 0.0))
        concurrency = max(1, min(concurrency, int(memory // resources["memory"])))
    if left is not None:
        concurrency = max(1, min(concurrency, left))
    return concurrency


def _searcher(
    data: TrialData,
    settings: SearchSettings,
    restored: JournalState,
    concurrency: int,
    points: list[dict[str, Any]],
    sampler: optuna.samplers.BaseSampler,
    strategy: Strategy,
) -> BatchingSearcher:
    """Optuna over the families' conditional space, starting from `points`, with a resumed
    search's history, batched unless the strategy's scheduler weighs trials fold by fold."""
    metric = get_metric(data.metric)
    space = ConditionalSpace(data.families, data.folds.n_rows, data.schema.task, data.traits)
    optuna_search = OptunaSearch(
        space=space,
        metric="score",
        mode=metric.mode,
        points_to_evaluate=points,
        sampler=sampler,
        storage=restored_storage(restored.outcomes, space, metric.mode) if restored.outcomes else None,
    )
    return BatchingSearcher(
        optuna_search,
        metric="score",
        mode=metric.mode,
        max_configs=settings.max_trials,
        target_batch_s=settings.target_batch_s,
        concurrency=concurrency,
        already_suggested=len(restored.outcomes),
        prior_pace=settings.prior_pace,
        report_folds=not strategy.batched,
    )


def _collect(
    ledger: TrialLedger, store: ActorHandle[TrialStore], data: TrialData, settings: SearchSettings, scratch: str | None
) -> StoredModels:
    """Hand the ledger what the store received (and the fallback's outcome, if nothing
    succeeded); return the kept fold models, which stay in the store until closed."""
    outcomes = ray.get(store.outcomes.remote())
    ledger.receive(outcomes)
    if settings.floor_config and not any(o.ok for o in outcomes.values()):
        _floor_trial(settings.floor_config, data, store, ledger)
    return StoredModels(store, ray.get(store.kept_ids.remote()), scratch)


def _first_points(data: TrialData, settings: SearchSettings) -> list[dict[str, Any]]:
    """The portfolio, then the defaults of the families it lacks, after the fallback
    configuration: started first, it ends within the budget the job checked it fits, while
    the search goes on beside it."""
    points = portfolio_points(settings.portfolio, data.families, data.folds.n_rows, data.schema.task)
    points = with_feature_defaults(points, data.families, data.traits)  # as the fallback has them
    floor_config = settings.floor_config
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


def _floor_trial(config: dict[str, Any], data: TrialData, store: ActorHandle[TrialStore], ledger: TrialLedger) -> None:
    """The cheapest configuration, evaluated here without the search's deadline.

    The job checked up front that the budget fits it; the search may still have ended
    without a model (a slow start of Ray's workers, a busy machine), and a budget that
    fits the cheapest model must give one.
    """
    pin_threads(data.n_threads)
    outcome = evaluate_config(config, replace(data, deadline=None, max_trial_s=None))
    trial_id = "floor.0"
    ray.get(store.add_many.remote({trial_id: outcome}))
    ledger.add(trial_id, replace(outcome, fold_models=None))  # the store keeps the models


def _this_node() -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
