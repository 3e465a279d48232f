"""scikit-learn's histogram gradient boosting."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from automl.compat import hgb_loss_factory_present
from automl.models.base import (
    ModelFamily,
    Suggester,
    check_fit_time,
    is_classification,
    n_estimators_cap,
    scaled_with_rows,
)

MIN_ITERATIONS = 50  # the fewest boosting rounds searched


class _ClockedLoss:
    """A boosting loss that checks the fit clock whenever a round asks for its gradients.

    scikit-learn's fit loop computes the gradients once per round, first thing, so this is a
    check per round at no cost, with the fit's arithmetic untouched. (Growing in chunks with
    `warm_start` gives the same model too, but each restart re-bins the data and re-predicts
    every round so far: two to three times the CPU of one fit on 200k rows.)
    """

    def __init__(self, loss: Any) -> None:
        self.loss = loss

    def __getattr__(self, name: str) -> Any:
        if name == "loss":  # not set yet (copy, unpickling): don't recurse
            raise AttributeError(name)
        return getattr(self.loss, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.loss(*args, **kwargs)

    def gradient(self, *args: Any, **kwargs: Any) -> Any:
        check_fit_time()
        return self.loss.gradient(*args, **kwargs)

    def gradient_hessian(self, *args: Any, **kwargs: Any) -> Any:
        check_fit_time()
        return self.loss.gradient_hessian(*args, **kwargs)


class _TimedBoosting:
    """Mixin: the estimator's fit checks the fit clock every boosting round."""

    def _get_loss(self, sample_weight: Any) -> Any:  # compat.HGB_LOSS_FACTORY: fit builds its loss here
        return _ClockedLoss(super()._get_loss(sample_weight))  # type: ignore[misc]

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **fit_params: Any) -> Any:
        hgb_loss_factory_present()  # logs once where the rounds go unclocked
        check_fit_time()
        try:
            return super().fit(X, y, sample_weight=sample_weight, **fit_params)  # type: ignore[misc]
        finally:
            loss = getattr(self, "_loss", None)
            if isinstance(loss, _ClockedLoss):
                self._loss = loss.loss  # the fitted model keeps scikit-learn's own loss


class TimedHistGradientBoostingClassifier(_TimedBoosting, HistGradientBoostingClassifier):
    """`HistGradientBoostingClassifier` that checks the fit clock every boosting round."""


class TimedHistGradientBoostingRegressor(_TimedBoosting, HistGradientBoostingRegressor):
    """`HistGradientBoostingRegressor` that checks the fit clock every boosting round."""


class HistGradientBoosting(ModelFamily):
    key = "hist_gradient_boosting"
    accepts_sparse = False
    tree_per_class = True

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        trial.suggest_float("learning_rate", 0.01, 0.3, log=True)
        trial.suggest_int("max_iter", MIN_ITERATIONS, n_estimators_cap(n_rows), log=True)
        trial.suggest_int("max_leaf_nodes", 8, 128, log=True)
        trial.suggest_int("min_samples_leaf", 2, scaled_with_rows(n_rows, rows_per_unit=20, low=3, high=100), log=True)
        trial.suggest_float("l2_regularization", 1e-6, 10.0, log=True)

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {
            "learning_rate": 0.1,
            "max_iter": 100,
            "max_leaf_nodes": 31,
            "min_samples_leaf": min(20, scaled_with_rows(n_rows, rows_per_unit=20, low=2, high=100)),
            "l2_regularization": 1e-6,
        }

    def cheapest_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {**self.default_params(n_rows, task), "max_iter": MIN_ITERATIONS}

    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> BaseEstimator:
        cls = TimedHistGradientBoostingClassifier if is_classification(task) else TimedHistGradientBoostingRegressor
        return cls(**params, random_state=seed)
