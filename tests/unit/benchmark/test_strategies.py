"""The strategy registry: entries, refusals, and how each sampler meets the conditional space."""

from __future__ import annotations

import importlib.util
import pickle
import subprocess
import sys

import optuna
import pytest

from automl.benchmark.execute import resolve_strategies
from automl.errors import SpecError
from automl.models import registry
from automl.models.base import ROUNDS_PARAM
from automl.models.fixed_rounds import fixed_rounds
from automl.search.space import ConditionalSpace, quiet_optuna
from automl.search.strategies import FallbackCounter, Strategy, get_strategy, strategy_names
from automl.spec import STRATEGIES

FAMILIES = {key: fixed_rounds(registry.get_family(key)) for key in ("linear", "random_forest", "lightgbm")}


def _study(strategy: str, seed: int, trials: int) -> tuple[list[dict], FallbackCounter]:
    """Ask/tell over the conditional space with a score that depends on the configuration."""
    sampler = FallbackCounter(get_strategy(strategy).make_sampler(seed))
    space = ConditionalSpace(FAMILIES, 500, "binary")
    with quiet_optuna():
        study = optuna.create_study(direction="maximize", sampler=sampler)
        proposals = []
        for _ in range(trials):
            trial = study.ask()
            space(trial)
            proposals.append(dict(trial.params))
            study.tell(trial, sum(float(v) for v in trial.params.values() if isinstance(v, (int, float))) % 7)
    return proposals, sampler


def test_every_strategy_a_job_accepts_is_registered():
    assert set(STRATEGIES) <= set(strategy_names())


def test_an_unknown_or_unrunnable_strategy_is_refused_before_anything_runs():
    with pytest.raises(SpecError, match="unknown strategy 'nope'"):
        resolve_strategies(["tpe", "nope"])
    absent = Strategy("needs-absent", lambda seed: optuna.samplers.RandomSampler(seed=seed),
                      requires={"no_such_module_for_automl": "pip install it"})  # fmt: skip
    with pytest.raises(SpecError, match="needs no_such_module_for_automl, which is not installed: pip install it"):
        resolve_strategies([absent])
    with pytest.raises(SpecError, match="named twice"):
        resolve_strategies(["tpe", "tpe"])


def test_gp_runs_with_torch_and_is_refused_in_one_line_without_it():
    gp = get_strategy("gp")
    if importlib.util.find_spec("torch") is None:
        assert "pip install" in (gp.missing() or "")
        with pytest.raises(SpecError, match="needs torch"):
            resolve_strategies(["gp"])
    else:
        assert gp.missing() is None
        proposals, _ = _study("gp", 0, 12)
        assert len(proposals) == 12


def test_a_scheduler_strategy_is_never_batched():
    with pytest.raises(ValueError, match="unbatched"):
        Strategy("x", lambda seed: optuna.samplers.RandomSampler(seed=seed), scheduler=lambda m, d, f: None)
    assert not get_strategy("tpe-asha").batched and get_strategy("tpe-asha").scheduler is not None


@pytest.mark.parametrize("strategy", ["tpe", "random", "qmc", "cmaes", "cmaes-family", "tpe-asha"])
def test_a_seeded_strategy_proposes_the_same_sequence_twice(strategy):
    first, _ = _study(strategy, 3, 15)
    again, _ = _study(strategy, 3, 15)
    other, _ = _study(strategy, 4, 15)
    assert first == again
    assert first != other


def test_the_counter_shows_cmaes_falling_back_and_tpe_and_cmaes_per_family_modelling_the_space():
    _, cmaes = _study("cmaes", 0, 25)
    _, tpe = _study("tpe", 0, 25)
    _, split = _study("cmaes-family", 0, 25)

    def modelled(counter: FallbackCounter) -> float:
        return counter.relative / (counter.relative + counter.independent)

    assert modelled(cmaes) < 0.05  # numeric parameters every trial shares: next to none over families
    assert modelled(tpe) > 0.5  # after its 10 start-up trials, TPE models each family's subspace
    assert modelled(split) > 0.3  # a CMA-ES per family models that family's parameters


def test_fixed_rounds_searches_the_rounds_and_pickles_by_name_in_a_new_process():
    family = FAMILIES["lightgbm"]
    assert not family.early_stopping and registry.get_family("lightgbm").early_stopping
    assert ROUNDS_PARAM in family.default_params(500, "binary")
    with quiet_optuna():
        trial = optuna.create_study().ask()
    family.search_space(trial, 500, "binary")
    assert ROUNDS_PARAM in trial.params
    assert fixed_rounds(registry.get_family("linear")) is registry.get_family("linear")
    payload = pickle.dumps(family)
    code = "import pickle, sys; f = pickle.loads(sys.stdin.buffer.read()); print(type(f).__name__, f.early_stopping)"
    out = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, check=True).stdout
    assert out.decode().split() == ["LightGBMFixedRounds", "False"]
