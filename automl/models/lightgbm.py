"""LightGBM gradient-boosted trees (leaf-wise growth)."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator

from automl.models.base import ModelFamily, Suggester, is_classification, n_estimators_cap


class LightGBM(ModelFamily):
    key = "lightgbm"

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        trial.suggest_int("n_estimators", 50, n_estimators_cap(n_rows), log=True)
        trial.suggest_float("learning_rate", 0.005, 0.3, log=True)
        trial.suggest_int("num_leaves", 4, 256, log=True)
        trial.suggest_int("min_child_samples", 2, max(3, min(100, n_rows // 20)), log=True)
        trial.suggest_float("subsample", 0.5, 1.0)
        trial.suggest_float("colsample_bytree", 0.3, 1.0)
        trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True)

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {
            "n_estimators": 200,
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_child_samples": min(20, max(3, min(100, n_rows // 20))),
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
        }

    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> BaseEstimator:
        import lightgbm as lgb  # imported here: loading the library costs start-up time

        common = {"subsample_freq": 1, "n_jobs": n_threads, "random_state": seed, "verbose": -1}
        if is_classification(task):
            return lgb.LGBMClassifier(**params, **common)
        return lgb.LGBMRegressor(**params, **common)
