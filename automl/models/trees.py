"""Shared search space of the bagged tree ensembles (random forest, extra trees)."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator

from automl.models.base import ModelFamily, Suggester, is_classification


class BaggedTrees(ModelFamily):
    """Random-forest-like families differ only in the estimator classes they build."""

    classifier: type[BaseEstimator]
    regressor: type[BaseEstimator]

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        trial.suggest_int("n_estimators", 50, 500 if n_rows <= 50_000 else 200, log=True)
        trial.suggest_categorical("max_features", ["sqrt", "log2", 0.5, 0.8, 1.0])
        trial.suggest_int("min_samples_leaf", 1, max(2, min(50, n_rows // 20)), log=True)

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {
            "n_estimators": 200 if n_rows <= 50_000 else 100,
            "max_features": "sqrt" if is_classification(task) else 1.0,
            "min_samples_leaf": 1,
        }

    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> BaseEstimator:
        cls = self.classifier if is_classification(task) else self.regressor
        return cls(**params, n_jobs=n_threads, random_state=seed)
