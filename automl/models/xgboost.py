"""XGBoost gradient-boosted trees."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator

from automl.models.base import ModelFamily, Suggester, is_classification, n_estimators_cap


class XGBoost(ModelFamily):
    key = "xgboost"

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        trial.suggest_int("n_estimators", 50, n_estimators_cap(n_rows), log=True)
        trial.suggest_float("learning_rate", 0.005, 0.3, log=True)
        trial.suggest_int("max_depth", 2, 10)
        trial.suggest_float("min_child_weight", 0.1, 20.0, log=True)
        trial.suggest_float("subsample", 0.5, 1.0)
        trial.suggest_float("colsample_bytree", 0.3, 1.0)
        trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True)

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {
            "n_estimators": 200,
            "learning_rate": 0.05,
            "max_depth": 6,
            "min_child_weight": 1.0,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
        }

    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> BaseEstimator:
        import xgboost as xgb  # imported here: loading the library costs start-up time

        common = {"tree_method": "hist", "n_jobs": n_threads, "random_state": seed, "verbosity": 0}
        if is_classification(task):
            return xgb.XGBClassifier(**params, **common)
        return xgb.XGBRegressor(**params, **common)
