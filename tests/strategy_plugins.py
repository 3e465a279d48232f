"""A strategy a test registers: workers get it by value (`ray.cloudpickle.register_pickle_by_value`)."""

from __future__ import annotations

from typing import Any

import optuna
from ray.tune.schedulers import FIFOScheduler, TrialScheduler


class StopAfterFirstFold(FIFOScheduler):
    """Stops every trial at its first report (after its first fold)."""

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        return TrialScheduler.STOP if result.get("training_iteration", 0) >= 1 else TrialScheduler.CONTINUE


def first_fold_scheduler(metric: str, mode: str, folds: int) -> TrialScheduler:
    return StopAfterFirstFold()


def random_sampler(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)
