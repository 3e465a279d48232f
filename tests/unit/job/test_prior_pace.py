"""What a job expects each family's first configuration to cost, before one is timed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.job.planning import EARLY_STOPPING_PRIOR_SHARE, prior_pace
from automl.job.preparation import prepare
from automl.pipeline.trial import join_config
from automl.search.portfolio import relative_costs
from automl.spec import JobSpec


def _prepared(n_classes: int):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(600, 4)), columns=list("abcd"))
    frame["target"] = [f"c{i % n_classes}" for i in range(600)]
    spec = JobSpec.model_validate({"data": {"train": "unused", "target": "target"}})
    prepared = prepare(frame, spec)
    prepared.floor_config = join_config("linear", {"C": 1.0})
    prepared.floor_s = 2.0
    return prepared


def test_the_fallbacks_timing_scales_by_each_familys_relative_cost():
    costs = relative_costs()
    pace = prior_pace(_prepared(2))
    assert pace["linear"] == pytest.approx(2.0)
    assert pace["random_forest"] == pytest.approx(2.0 * costs["random_forest"])
    assert pace["lightgbm"] == pytest.approx(2.0 * costs["lightgbm"] * EARLY_STOPPING_PRIOR_SHARE)


def test_a_family_that_grows_a_tree_per_class_costs_more_with_the_classes():
    few, many = prior_pace(_prepared(3)), prior_pace(_prepared(26))
    # the linear fallback was timed at 2 s both times: what it implies for the others moves
    assert many["lightgbm"] / few["lightgbm"] == pytest.approx((26 / 3) / (26 / 3) ** 0.5)
    assert many["random_forest"] / few["random_forest"] == pytest.approx(1.0)


def test_no_timing_no_prior():
    prepared = _prepared(2)
    prepared.floor_s = 0.0
    assert prior_pace(prepared) == {}
