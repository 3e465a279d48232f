"""The job's Budget: one clock, shares kept for later steps, refusals that state the minimum."""

from __future__ import annotations

import math
import time

import pytest

from automl.budget import Budget
from automl.errors import SpecError


def test_a_budget_counts_from_the_command_start():
    budget = Budget(10.0, started=time.monotonic() - 4.0)  # Ray's start-up, say, took 4 s
    assert 5.9 < budget.left() <= 6.0
    assert budget.wall_deadline() == pytest.approx(time.time() + budget.left(), abs=0.1)


def test_shares_reserved_for_later_steps_are_kept_from_earlier_ones():
    budget = Budget(20.0)
    budget.reserve("ensemble", 3.0)
    budget.reserve("finish", 2.0)
    assert budget.grant("search") == pytest.approx(15.0, abs=0.1)
    # the ensemble gets its own share back when it asks, the finish share stays kept
    assert budget.grant("ensemble") == pytest.approx(18.0, abs=0.1)
    assert budget.grant("refit", wanted_s=1.0) == 1.0


def test_steps_are_timed_and_reported():
    budget = Budget(30.0)
    with budget.step("prepare"):
        pass
    with budget.step("search"):
        pass
    report = budget.report()
    assert list(report["steps_s"]) == ["prepare", "search"] and report["time_s"] == 30.0


def test_without_a_time_budget_nothing_is_limited():
    budget = Budget(None)
    assert not budget.limited and budget.left() == math.inf and budget.wall_deadline() is None
    budget.require(1e9, "anything")  # never refused


def test_a_budget_too_small_is_refused_with_the_minimum_that_fits():
    budget = Budget(5.0, started=time.monotonic() - 3.2)
    with pytest.raises(SpecError) as error:
        budget.require(4.0, "the cheapest model on 5 folds")
    message = str(error.value)
    assert "at least 8s" in message and "raise --time-budget" in message and "cheapest model" in message
    assert "\n" not in message
