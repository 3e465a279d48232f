"""Search strategies: which sampler chooses the configurations, which scheduler (if any)
stops trials early, and whether configurations are batched. One entry each.

A strategy is what a benchmark compares and what `SearchSettings.strategy` names. A new
one is one `register_strategy` call; the entry object itself can also be handed to a
search (a benchmark does so, so that an entry registered in one process runs in another).

How each strategy meets the conditional space ("family, then its hyperparameters") is
said in its `space` line, and measured while it runs (`FallbackCounter`): Optuna's CMA-ES,
QMC and GP samplers model only the parameters every finished trial shares, which over
this space is the family choice alone (and CMA-ES and QMC leave categorical parameters
out), so they sample the rest through their independent sampler, which is random.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState
from ray.tune.schedulers import TrialScheduler

from automl.spec import STRATEGY_NEEDS

#: a scheduler's factory: (metric, mode, number of fold reports a full trial makes)
SchedulerFactory = Callable[[str, str, int], TrialScheduler]


@dataclass(frozen=True)
class Strategy:
    """One search strategy.

    Attributes:
        name: what users type (`--strategy`, `--strategies`).
        sampler: the Optuna sampler for a seed.
        scheduler: a Ray Tune scheduler that stops trials early on a fidelity (None: none).
            Such a strategy's trials run one configuration each and report each fold's
            score as it ends (the fidelity is folds done).
        batched: quick configurations share one Tune trial (`search.batching`); a strategy
            with a scheduler is never batched.
        random_fallback: the sampler's independent sampling (what it does for a parameter
            outside the space it models) is random: counted as a fallback in a benchmark.
        space: how the strategy meets the conditional space, in one line.
        requires: modules it needs beyond the core, and the install that provides them.
    """

    name: str
    sampler: Callable[[int], BaseSampler]
    scheduler: SchedulerFactory | None = None
    batched: bool = True
    random_fallback: bool = False
    space: str = ""
    requires: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scheduler is not None and self.batched:
            raise ValueError(f"strategy {self.name!r}: a strategy with a scheduler runs unbatched trials")

    def missing(self) -> str | None:
        """Why this strategy cannot run here (a module it needs is absent), or None."""
        for module, install in self.requires.items():
            if importlib.util.find_spec(module) is None:
                return f"strategy {self.name!r} needs {module}, which is not installed: {install}"
        return None

    def make_sampler(self, seed: int) -> BaseSampler:
        """The strategy's sampler, Optuna's experimental-feature warnings silenced (the
        options a conditional space needs are experimental; the warning helps no user)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return self.sampler(seed)


_REGISTRY: dict[str, Strategy] = {}


def register_strategy(strategy: Strategy) -> Strategy:
    """Add (or replace) a strategy under its name."""
    _REGISTRY[strategy.name] = strategy
    return strategy


def unregister_strategy(name: str) -> None:
    _REGISTRY.pop(name, None)


def strategy_names() -> list[str]:
    return list(_REGISTRY)


def get_strategy(strategy: str | Strategy) -> Strategy:
    """The registered strategy of that name (an entry is returned as it is).

    Raises:
        ValueError: an unknown name, with the known ones.
    """
    if isinstance(strategy, Strategy):
        return strategy
    if strategy not in _REGISTRY:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[strategy]


class FallbackCounter(BaseSampler):
    """Wraps a sampler and counts how its parameters were chosen: by its model of the
    space (`sample_relative`) or one at a time (`sample_independent`), which for the
    samplers that fall back to random sampling means at random."""

    def __init__(self, inner: BaseSampler) -> None:
        self.inner = inner
        self.relative = 0
        self.independent = 0

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        params = self.inner.sample_relative(study, trial, search_space)
        self.relative += len(params)
        return params

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        self.independent += 1
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()

    def counts(self) -> dict[str, int]:
        return {"relative": self.relative, "independent": self.independent}


def _tpe(seed: int) -> BaseSampler:
    # multivariate + group model the conditional space jointly; constant_liar keeps
    # parallel workers from proposing the same point
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)


def _random(seed: int) -> BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


def _qmc(seed: int) -> BaseSampler:
    return optuna.samplers.QMCSampler(
        qmc_type="sobol", seed=seed, scramble=True, warn_asynchronous_seeding=False, warn_independent_sampling=False
    )


def _cmaes(seed: int) -> BaseSampler:
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _gp(seed: int) -> BaseSampler:
    return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)


def _cmaes_family(seed: int) -> BaseSampler:
    from automl.search.family_split import FamilySplitSampler

    return FamilySplitSampler(_cmaes, seed)


def _gp_family(seed: int) -> BaseSampler:
    from automl.search.family_split import FamilySplitSampler

    return FamilySplitSampler(_gp, seed)


#: ASHA's rungs on folds done: with 5 folds, a trial is weighed after 1, 2 and 4
ASHA_REDUCTION = 2


def _successive_halving(metric: str, mode: str, folds: int, *, brackets: int) -> TrialScheduler:
    """Asynchronous successive halving on folds done: ASHA with one bracket, HyperBand's
    asynchronous form with several (Tune's synchronous HyperBand pauses trials, and a
    paused function trial without checkpoints starts again from its first fold)."""
    from ray.tune.schedulers import AsyncHyperBandScheduler

    return AsyncHyperBandScheduler(
        time_attr="training_iteration",
        metric=metric,
        mode=mode,
        max_t=max(1, folds),
        grace_period=1,
        reduction_factor=ASHA_REDUCTION,
        brackets=brackets,
    )


_asha = functools.partial(_successive_halving, brackets=1)
_hyperband = functools.partial(_successive_halving, brackets=3)

_JOINT = (
    "models the family and its hyperparameters jointly (multivariate TPE with groups: one model per family's subspace)"
)
_INTERSECTION = (
    "models only the parameters every finished trial shares (over this space, the family choice at most); "
    "each family's hyperparameters fall back to random sampling"
)

register_strategy(Strategy("tpe", _tpe, space=_JOINT))
register_strategy(Strategy("random", _random, space="independent uniform sampling by design: the baseline"))
register_strategy(
    Strategy(
        "qmc",
        _qmc,
        random_fallback=True,
        space="a scrambled Sobol sequence over the first trial's parameters; everything else falls back to random",
    )
)
register_strategy(
    Strategy(
        "cmaes",
        _cmaes,
        random_fallback=True,
        space="CMA-ES leaves categorical parameters out; " + _INTERSECTION,
    )
)
register_strategy(
    Strategy(
        "gp",
        _gp,
        random_fallback=True,
        space="a Gaussian process that " + _INTERSECTION,
        requires={STRATEGY_NEEDS["gp"][0]: STRATEGY_NEEDS["gp"][1]},
    )
)
_SPLIT = (
    "the family by univariate TPE before the trial runs, then {} of that family's own over its fixed space "
    "(random until the family's first trials finish)"
)
register_strategy(Strategy("cmaes-family", _cmaes_family, random_fallback=True, space=_SPLIT.format("a CMA-ES")))
register_strategy(
    Strategy(
        "gp-family",
        _gp_family,
        random_fallback=True,
        space=_SPLIT.format("a Gaussian process"),
        requires={STRATEGY_NEEDS["gp"][0]: STRATEGY_NEEDS["gp"][1]},
    )
)
register_strategy(
    Strategy(
        "tpe-asha",
        _tpe,
        scheduler=_asha,
        batched=False,
        space=_JOINT + "; ASHA stops the weaker trials after 1, 2 or 4 folds",
    )
)
register_strategy(
    Strategy(
        "tpe-hyperband",
        _tpe,
        scheduler=_hyperband,
        batched=False,
        space=_JOINT + "; asynchronous HyperBand (3 brackets of ASHA) stops trials between folds",
    )
)
