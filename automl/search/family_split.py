"""A sampler that meets the conditional space one family at a time.

Optuna's CMA-ES, QMC and GP samplers model the parameters every finished trial shares;
over "family, then its hyperparameters" that is the family choice at most, so each
family's hyperparameters are sampled at random. `FamilySplitSampler` chooses the family
first (univariate TPE over the family choice, before the trial runs), then hands the
trial to an inner sampler of that family's own, which sees only that family's trials:
its space is fixed, and the inner sampler models it as it would a plain space.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from automl.pipeline.trial import MODEL_KEY


class _FamilyView:
    """A study as one family's inner sampler sees it: only that family's trials."""

    def __init__(self, study: Study, family: str) -> None:
        self._study = study
        self._family = family

    def _mine(self, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        return [t for t in trials if t.params.get(MODEL_KEY) == self._family]

    def _get_trials(self, *args: Any, **kwargs: Any) -> list[FrozenTrial]:
        return self._mine(self._study._get_trials(*args, **kwargs))

    def get_trials(self, *args: Any, **kwargs: Any) -> list[FrozenTrial]:
        return self._mine(self._study.get_trials(*args, **kwargs))

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


class FamilySplitSampler(BaseSampler):
    """The family by univariate TPE, then a per-family inner sampler (`make_inner(seed)`)."""

    def __init__(self, make_inner: Callable[[int], BaseSampler], seed: int) -> None:
        self._make_inner = make_inner
        self._seed = seed
        self._family_sampler = optuna.samplers.TPESampler(seed=seed)
        self._inner: dict[str, BaseSampler] = {}
        self._chosen: dict[int, str] = {}  # trial number -> its family
        self._family_distribution: BaseDistribution | None = None

    def _inner_for(self, family: str) -> BaseSampler:
        if family not in self._inner:
            self._inner[family] = self._make_inner(self._seed ^ zlib.crc32(family.encode()))
        return self._inner[family]

    def _view(self, study: Study, family: str) -> Study:
        view: Any = _FamilyView(study, family)  # duck-typed: the samplers read trials through it
        return view

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        # the family is chosen before the trial runs, so that its relative space is known
        if self._family_distribution is not None:
            family = self._family_sampler.sample_independent(study, trial, MODEL_KEY, self._family_distribution)
            self._chosen[trial.number] = family
            self._inner_for(family).before_trial(self._view(study, family), trial)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        family = self._chosen.get(trial.number)
        if family is None:
            return {}
        space = self._inner_for(family).infer_relative_search_space(self._view(study, family), trial)
        return {name: d for name, d in space.items() if name != MODEL_KEY}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        family = self._chosen.get(trial.number)
        if family is None or not search_space:
            return {}
        return self._inner_for(family).sample_relative(self._view(study, family), trial, search_space)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        if param_name == MODEL_KEY:
            self._family_distribution = param_distribution
            if trial.number not in self._chosen:
                choice = self._family_sampler.sample_independent(study, trial, param_name, param_distribution)
                self._chosen[trial.number] = choice
            return self._chosen[trial.number]
        family = self._chosen.get(trial.number, "")
        return self._inner_for(family).sample_independent(
            self._view(study, family), trial, param_name, param_distribution
        )

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        family = self._chosen.pop(trial.number, None)
        if family is not None:
            self._inner_for(family).after_trial(self._view(study, family), trial, state, values)
        self._family_sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._family_sampler.reseed_rng()
        for inner in self._inner.values():
            inner.reseed_rng()
