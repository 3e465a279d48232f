"""scikit-learn's histogram gradient boosting."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from automl.models.base import ModelFamily, Suggester, is_classification, n_estimators_cap


class HistGradientBoosting(ModelFamily):
    key = "hist_gradient_boosting"

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        trial.suggest_float("learning_rate", 0.01, 0.3, log=True)
        trial.suggest_int("max_iter", 50, n_estimators_cap(n_rows), log=True)
        trial.suggest_int("max_leaf_nodes", 8, 128, log=True)
        trial.suggest_int("min_samples_leaf", 2, max(3, min(100, n_rows // 20)), log=True)
        trial.suggest_float("l2_regularization", 1e-6, 10.0, log=True)

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {
            "learning_rate": 0.1,
            "max_iter": 100,
            "max_leaf_nodes": 31,
            "min_samples_leaf": min(20, max(2, min(100, n_rows // 20))),
            "l2_regularization": 1e-6,
        }

    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> BaseEstimator:
        cls = HistGradientBoostingClassifier if is_classification(task) else HistGradientBoostingRegressor
        return cls(**params, random_state=seed)
