"""XGBoost gradient-boosted trees."""

from __future__ import annotations

import functools
from typing import Any

from sklearn.base import BaseEstimator

from automl.models.base import ModelFamily, Suggester, check_fit_time, is_classification, n_estimators_cap


class XGBoost(ModelFamily):
    key = "xgboost"
    # XGBoost reads the zeros a CSR matrix leaves out as missing values, not as zeros:
    # wide tables give it ordinal codes instead
    accepts_sparse = False

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

        common = {
            "tree_method": "hist",
            "n_jobs": n_threads,
            "random_state": seed,
            "verbosity": 0,
            "callbacks": [_fit_clock_callback()()],
        }
        if is_classification(task):
            return xgb.XGBClassifier(**params, **common)
        return xgb.XGBRegressor(**params, **common)


@functools.cache
def _fit_clock_callback() -> type:
    """`FitClockCallback`, built on first use: loading XGBoost costs start-up time.

    An XGBoost training callback that checks the fit clock before training (after the data
    is binned) and after every round. XGBoost's training loop is Python and lets the
    callback's `FitTimeout` out of `fit` as it is. The callback holds no state, the deadline
    is read from the fit clock when it runs, so a fitted model pickled with it (it is one of
    the estimator's parameters) carries no stale deadline, and it is named as this module's
    (see `__getattr__`) so the model unpickles where the package is installed.
    """
    import xgboost as xgb

    class FitClockCallback(xgb.callback.TrainingCallback):
        def before_training(self, model: Any) -> Any:
            check_fit_time()
            return model

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            check_fit_time()
            return False  # never stops training itself: the clock raises

    FitClockCallback.__qualname__ = FitClockCallback.__name__
    return FitClockCallback


def __getattr__(name: str) -> Any:
    """`FitClockCallback` as a module attribute, where unpickling a fitted model looks."""
    if name == "FitClockCallback":
        return _fit_clock_callback()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
