"""Regularised linear models: logistic regression and ridge regression."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, Ridge

from automl.models.base import ModelFamily, Suggester, is_classification


class Linear(ModelFamily):
    key = "linear"
    scale = True
    high_cardinality = "target"
    feature_choices = frozenset(
        {"fe_impute", "fe_scale", "fe_encoding", "fe_datetime", "fe_select", "fe_pca", "fe_class_weight"}
    )

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        if is_classification(task):
            trial.suggest_float("C", 1e-4, 1e3, log=True)
        else:
            trial.suggest_float("alpha", 1e-4, 1e3, log=True)

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {"C": 1.0} if is_classification(task) else {"alpha": 1.0}

    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> BaseEstimator:
        # Not wrapped for the fit clock: compiled prediction knows LogisticRegression by its
        # exact class, and max_iter bounds the fit; the trial checks the clock before it.
        if is_classification(task):
            return LogisticRegression(C=params["C"], max_iter=500, random_state=seed)
        return Ridge(alpha=params["alpha"], random_state=seed)
