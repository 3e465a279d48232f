"""The conditional search space (family, then its hyperparameters) and the samplers.

The space is Optuna define-by-run: the sampler first picks a family, then that family
declares its own hyperparameters. Names are prefixed with the family key, so two
families' `n_estimators` are separate dimensions for the sampler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import optuna

from automl.features.choices import TableTraits, declare_choices
from automl.models.base import ModelFamily, Suggester
from automl.pipeline.trial import MODEL_KEY, PARAM_SEPARATOR, join_config


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Keep Optuna's per-trial INFO lines (a study created, a trial told) out of the
    job's output while a search runs: the progress line reports trials."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


class _Prefixed:
    """Hands a family an Optuna trial whose parameter names carry the family's key."""

    def __init__(self, trial: Suggester, family: str) -> None:
        self._trial = trial
        self._prefix = family + PARAM_SEPARATOR

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        return self._trial.suggest_int(self._prefix + name, low, high, log=log)

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        return self._trial.suggest_float(self._prefix + name, low, high, log=log)

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self._trial.suggest_categorical(self._prefix + name, choices)


class ConditionalSpace:
    """A define-by-run function for `OptunaSearch(space=...)`.

    A class rather than a closure: Tune pickles the searcher with its experiment state.
    """

    def __init__(
        self, families: dict[str, ModelFamily], n_rows: int, task: str, traits: TableTraits | None = None
    ) -> None:
        self.families = families
        self.n_rows = n_rows
        self.task = task
        self.traits = traits  # the table's feature choices (`features.choices`); None: none searched

    def __call__(self, trial: Suggester) -> None:
        family = trial.suggest_categorical(MODEL_KEY, list(self.families))
        prefixed = _Prefixed(trial, family)
        self.families[family].search_space(prefixed, self.n_rows, self.task)
        if self.traits is not None:
            declare_choices(prefixed, self.families[family], self.traits)


def default_points(families: dict[str, ModelFamily], n_rows: int, task: str) -> list[dict[str, Any]]:
    """Each family's default configuration, in registry order, to be evaluated first."""
    return [join_config(key, family.default_params(n_rows, task)) for key, family in families.items()]


def make_sampler(strategy: str, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of a registered strategy (see `search.strategies`)."""
    from automl.search.strategies import get_strategy

    return get_strategy(strategy).make_sampler(seed)
