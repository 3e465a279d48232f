"""Gradient-boosted models' predictions straight from their boosters.

The scikit-learn wrappers of LightGBM and XGBoost check their input and rebuild their
prediction parameters on every call; for one row that costs more than walking the trees.
The functions here call the booster as the wrapper would, with the same iteration range
and thread count, so their output is the wrapper's. Any other model gets None (its own
`predict` / `predict_proba` is used).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import is_classifier

Predict = Callable[[Any], np.ndarray]


def inplace_values(estimator: Any) -> Predict | None:
    """A regressor's values from its booster, as the wrapper's `predict`, or None (a
    classifier's `predict` gives labels: it keeps its own)."""
    if is_classifier(estimator):
        return None
    booster = _lightgbm_booster(estimator)
    if booster is not None:
        threads = _lightgbm_threads(estimator)
        return lambda Z: booster.predict(Z, num_threads=threads, validate_features=False)
    return _xgboost_predict(estimator)


def inplace_probabilities(estimator: Any) -> Predict | None:
    """The booster's class probabilities as the wrapper's `predict_proba`, or None."""
    booster = _lightgbm_booster(estimator)
    if booster is not None:
        if callable(getattr(estimator, "_objective", None)):
            return None  # a custom objective's output is not a probability
        threads = _lightgbm_threads(estimator)
        if getattr(estimator, "n_classes_", 2) > 2:
            return lambda Z: booster.predict(Z, num_threads=threads, validate_features=False)
        return lambda Z: _two_columns(booster.predict(Z, num_threads=threads, validate_features=False))
    predict = _xgboost_predict(estimator)
    if predict is None or not hasattr(estimator, "n_classes_"):
        return None
    if estimator.n_classes_ > 2:
        return predict
    return lambda Z: _two_columns(predict(Z))


def _two_columns(positive: np.ndarray) -> np.ndarray:
    positive = np.asarray(positive).reshape(-1)  # in its own precision, as the wrappers subtract
    return np.stack([1.0 - positive, positive], axis=1)


def _lightgbm_booster(estimator: Any) -> Any:
    lgb = sys.modules.get("lightgbm")  # a LightGBM model was unpickled only if it is loaded
    if lgb is None or not isinstance(estimator, lgb.LGBMModel) or not hasattr(estimator, "booster_"):
        return None
    return estimator.booster_


def _lightgbm_threads(estimator: Any) -> int:
    """The wrapper's thread count: `n_jobs`, with its negative and None meanings resolved."""
    resolve = getattr(estimator, "_process_n_jobs", None)
    n_jobs = getattr(estimator, "n_jobs", None)
    return int(resolve(n_jobs)) if callable(resolve) else max(int(n_jobs or 0), 0)


def _xgboost_predict(estimator: Any) -> Predict | None:
    xgb = sys.modules.get("xgboost")
    if xgb is None or not isinstance(estimator, xgb.XGBModel):
        return None
    objective = estimator.get_params().get("objective")
    if not isinstance(objective, str) or objective.startswith(("rank:", "survival:")):
        return None
    booster = estimator.get_booster()
    try:
        rounds = (0, int(estimator.best_iteration) + 1)  # as the wrapper: the best iteration when it stopped early
    except AttributeError:
        rounds = (0, 0)
    missing = estimator.missing

    def predict(Z: Any) -> np.ndarray:
        return np.asarray(
            booster.inplace_predict(Z, iteration_range=rounds, predict_type="value", missing=missing,
                                    validate_features=False)
        )  # fmt: skip

    return predict
