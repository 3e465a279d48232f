"""The first configurations, evaluated in the driver while Ray Tune starts its trial actors.

Tune's trial actors take seconds to start on a small machine (a worker process, its
imports); on a 15 s budget that is most of the search. The driver has nothing to do
meanwhile, so it evaluates the first points itself (the fallback, then the cheapest
others whose expected cost fits a share of the budget), handing each outcome to the
trial store as a Tune trial would. They are taken out of the points Optuna starts with,
so nothing is evaluated twice.
"""

from __future__ import annotations

import threading
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
#: ... and the driver evaluates at most this many
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


class WarmStart:
    """Evaluates `points` in a thread of the driver; `finish` waits and returns the
    outcomes (without fold models: the store keeps them), by id, in order."""

    def __init__(self, points: list[dict[str, Any]], data: TrialData, store: ActorHandle[TrialStore]) -> None:
        self._points, self._data, self._store = points, data, store
        self._outcomes: dict[str, TrialOutcome] = {}
        self._tag = uuid.uuid4().hex[:8]  # a resumed search's own ids differ from the first run's
        self._thread = threading.Thread(target=self._run, name="automl-warm-start", daemon=True)

    def start(self) -> WarmStart:
        if self._points:
            self._thread.start()
        return self

    def _run(self) -> None:
        from automl.search.worker import pin_threads

        pin_threads(self._data.n_threads)
        for index, point in enumerate(self._points):
            limits = replace(self._data, max_trial_s=None) if point == self._data.floor_config else self._data
            outcome = evaluate_config(point, limits)
            trial_id = f"{ID_PREFIX}{self._tag}.{index}"
            ray.get(self._store.add_many.remote({trial_id: outcome}))
            self._outcomes[trial_id] = replace(outcome, fold_models=None)

    def finish(self) -> dict[str, TrialOutcome]:
        if self._thread.ident is not None:  # started
            self._thread.join()
        return dict(self._outcomes)
