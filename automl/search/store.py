"""A Ray actor that collects trial outcomes while the search runs.

Trials hand their outcome to this actor instead of Tune's result stream: Tune results are
logged and synced per trial, which would make large out-of-fold arrays and fold models
the main cost of a trial. The actor keeps every outcome's scores and out-of-fold
predictions, and fold models only for the best `keep_models` trials, so driver and
actor memory stay bounded however long the search runs.
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
        self._ranked: list[tuple[float, str]] = []  # min-heap of (goodness, trial id)

    def _goodness(self, score: float) -> float:
        return score if self._metric.greater_is_better else -score

    def wants_models(self, score: float) -> bool:
        """Whether fold models with this score would be kept (saves sending them)."""
        if len(self._ranked) < self._keep_models:
            return True
        return self._goodness(score) > self._ranked[0][0]

    def add(self, trial_id: str, outcome: TrialOutcome) -> None:
        models = outcome.fold_models
        self._outcomes[trial_id] = replace(outcome, fold_models=None)
        if models is None or not outcome.ok:
            return
        entry = (self._goodness(outcome.score), trial_id)
        if len(self._ranked) < self._keep_models:
            heapq.heappush(self._ranked, entry)
            self._models[trial_id] = models
        elif entry > self._ranked[0]:
            _, dropped = heapq.heapreplace(self._ranked, entry)
            self._models.pop(dropped, None)
            self._models[trial_id] = models

    def outcomes(self) -> dict[str, TrialOutcome]:
        return self._outcomes

    def fold_models(self, trial_ids: list[str]) -> dict[str, list[Any]]:
        return {t: self._models[t] for t in trial_ids if t in self._models}
