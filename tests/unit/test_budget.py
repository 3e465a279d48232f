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
    assert not budget.limited and budget.left() == math.inf
    budget.require(1e9, "anything")  # never refused


def test_a_budget_too_small_is_refused_with_the_minimum_that_fits():
    budget = Budget(5.0, started=time.monotonic() - 3.2)
    with pytest.raises(SpecError) as error:
        budget.require(4.0, "the cheapest model on 5 folds")
    message = str(error.value)
    assert "at least 8s" in message and "raise --time-budget" in message and "cheapest model" in message
    assert "\n" not in message


def _prepared(n_rows: int = 200):
    from tables import make_mixed_table

    from automl.job.preparation import prepare
    from automl.spec import spec_from_options

    spec = spec_from_options(train="t", target="target")
    return prepare(make_mixed_table(n_rows=n_rows, seed=1), spec), spec


def test_folds_that_cannot_fit_the_budget_give_way_to_a_holdout():
    from automl.job.planning import holdout_when_folds_do_not_fit

    prepared, spec = _prepared()
    prepared.floor_s = 50.0  # the cheapest model on 5 folds: more than the budget
    holdout_when_folds_do_not_fit(Budget(30.0), prepared, spec, 0)
    assert len(prepared.data.folds) == 1 and "a holdout of 20%" in prepared.notes[-1]
    assert prepared.floor_s == pytest.approx(50.0 / 5)  # one split of the rows instead of five

    roomy, spec = _prepared()
    roomy.floor_s = 0.01
    holdout_when_folds_do_not_fit(Budget(30.0), roomy, spec, 0)
    assert len(roomy.data.folds) == 5


def test_a_search_that_could_try_few_configurations_on_the_folds_validates_on_a_holdout():
    from automl.job.planning import MIN_EXPECTED_TRIALS, expected_trials, holdout_when_folds_do_not_fit
    from automl.spec import spec_from_options

    prepared, spec = _prepared(n_rows=6_000)
    prepared.floor_config = {"model": "linear", "C": 1.0}  # what `choose_floor` picks on this table
    prepared.floor_s = 2.0  # fits on every fold, but the costlier families' first configurations take far more
    few = expected_trials(prepared, 20.0, concurrency=2)
    assert few is not None and few < MIN_EXPECTED_TRIALS
    holdout_when_folds_do_not_fit(Budget(30.0), prepared, spec, 0, concurrency=2)
    assert len(prepared.data.folds) == 1 and "of the first configurations would fit" in prepared.notes[-1]

    small, spec = _prepared()
    small.floor_config, small.floor_s = prepared.floor_config, 2.0
    holdout_when_folds_do_not_fit(Budget(30.0), small, spec, 0, concurrency=2)
    assert len(small.data.folds) == 5  # 200 rows: a holdout's score would be too noisy to search on

    many, spec = _prepared(n_rows=6_000)
    many.floor_config, many.floor_s = prepared.floor_config, 0.01
    assert (expected_trials(many, 20.0, concurrency=2) or 0) >= MIN_EXPECTED_TRIALS
    holdout_when_folds_do_not_fit(Budget(30.0), many, spec, 0, concurrency=2)
    assert len(many.data.folds) == 5

    told, _ = _prepared(n_rows=6_000)
    told.floor_config, told.floor_s = prepared.floor_config, 2.0
    set_folds = spec_from_options(train="t", target="target", cv_folds=5)  # the user chose the folds
    holdout_when_folds_do_not_fit(Budget(30.0), told, set_folds, 0, concurrency=2)
    assert len(told.data.folds) == 5


def test_a_resumed_search_keeps_the_split_its_journal_was_validated_on():
    from automl.job.planning import holdout_when_folds_do_not_fit

    prepared, spec = _prepared()
    prepared.floor_s = 50.0
    holdout_when_folds_do_not_fit(Budget(30.0), prepared, spec, 0, journaled=5)
    assert len(prepared.data.folds) == 5  # its trials' out-of-fold rows are of the 5 folds
    again, spec = _prepared()
    holdout_when_folds_do_not_fit(Budget(None), again, spec, 0, journaled=1)
    assert len(again.data.folds) == 1
