"""Drift statistics: population stability index (PSI) against the training data.

The reference (bin edges and proportions per feature, and of the target) is computed from
the training rows when the model is built and travels inside the artifact, so a serving
replica can compare live traffic without the training data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from automl.data.coercion import FeatureTable, column_values

N_BINS = 10
TOP_CATEGORIES = 20
_OTHER = "__other__"
_MISSING = "__missing__"
_EPS = 1e-4


def feature_reference(X: pd.DataFrame, kinds: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Bins and proportions of each training feature (numbers: quantile bins; others: top values)."""
    reference = {}
    for name in X.columns:
        column = X[name]
        if kinds.get(name) == "numeric":
            values = column.to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, N_BINS + 1)[1:-1])) if len(finite) else np.array([])
            reference[name] = {
                "kind": "numeric",
                "edges": edges.tolist(),
                "proportions": numeric_counts(values, edges),
                "quantiles": reference_quantiles(finite),  # what a Kolmogorov-Smirnov test compares
                "missing_share": float(1 - len(finite) / max(len(values), 1)),
            }
        elif kinds.get(name) == "datetime":
            continue  # calendar features drift by design; compared through their parts only if asked
        else:
            text = as_text(column.to_numpy())
            top = pd.Series(text).value_counts().head(TOP_CATEGORIES).index.tolist()
            reference[name] = {"kind": "categorical", "values": top, "proportions": categorical_counts(text, top)}
    return reference


def target_reference(y: np.ndarray, task: str, n_classes: int) -> dict[str, Any]:
    """The training target's distribution, the reference for prediction drift."""
    if task == "regression":
        edges = np.unique(np.quantile(y, np.linspace(0, 1, N_BINS + 1)[1:-1]))
        return {
            "kind": "numeric",
            "edges": edges.tolist(),
            "proportions": numeric_counts(y, edges),
            "quantiles": reference_quantiles(y[np.isfinite(y)]),
        }
    counts = np.bincount(y.astype(int), minlength=n_classes).astype(float)
    return {"kind": "classes", "proportions": (counts / counts.sum()).tolist()}


class DriftTracker:
    """Running counts of live values in the reference's bins; PSI on demand.

    Rows are counted in bulk: `update` only queues them until `fold_rows` are waiting (or a
    report is asked for). Binning one row costs about as much as binning hundreds, so
    counting per request would add about a millisecond to every prediction.
    """

    def __init__(
        self, features: dict[str, dict[str, Any]], target: dict[str, Any] | None, fold_rows: int = 256
    ) -> None:
        self.features = features
        self.target = target
        self.fold_rows = fold_rows
        self.counts = {name: np.zeros(len(ref["proportions"])) for name, ref in features.items()}
        self.prediction_counts = np.zeros(len(target["proportions"])) if target else np.zeros(0)
        self.rows = 0
        self._pending: list[tuple[FeatureTable, np.ndarray]] = []
        self._pending_rows = 0

    def update(self, X: FeatureTable, predictions: np.ndarray) -> None:
        """Add live rows (coerced features: a frame or its column arrays) and their
        predictions (values or class indices)."""
        rows = len(X) if isinstance(X, pd.DataFrame) else len(next(iter(X.values()), ()))
        self._pending.append((X, predictions))
        self._pending_rows += rows
        self.rows += rows
        if self._pending_rows >= self.fold_rows:
            self._fold()

    def report(self) -> dict[str, Any]:
        """PSI per feature and of the predictions (rule of thumb: < 0.1 stable, > 0.25 shifted)."""
        self._fold()
        features = {name: psi(np.asarray(self.features[name]["proportions"]), c) for name, c in self.counts.items()}
        prediction = psi(np.asarray(self.target["proportions"]), self.prediction_counts) if self.target else None
        return {"rows": self.rows, "feature_psi": features, "prediction_psi": prediction}

    def _fold(self) -> None:
        if not self._pending:
            return
        pending, self._pending, self._pending_rows = self._pending, [], 0
        predictions = np.concatenate([np.asarray(p) for _, p in pending])
        for name, ref in self.features.items():
            parts = [column_values(x[name]) for x, _ in pending if name in x]  # no frames concatenated
            if not parts:
                continue
            values = np.concatenate(parts) if len(parts) > 1 else parts[0]
            if ref["kind"] == "numeric":
                self.counts[name] += numeric_counts(values.astype(float), np.asarray(ref["edges"]), raw=True)
            else:
                self.counts[name] += categorical_counts(as_text(values), ref["values"], raw=True)
        if self.target is not None and len(predictions):
            if self.target["kind"] == "numeric":
                edges = np.asarray(self.target["edges"])
                self.prediction_counts += numeric_counts(predictions.astype(float), edges, raw=True)
            else:
                self.prediction_counts += np.bincount(predictions.astype(int), minlength=len(self.prediction_counts))


#: a numeric reference keeps this many evenly spaced quantiles of its training values
REFERENCE_QUANTILES = 1_000


def reference_quantiles(values: np.ndarray) -> list[float]:
    """`REFERENCE_QUANTILES` midpoint quantiles of the finite `values`: a fixed-size stand-in
    for the training sample (a two-sample test against them is as one against a sample of
    that many rows drawn from the training distribution, with less noise)."""
    if len(values) == 0:
        return []
    levels = (np.arange(REFERENCE_QUANTILES) + 0.5) / REFERENCE_QUANTILES
    return np.quantile(np.asarray(values, dtype=np.float64), levels).tolist()


def psi(expected: np.ndarray, actual_counts: np.ndarray) -> float | None:
    """Population stability index of live counts against reference proportions."""
    total = actual_counts.sum()
    if total == 0 or len(expected) == 0:
        return None
    actual = actual_counts / total
    e, a = np.clip(expected, _EPS, None), np.clip(actual, _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_counts(values: np.ndarray, edges: np.ndarray, raw: bool = False) -> Any:
    """Counts in len(edges)+1 bins plus one for missing values."""
    missing = ~np.isfinite(values)
    bins = np.searchsorted(edges, values[~missing], side="right")
    counts = np.bincount(bins, minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, missing.sum())
    return counts if raw else (counts / max(counts.sum(), 1)).tolist()


def as_text(values: np.ndarray) -> list[str]:
    """Each value as the text drift compares, missing ones as one marker value."""
    missing = pd.isna(values)
    return [_MISSING if gone else str(value) for value, gone in zip(values.tolist(), missing.tolist(), strict=True)]


def categorical_counts(text: list[str], top: list[str], raw: bool = False) -> Any:
    index = {v: i for i, v in enumerate(top)}
    positions = np.fromiter((index.get(v, len(top)) for v in text), dtype=np.intp, count=len(text))
    counts = np.bincount(positions, minlength=len(top) + 1).astype(float)
    return counts if raw else (counts / max(counts.sum(), 1)).tolist()
