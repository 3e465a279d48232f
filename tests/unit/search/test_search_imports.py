"""Importing the search changes nothing in the process; its settings hold only while it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import optuna
import pytest

from automl.search.space import make_sampler, quiet_optuna
from automl.search.tuner import TUNE_ENVIRONMENT, tune_environment

_PROBE = """
import json, os, warnings
import optuna
before = optuna.logging.get_verbosity()
import automl.search.runner, automl.search.space  # noqa: F401
print(json.dumps({
    "environment": sorted(name for name in %r if name in os.environ),
    "filters": [str(f[2]) for f in warnings.filters if f[2] is optuna.exceptions.ExperimentalWarning],
    "verbosity": [before, optuna.logging.get_verbosity()],
}))
"""


def test_importing_the_search_sets_no_environment_variable_warning_filter_or_log_level():
    env = {k: v for k, v in os.environ.items() if k not in TUNE_ENVIRONMENT}
    probe = _PROBE % (sorted(TUNE_ENVIRONMENT),)
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["environment"] == []
    assert seen["filters"] == []
    assert seen["verbosity"][0] == seen["verbosity"][1]


def test_tunes_variables_are_set_while_it_runs_and_a_users_setting_wins(monkeypatch):
    for name in TUNE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAY_AIR_NEW_OUTPUT", "1")
    with tune_environment():
        assert os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] == "1"
        assert os.environ["RAY_AIR_NEW_OUTPUT"] == "1"
    assert "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS" not in os.environ
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "1"


@pytest.mark.parametrize("strategy", ["tpe", "random", "qmc", "cmaes"])
def test_samplers_are_built_without_experimental_warnings(strategy, recwarn):
    make_sampler(strategy, 0)
    assert not [w for w in recwarn if issubclass(w.category, optuna.exceptions.ExperimentalWarning)]


def test_optunas_log_level_is_raised_only_while_the_search_runs():
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        with quiet_optuna():
            assert optuna.logging.get_verbosity() == optuna.logging.WARNING
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        optuna.logging.set_verbosity(level)
