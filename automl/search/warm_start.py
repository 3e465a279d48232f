"""The first configurations, evaluated in the driver while Ray starts and Ray Tune starts
its trial actors.

A new local Ray takes seconds to start on a small machine, and Tune's trial actors more
(a worker process, its imports); on a 15 s budget that is most of the search. The driver
has nothing to do meanwhile, so it evaluates the first points itself: the fallback, then
the cheapest others whose expected cost fits a share of the budget, and, until Ray is
up, the next points that are expected to end in time. Each outcome goes to the trial
store as a Tune trial's would, once the store exists. The points the driver took are
taken out of those Optuna starts with, so nothing is evaluated twice.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import ray
from ray.actor import ActorHandle

from automl.pipeline.trial import MODEL_KEY, TrialData, TrialOutcome, evaluate_config
from automl.search.store import TrialStore

#: the driver's configurations may be expected to take this share of the search's budget
WARM_START_SHARE = 0.25
#: ... and the driver evaluates at most this many once Ray is up
WARM_START_MAX = 4
#: the ids of the driver's configurations (then a search's own tag, and the position)
ID_PREFIX = "driver-"


def driver_points(
    points: list[dict[str, Any]], pace: Mapping[str, float], budget_s: float | None, floor: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The first points the driver takes: the fallback, then those of the others whose
    family's expected cost fits what is left of the share (none without a time budget:
    the workers start in good time then)."""
    if budget_s is None or not floor:
        return []
    allowance = WARM_START_SHARE * budget_s - pace.get(floor[MODEL_KEY], 0.0)
    taken = [floor]
    for point in points:
        if len(taken) == WARM_START_MAX:
            break
        cost = pace.get(point[MODEL_KEY])
        if point != floor and cost is not None and cost <= allowance:
            taken.append(point)
            allowance -= cost
    return taken


def while_ray_starts(
    points: list[dict[str, Any]],
    pace: Mapping[str, float],
    budget_s: float | None,
    taken: list[dict[str, Any]],
    max_share: float,
) -> list[tuple[dict[str, Any], float]]:
    """The points after `taken` that the driver may go on with until Ray is up, with their
    expected costs: those whose family's cost is at most `max_share` of the budget (a
    trial's most), as the driver is the only worker until then."""
    if budget_s is None or not taken:
        return []
    costs = ((p, pace.get(p[MODEL_KEY])) for p in points if p not in taken)
    return [(p, cost) for p, cost in costs if cost is not None and cost <= max_share * budget_s]


class WarmStart:
    """Evaluates `points` in a thread of the driver, then `extra` points (with their
    expected costs) for as long as no store is attached and each is expected to end
    before the search's deadline. `attach` hands the outcomes to the store; `finish`
    waits and returns them (without fold models: the store keeps them), by id, in order."""

    def __init__(
        self,
        points: list[dict[str, Any]],
        data: TrialData,
        extra: list[tuple[dict[str, Any], float]] | None = None,
    ) -> None:
        self._points, self._extra, self._data = list(points), list(extra or []), data
        self._store: ActorHandle[TrialStore] | None = None
        self._pending: dict[str, TrialOutcome] = {}  # fitted before the store existed
        self._taken: list[dict[str, Any]] = []
        self._outcomes: dict[str, TrialOutcome] = {}
        self._lock = threading.Lock()
        self._tag = uuid.uuid4().hex[:8]  # a resumed search's own ids differ from the first run's
        self._thread = threading.Thread(target=self._run, name="automl-warm-start", daemon=True)

    def start(self) -> WarmStart:
        if self._points:
            self._thread.start()
        return self

    def _run(self) -> None:
        from automl.search.worker import pin_threads

        pin_threads(self._data.n_threads)
        queue = [(point, None) for point in self._points] + [(point, cost) for point, cost in self._extra]
        for index, (point, cost) in enumerate(queue):
            with self._lock:
                if cost is not None and (self._store is not None or not self._ends_in_time(cost)):
                    break
                self._taken.append(point)
            limits = replace(self._data, max_trial_s=None) if point == self._data.floor_config else self._data
            outcome = evaluate_config(point, limits)
            trial_id = f"{ID_PREFIX}{self._tag}.{index}"
            with self._lock:
                if self._store is None:
                    self._pending[trial_id] = outcome
                else:
                    ray.get(self._store.add_many.remote({trial_id: outcome}))
                self._outcomes[trial_id] = replace(outcome, fold_models=None)

    def _ends_in_time(self, cost: float) -> bool:
        return self._data.deadline is None or time.time() + cost <= self._data.deadline

    def attach(self, store: ActorHandle[TrialStore]) -> list[dict[str, Any]]:
        """Hand `store` the outcomes so far and those to come, and take no more of the
        extra points. Returns the points taken: fitted, being fitted, or still to come."""
        with self._lock:
            self._store = store
            if self._pending:
                ray.get(store.add_many.remote(self._pending))
                self._pending = {}
            taken = self._taken + [p for p in self._points if p not in self._taken]
        return taken

    def finish(self) -> dict[str, TrialOutcome]:
        if self._thread.ident is not None:  # started
            self._thread.join()
        return dict(self._outcomes)
