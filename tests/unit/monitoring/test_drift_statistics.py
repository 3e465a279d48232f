"""Drift tests against a training reference: power on a half-standard-deviation shift,
false alarms on traffic from the training distribution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from automl.monitoring import feature_reference, target_reference
from automl.monitoring.statistics import categorical_drift, drift_report

KINDS = {
    "x0": "numeric",
    "x1": "numeric",
    "x2": "numeric",
    "x3": "numeric",
    "colour": "categorical",
    "size": "categorical",
}
SEEDS = range(20)
LIVE_ROWS = 500


def _table(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x0": rng.normal(loc=shift, size=n),  # the shifted feature (in standard deviations)
            "x1": rng.normal(size=n),
            "x2": rng.exponential(size=n),
            "x3": rng.integers(0, 5, size=n).astype(float),
            "colour": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
            "size": rng.choice(["s", "m", "l", "xl"], n),
        }
    )


@pytest.fixture(scope="module")
def reference():
    training = _table(5_000, np.random.default_rng(1234))
    return {"features": feature_reference(training, KINDS)}


def test_a_half_sd_shift_is_flagged_for_its_feature_and_not_for_the_others(reference):
    caught, others = 0, 0
    for seed in SEEDS:
        live = _table(LIVE_ROWS, np.random.default_rng(seed), shift=0.5)
        report = drift_report(reference, live, kinds=KINDS)
        caught += "x0" in report["drifted"]
        others += len([name for name in report["drifted"] if name != "x0"])
    assert caught >= 19, caught
    assert others <= 1, others


def test_traffic_from_the_training_distribution_raises_at_most_one_false_alarm_in_twenty(reference):
    alarms = 0
    for seed in SEEDS:
        report = drift_report(reference, _table(LIVE_ROWS, np.random.default_rng(100 + seed)), kinds=KINDS)
        alarms += bool(report["drifted"])
    assert alarms <= 1, alarms


def test_a_categorical_shift_is_caught_by_chi_squared(reference):
    rng = np.random.default_rng(7)
    live = rng.choice(["red", "green", "blue"], LIVE_ROWS, p=[0.3, 0.4, 0.3])
    result = categorical_drift("colour", reference["features"]["colour"], live, threshold=0.01)
    assert result.test == "chi2" and result.drifted and result.p_value < 1e-6
    assert result.psi > 0.05


def test_predictions_drift_and_small_or_old_references_are_notes():
    y = np.random.default_rng(0).integers(0, 2, size=4_000)
    reference = {"features": {}, "target": target_reference(y, "binary", 2)}
    shifted = np.r_[np.ones(400, dtype=int), np.zeros(100, dtype=int)]  # 80% positives against ~50%
    report = drift_report(reference, pd.DataFrame(index=range(500)), shifted, kinds={})
    assert report["prediction"]["test"] == "chi2" and report["prediction"]["drifted"]
    training = _table(1_000, np.random.default_rng(3))
    old = {"features": feature_reference(training, KINDS)}
    del old["features"]["x1"]["quantiles"]  # a model saved before the KS reference
    few = drift_report(old, _table(10, np.random.default_rng(4)), kinds=KINDS)
    notes = {f["name"]: f["note"] for f in few["features"]}
    assert "PSI only" in notes["x1"] and "too few" in notes["x0"] and not few["drifted"]
