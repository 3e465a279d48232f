"""The search's ledger: every configuration it ran, and what became of each.

A configuration ends in one of three places: the trial store receives its outcome (the
usual case); Tune sees its batch crash or stop before the store does; or the driver
evaluates it itself (the fallback configuration). The ledger takes in all three and
gives one `TrialRow` per configuration in the order they started, so the progress line,
the leaderboard and the summary count from one record.

Plain Python without Ray: the Tune callback that feeds it lives in `progress`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from automl.pipeline.trial import MODEL_KEY, TrialOutcome, TrialRow, TrialStatus, join_config, split_config

if TYPE_CHECKING:
    from automl.evaluation.metrics import Metric

#: why a configuration Tune saw running when the search ended has no outcome
STOPPED_AT_BUDGET = "stopped at the time budget before it finished"


class BatchState(str, Enum):
    """What became of one Tune trial, which carries a batch of configurations (`batching`)."""

    RUNNING = "running"
    FINISHED = "finished"  # its trainable returned
    CRASHED = "crashed"  # it raised, or its worker or node died, and Tune gave up on it
    STOPPED = "stopped"  # the search ended while it ran


@dataclass
class Batch:
    """One Tune trial: its configurations and what its worker reported for each."""

    trial_id: str
    ids: list[str]
    configs: list[dict[str, Any]]
    state: BatchState = BatchState.RUNNING
    reported: list[tuple[TrialStatus, float | None]] = field(default_factory=list)  # (status, score)
    error: str | None = None
    #: seconds into the search of the worker's last report (None: none yet, or a resumed
    #: search's earlier run, whose clock was another)
    reported_s: float | None = None

    @property
    def retried_one_by_one(self) -> bool:
        """A crashed batch of several configurations: `BatchingSearcher` runs each again
        in a Tune trial of its own, so those trials, not this one, give the rows."""
        return self.state is BatchState.CRASHED and len(self.configs) > 1


class TrialLedger:
    """Every configuration of one search, in start order.

    Fed by the search's Tune callback (`start`, `report`, `finish`, `crash`, `recover`,
    `end`), then by the driver with what the trial store received (`receive`) and with
    what it evaluated itself (`add`). A store outcome wins over what Tune saw of its batch.

    Example:
        >>> ledger = TrialLedger()
        >>> _ = ledger.start("t1", ["t1.0"], [{"model": "linear", "linear__C": 1.0}])
        >>> ledger.report("t1", [(TrialStatus.DONE, 0.8)])
        >>> ledger.finish("t1")
        >>> ledger.counts()[TrialStatus.DONE]
        1
    """

    def __init__(self, restored: Mapping[str, TrialOutcome] | None = None) -> None:
        """`restored`: the outcomes of a resumed search's earlier runs; they come first."""
        self._batches: dict[str, Batch] = {}  # insertion order is start order
        self._outcomes: dict[str, TrialOutcome] = {}
        self._received = False  # whether the store's outcomes are in (`receive`)
        self._ended = False  # whether the search is over (`end`)
        self.first_done_at: float | None = None  # time.monotonic() of this run's first scored configuration
        self.retried = 0  # Tune trials run again after their worker or node died
        self.started_at = time.monotonic()
        for trial_id, outcome in (restored or {}).items():
            self.add(trial_id, outcome)
            self._batches[trial_id].reported_s = None

    # Tune's side ----------------------------------------------------------------------
    def start(self, trial_id: str, ids: Sequence[str], configs: Sequence[dict[str, Any]]) -> Batch:
        """The batch of Tune trial `trial_id`, recorded the first time it is seen."""
        if trial_id not in self._batches:
            self._batches[trial_id] = Batch(trial_id, list(ids), list(configs))
        return self._batches[trial_id]

    def report(self, trial_id: str, statuses: Iterable[tuple[str, float | None]], why: str | None = None) -> None:
        """What the batch's worker reported: one (status, score) per configuration, and
        (a fold's report) why the trial ends there if its scheduler stops it."""
        batch = self._batches[trial_id]
        batch.reported = [(TrialStatus(status), score) for status, score in statuses]
        batch.error = why
        batch.reported_s = time.monotonic() - self.started_at
        if self.first_done_at is None and any(s is TrialStatus.DONE for s, _ in batch.reported):
            self.first_done_at = time.monotonic()

    def finish(self, trial_id: str) -> None:
        self._batches[trial_id].state = BatchState.FINISHED

    def crash(self, trial_id: str, error: str) -> None:
        batch = self._batches[trial_id]
        batch.state, batch.error = BatchState.CRASHED, error

    def recover(self, trial_id: str) -> None:
        """Tune runs the trial again on a new worker (`FailureConfig`): it stays running."""
        self.retried += 1

    def end(self) -> None:
        """The search is over: batches still running were stopped by the time budget."""
        self._ended = True
        for batch in self._batches.values():
            if batch.state is BatchState.RUNNING:
                batch.state, batch.error = BatchState.STOPPED, STOPPED_AT_BUDGET

    # the driver's side ----------------------------------------------------------------
    def receive(self, outcomes: Mapping[str, TrialOutcome]) -> None:
        """The outcomes the trial store holds, by configuration id."""
        self._outcomes.update(outcomes)
        self._received = True

    def add(self, trial_id: str, outcome: TrialOutcome) -> None:
        """A configuration evaluated outside this search's Tune trials (a resumed search's
        earlier ones, the driver's fallback), after those recorded so far."""
        config = join_config(outcome.family, outcome.params)
        score = outcome.score if outcome.ok else None
        batch = Batch(trial_id, [trial_id], [config], BatchState.FINISHED, [(outcome.status, score)])
        batch.reported_s = time.monotonic() - self.started_at
        self._batches[trial_id] = batch
        self._outcomes[trial_id] = outcome

    # reading --------------------------------------------------------------------------
    def rows(self) -> list[TrialRow]:
        """One row per configuration, in start order (crashed batches retried one by one
        appear through their retries)."""
        rows = []
        for batch, index in self._configurations():
            config_id = batch.ids[index]
            outcome = self._outcomes.get(config_id)
            if outcome is not None:
                rows.append(replace(TrialRow.of(config_id, outcome), finished_s=batch.reported_s))
                continue
            family, params = split_config(batch.configs[index])
            status = self._status(batch, index)
            error = batch.error or (STOPPED_AT_BUDGET if status is TrialStatus.STOPPED else None)
            rows.append(TrialRow(config_id, family, params, status, None, error, batch.reported_s))
        return rows

    def counts(self) -> dict[TrialStatus, int]:
        """Configurations by status, every status present."""
        counts = dict.fromkeys(TrialStatus, 0)
        for batch, index in self._configurations():
            counts[self._status(batch, index)] += 1
        return counts

    def best(self, metric: Metric) -> tuple[float, str] | None:
        """The best score so far and its family (None: nothing scored yet)."""
        best: tuple[float, str] | None = None
        for batch, index in self._configurations():
            score = self._score(batch, index)
            if score is not None and math.isfinite(score) and (best is None or metric.is_better(score, best[0])):
                best = (score, str(batch.configs[index].get(MODEL_KEY)))
        return best

    def _configurations(self) -> Iterator[tuple[Batch, int]]:
        """Each configuration once: one of a crashed batch that was run again on its own
        appears through that run; one the search ended before running again stays here."""
        batches = self._batches.values()
        rerun: set[str] = set()
        if any(batch.retried_one_by_one for batch in batches):  # the progress line asks often: only then
            rerun = {config_id for batch in batches if not batch.retried_one_by_one for config_id in batch.ids}
        for batch in batches:
            for index, config_id in enumerate(batch.ids):
                if not (batch.retried_one_by_one and config_id in rerun):
                    yield batch, index

    def _status(self, batch: Batch, index: int) -> TrialStatus:
        outcome = self._outcomes.get(batch.ids[index])
        if outcome is not None:
            return outcome.status
        if index < len(batch.reported):
            reported = batch.reported[index][0]
            if not (reported is TrialStatus.DONE and self._received):
                return reported  # once the store's outcomes are in, a score without one did not finish
        if batch.state is BatchState.RUNNING or (batch.retried_one_by_one and not self._ended):
            return TrialStatus.RUNNING  # a crashed batch's configurations wait for their own runs
        return TrialStatus.FAILED if batch.state is BatchState.CRASHED else TrialStatus.STOPPED

    def _score(self, batch: Batch, index: int) -> float | None:
        outcome = self._outcomes.get(batch.ids[index])
        if outcome is not None:
            return outcome.score if outcome.ok else None
        if index < len(batch.reported) and batch.reported[index][0] is TrialStatus.DONE:
            return batch.reported[index][1]
        return None
