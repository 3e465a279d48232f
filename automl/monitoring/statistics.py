"""Drift tests of live traffic against a model's training reference (`monitoring.drift`).

Numeric features (and a regression model's predictions): the two-sample Kolmogorov-Smirnov
test against the reference's quantiles, with PSI beside it; categorical features (and a
classifier's predicted classes): Pearson's chi-squared test of the live counts against the
training proportions. scipy computes both tests. A feature is flagged when its p-value is
below the threshold divided by the number of features tested (Bonferroni), so that traffic
from the training distribution raises an alarm on any feature with probability at most the
threshold; PSI is reported as the size of a shift, not used to flag it (it grows with
sample noise on small windows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from automl.monitoring.drift import as_text, categorical_counts, numeric_counts, psi

#: the share of windows from the training distribution that may raise an alarm
P_VALUE = 0.01
#: a chi-squared test needs this many expected rows per cell; rarer cells are pooled
MIN_EXPECTED = 5.0
#: fewer live rows than this: no test (too few to tell a shift from noise)
MIN_ROWS = 30


@dataclass(frozen=True)
class DriftResult:
    """One feature's (or the predictions') drift: the test, its statistic and p-value,
    PSI, and whether it is flagged (`p_value < threshold`, the Bonferroni-corrected level)."""

    name: str
    kind: str
    test: str | None
    statistic: float | None
    p_value: float | None
    psi: float | None
    rows: int
    threshold: float
    drifted: bool
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def numeric_drift(name: str, reference: Mapping[str, Any], values: np.ndarray, threshold: float) -> DriftResult:
    """KS of the finite live values against the reference quantiles; PSI on its bins."""
    values = np.asarray(values, dtype=np.float64)
    counts = numeric_counts(values, np.asarray(reference["edges"]), raw=True)
    shift = psi(np.asarray(reference["proportions"]), counts)
    finite = values[np.isfinite(values)]
    quantiles = reference.get("quantiles")
    if not quantiles:
        return DriftResult(name, "numeric", None, None, None, shift, len(values), threshold, False,
                           "the reference has no quantiles (a model saved before them): PSI only")  # fmt: skip
    if len(finite) < MIN_ROWS:
        return DriftResult(name, "numeric", None, None, None, shift, len(values), threshold, False,
                           f"{len(finite)} finite live values: too few to test")  # fmt: skip
    test = stats.ks_2samp(np.asarray(quantiles), finite)
    p = float(test.pvalue)
    return DriftResult(name, "numeric", "ks", float(test.statistic), p, shift, len(values), threshold, p < threshold)


def categorical_drift(name: str, reference: Mapping[str, Any], values: np.ndarray, threshold: float) -> DriftResult:
    """Chi-squared goodness of fit of the live value counts (the reference's top values,
    the others pooled) against the training proportions."""
    counts = np.asarray(categorical_counts(as_text(np.asarray(values, dtype=object)), reference["values"], raw=True))
    return _counts_drift(name, "categorical", np.asarray(reference["proportions"], dtype=np.float64), counts, threshold)


def class_drift(reference: Mapping[str, Any], classes: np.ndarray, threshold: float) -> DriftResult:
    """The predicted classes' counts against the training target's class shares."""
    expected = np.asarray(reference["proportions"], dtype=np.float64)
    counts = np.bincount(np.asarray(classes, dtype=np.int64), minlength=len(expected)).astype(np.float64)
    return _counts_drift("prediction", "classes", expected, counts, threshold)


def _counts_drift(
    name: str, kind: str, expected_share: np.ndarray, counts: np.ndarray, threshold: float
) -> DriftResult:
    rows = int(counts.sum())
    shift = psi(expected_share, counts)
    if rows < MIN_ROWS:
        return DriftResult(name, kind, None, None, None, shift, rows, threshold, False, f"{rows} live rows: too few")
    expected = expected_share / max(expected_share.sum(), 1e-12) * rows
    observed, pooled = _pooled(expected, counts)
    if len(observed) < 2:
        return DriftResult(name, kind, None, None, None, shift, rows, threshold, False, "one value: nothing to test")
    test = stats.chisquare(observed, pooled)
    p = float(test.pvalue)
    return DriftResult(name, kind, "chi2", float(test.statistic), p, shift, rows, threshold, p < threshold)


def _pooled(expected: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells with fewer than `MIN_EXPECTED` expected rows pooled into one (with the
    smallest other cell if the pool alone is still too small)."""
    small = expected < MIN_EXPECTED
    if not small.any():
        return observed, expected
    keep_obs, keep_exp = list(observed[~small]), list(expected[~small])
    pool_obs, pool_exp = float(observed[small].sum()), float(expected[small].sum())
    if pool_exp < MIN_EXPECTED and keep_exp:
        smallest = int(np.argmin(keep_exp))
        pool_obs += keep_obs.pop(smallest)
        pool_exp += keep_exp.pop(smallest)
    if pool_exp > 0:
        keep_obs.append(pool_obs)
        keep_exp.append(pool_exp)
    return np.asarray(keep_obs), np.asarray(keep_exp)


def drift_report(
    reference: Mapping[str, Any],
    live: pd.DataFrame,
    predictions: np.ndarray | None = None,
    *,
    kinds: Mapping[str, str],
    p_value: float = P_VALUE,
) -> dict[str, Any]:
    """Each referenced feature's drift in `live` (its raw logged values, by column) and,
    given `predictions` (class indices, or values for regression), the predictions'.

    Returns:
        `{"rows", "p_value", "threshold", "features": [DriftResult dicts], "prediction":
        DriftResult dict or None, "drifted": [flagged feature names]}`.
    """
    features = {name: ref for name, ref in reference.get("features", {}).items() if name in live.columns}
    threshold = p_value / max(len(features), 1)
    results = []
    for name, ref in features.items():
        column = live[name]
        if ref["kind"] == "numeric" or kinds.get(name) == "numeric":
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            results.append(numeric_drift(name, ref, values, threshold))
        else:
            results.append(categorical_drift(name, ref, column.to_numpy(dtype=object), threshold))
    prediction = None
    target = reference.get("target")
    if predictions is not None and target is not None and len(predictions):
        if target["kind"] == "numeric":
            prediction = numeric_drift("prediction", target, np.asarray(predictions, dtype=np.float64), p_value)
        else:
            prediction = class_drift(target, np.asarray(predictions), p_value)
    return {
        "rows": len(live),
        "p_value": p_value,
        "threshold": threshold,
        "features": [r.as_dict() for r in results],
        "prediction": None if prediction is None else prediction.as_dict(),
        "drifted": [r.name for r in results if r.drifted],
    }


__all__ = ["P_VALUE", "DriftResult", "categorical_drift", "class_drift", "drift_report", "numeric_drift"]
