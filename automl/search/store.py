"""A Ray actor that collects trial outcomes while the search runs.

Trials hand their outcome to this actor instead of Tune's result stream: Tune results are
logged and synced per trial, which would make large out-of-fold arrays and fold models
the main cost of a trial. The actor keeps every outcome's scores, and
out-of-fold predictions and fold models only for the best `keep_models` trials plus the
best trial of each family (the ensemble candidates), so memory stays bounded however long
the search runs.

The actor is restartable: it writes every batch to the search's journal before taking it
in, and a restarted actor reads the journal back, so losing it costs only the trials
whose batch was in flight (and Ray retries those calls on the restarted actor).
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from automl.evaluation.metrics import get_metric
from automl.pipeline.trial import TrialOutcome, TrialStatus

if TYPE_CHECKING:  # workers import this module for the thresholds: keep the journal off their path
    from sklearn.pipeline import Pipeline

    from automl.search.journal import SearchJournal


@dataclass(frozen=True)
class ModelThresholds:
    """A snapshot of the store's bar for keeping fold models, so trials decide locally.

    A stale snapshot only means sending models the store then drops: never losing any.
    """

    greater_is_better: bool = True
    top_cutoff: float | None = None  # goodness of the k-th best trial; None while fewer
    family_best: dict[str, float] = field(default_factory=dict)

    def wants(self, score: float, family: str) -> bool:
        goodness = score if self.greater_is_better else -score
        if self.top_cutoff is None or goodness > self.top_cutoff:
            return True
        return goodness > self.family_best.get(family, -math.inf)


def status_of(outcome: TrialOutcome) -> tuple[TrialStatus, float | None]:
    """(status, score) as a trial reports it to Tune: the score only when it is done."""
    return outcome.status, outcome.score if outcome.ok else None


class TrialStore:
    """Outcomes by trial id; use through `ray.remote(TrialStore)`."""

    def __init__(
        self,
        metric: str,
        keep_models: int,
        journal: SearchJournal | None = None,
        started_at: float | None = None,
    ) -> None:
        """`journal` gets every batch as it arrives, and what it already holds (a resumed
        search's trials, or this search's before the actor restarted) is taken in first.
        `started_at` is the search's `time.time()` start, earlier runs of it included."""
        self._metric = get_metric(metric)
        self._journal = journal
        self._started_at = time.time() if started_at is None else started_at
        self._keep_models = keep_models
        self._outcomes: dict[str, TrialOutcome] = {}
        self._models: dict[str, list[Pipeline]] = {}
        self._ranked: list[tuple[float, str]] = []  # min-heap of (goodness, trial id): the global top
        self._family_best: dict[str, tuple[float, str]] = {}
        if journal is not None and journal.exists():
            for trial_id, outcome in journal.load().outcomes.items():
                self.add(trial_id, outcome)

    def _goodness(self, score: float) -> float:
        return score if self._metric.greater_is_better else -score

    def thresholds(self) -> ModelThresholds:
        """What a score must beat for its fold models to be kept (trials cache this)."""
        cutoff = self._ranked[0][0] if len(self._ranked) >= self._keep_models else None
        return ModelThresholds(
            self._metric.greater_is_better, cutoff, {f: g for f, (g, _) in self._family_best.items()}
        )

    def add_many(self, outcomes: dict[str, TrialOutcome]) -> ModelThresholds:
        """Add a batch's outcomes in one call (journaled first); return the updated thresholds."""
        if self._journal is not None:
            self._journal.append(outcomes, time.time() - self._started_at)
        for trial_id, outcome in outcomes.items():
            self.add(trial_id, outcome)
        return self.thresholds()

    def add(self, trial_id: str, outcome: TrialOutcome) -> None:
        models = outcome.fold_models
        self._outcomes[trial_id] = replace(outcome, fold_models=None)
        if models is None or not outcome.ok or outcome.out_of_fold is None:
            self._forget(trial_id)
            return
        entry = (self._goodness(outcome.score), trial_id)
        released = []
        if len(self._ranked) < self._keep_models:
            heapq.heappush(self._ranked, entry)
        elif entry > self._ranked[0]:
            released.append(heapq.heapreplace(self._ranked, entry)[1])
        previous = self._family_best.get(outcome.family)
        if previous is None or entry > previous:
            self._family_best[outcome.family] = entry
            if previous is not None:
                released.append(previous[1])
        self._models[trial_id] = models
        for dropped in released:
            if not self._kept(dropped):
                self._forget(dropped)
        if not self._kept(trial_id):
            self._forget(trial_id)

    def _forget(self, trial_id: str) -> None:
        """No longer a candidate: its fold models and out-of-fold predictions go."""
        self._models.pop(trial_id, None)
        outcome = self._outcomes.get(trial_id)
        if outcome is not None and outcome.out_of_fold is not None:
            self._outcomes[trial_id] = replace(outcome, out_of_fold=None)

    def _kept(self, trial_id: str) -> bool:
        return any(t == trial_id for _, t in self._ranked) or any(t == trial_id for _, t in self._family_best.values())

    def statuses(self, trial_ids: list[str]) -> dict[str, tuple[TrialStatus, float | None]]:
        """(status, score) of those of `trial_ids` the store holds."""
        return {t: status_of(self._outcomes[t]) for t in trial_ids if t in self._outcomes}

    def outcomes(self) -> dict[str, TrialOutcome]:
        return self._outcomes

    def fold_models(self, trial_ids: list[str]) -> dict[str, list[Pipeline]]:
        return {t: self._models[t] for t in trial_ids if t in self._models}

    def kept_ids(self) -> list[str]:
        """Trials whose fold models are kept (the ensemble candidates)."""
        return list(self._models)
