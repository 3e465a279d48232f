"""A Ray actor that collects trial outcomes while the search runs.

Trials hand their outcome to this actor instead of Tune's result stream: Tune results are
logged and synced per trial, which would make large out-of-fold arrays and fold models
the main cost of a trial. The actor keeps every outcome's scores and out-of-fold
predictions, and fold models only for the best `keep_models` trials plus the best trial
of each family (ensemble candidates), so memory stays bounded however long the search runs.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from typing import Any

from automl.evaluation.metrics import get_metric
from automl.search.trial import TrialOutcome


class TrialStore:
    """Outcomes by trial id; use through `ray.remote(TrialStore)`."""

    def __init__(self, metric: str, keep_models: int) -> None:
        self._metric = get_metric(metric)
        self._keep_models = keep_models
        self._outcomes: dict[str, TrialOutcome] = {}
        self._models: dict[str, list[Any]] = {}
        self._ranked: list[tuple[float, str]] = []  # min-heap of (goodness, trial id): the global top
        self._family_best: dict[str, tuple[float, str]] = {}

    def _goodness(self, score: float) -> float:
        return score if self._metric.greater_is_better else -score

    def wants_models(self, score: float, family: str) -> bool:
        """Whether fold models with this score would be kept (saves sending them)."""
        goodness = self._goodness(score)
        in_top = len(self._ranked) < self._keep_models or goodness > self._ranked[0][0]
        best_of_family = family not in self._family_best or goodness > self._family_best[family][0]
        return in_top or best_of_family

    def add(self, trial_id: str, outcome: TrialOutcome) -> None:
        models = outcome.fold_models
        self._outcomes[trial_id] = replace(outcome, fold_models=None)
        if models is None or not outcome.ok:
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
                self._models.pop(dropped, None)
        if not self._kept(trial_id):
            self._models.pop(trial_id, None)

    def _kept(self, trial_id: str) -> bool:
        return any(t == trial_id for _, t in self._ranked) or any(t == trial_id for _, t in self._family_best.values())

    def outcomes(self) -> dict[str, TrialOutcome]:
        return self._outcomes

    def fold_models(self, trial_ids: list[str]) -> dict[str, list[Any]]:
        return {t: self._models[t] for t in trial_ids if t in self._models}
