"""k-nearest neighbours: a different inductive bias that helps ensembles on small data."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from automl.models.base import ModelFamily, Suggester, is_classification, scaled_with_rows


class KNearestNeighbors(ModelFamily):
    key = "knn"
    scale = True
    high_cardinality = "target"
    feature_choices = frozenset({"fe_impute", "fe_scale", "fe_encoding", "fe_datetime", "fe_select", "fe_pca"})
    accepts_weights = False  # KNeighbors* fit no sample weights
    max_rows = 100_000  # prediction cost grows with the training set

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        trial.suggest_int("n_neighbors", 1, _n_neighbors_high(n_rows), log=True)
        trial.suggest_categorical("weights", ["uniform", "distance"])

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {"n_neighbors": min(10, _n_neighbors_high(n_rows)), "weights": "distance"}

    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> BaseEstimator:
        # Fitting only indexes the rows; the cost is in predicting, which the trial does in
        # chunks, checking the fit clock between them (as it checks it before each fit).
        cls = KNeighborsClassifier if is_classification(task) else KNeighborsRegressor
        return cls(**params, n_jobs=n_threads)


def _n_neighbors_high(n_rows: int) -> int:
    return scaled_with_rows(n_rows, rows_per_unit=10, low=2, high=100)
