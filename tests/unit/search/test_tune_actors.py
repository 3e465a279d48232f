"""Tune's trial actors must be able to start on Ray's idle workers (see tuner.trial_actors_on_idle_workers)."""

from __future__ import annotations

from ray.tune.execution.class_cache import _ActorClassCache

from automl.search import tuner
from automl.search.tuner import trial_actors_on_idle_workers


def test_trial_actors_get_the_jobs_runtime_environment_and_tune_gets_its_own_back():
    # Ray hands an actor an idle worker only when their runtime environments match: with
    # Tune's PL_DISABLE_FORK every trial actor waited for a new worker and its imports.
    cache = _ActorClassCache()
    with trial_actors_on_idle_workers():
        ours = cache.get(type("OurTrainable", (), {}))
    theirs = cache.get(type("LaterTrainable", (), {}))
    assert not ours._default_options.get("runtime_env")
    assert theirs._default_options["runtime_env"]["env_vars"] == {"PL_DISABLE_FORK": "1"}


def test_a_tune_without_the_defaults_runs_as_it_is(monkeypatch):
    monkeypatch.setattr(tuner, "tune_actor_env_defaults", lambda: None)  # compat found no DEFAULT_ENV_VARS
    with trial_actors_on_idle_workers():
        ours = _ActorClassCache().get(type("OurTrainable", (), {}))
    assert ours._default_options["runtime_env"]["env_vars"] == {"PL_DISABLE_FORK": "1"}
