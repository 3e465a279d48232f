"""LightGBM gradient-boosted trees (leaf-wise growth)."""

from __future__ import annotations

import functools
from typing import Any

from sklearn.base import BaseEstimator

from automl.models.base import (
    ModelFamily,
    Suggester,
    check_fit_time,
    is_classification,
    n_estimators_cap,
    scaled_with_rows,
)


class LightGBM(ModelFamily):
    key = "lightgbm"

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        trial.suggest_int("n_estimators", 50, n_estimators_cap(n_rows), log=True)
        trial.suggest_float("learning_rate", 0.005, 0.3, log=True)
        trial.suggest_int("num_leaves", 4, 256, log=True)
        trial.suggest_int("min_child_samples", 2, _min_child_samples_high(n_rows), log=True)
        trial.suggest_float("subsample", 0.5, 1.0)
        trial.suggest_float("colsample_bytree", 0.3, 1.0)
        trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True)

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {
            "n_estimators": 200,
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_child_samples": min(20, _min_child_samples_high(n_rows)),
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
        }

    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> BaseEstimator:
        classifier, regressor = _timed_estimators()
        common = {"subsample_freq": 1, "n_jobs": n_threads, "random_state": seed, "verbose": -1}
        return (classifier if is_classification(task) else regressor)(**params, **common)


def _min_child_samples_high(n_rows: int) -> int:
    return scaled_with_rows(n_rows, rows_per_unit=20, low=3, high=100)


def _check_after_round(env: Any) -> None:
    """A LightGBM callback: LightGBM lets its exceptions (`FitTimeout`) out of `fit`."""
    check_fit_time()


class _TimedFit:
    """Mixin for LightGBM's estimators: the fit checks the fit clock after every round.

    The callback goes to `fit`, not into the estimator: a fitted model holds no trace of it.
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **fit_params: Any) -> Any:
        check_fit_time()
        fit_params["callbacks"] = [*(fit_params.get("callbacks") or []), _check_after_round]
        return super().fit(X, y, sample_weight=sample_weight, **fit_params)  # type: ignore[misc]


@functools.cache
def _timed_estimators() -> tuple[type[BaseEstimator], type[BaseEstimator]]:
    """`TimedLGBMClassifier` and `TimedLGBMRegressor`, built on first use: loading LightGBM
    costs start-up time. Named as this module's (see `__getattr__`): fitted ones pickle."""
    import lightgbm as lgb

    def timed(base: type) -> type[BaseEstimator]:
        name = "Timed" + base.__name__
        doc = f"`lightgbm.{base.__name__}` that checks the fit clock after every boosting round."
        return type(name, (_TimedFit, base), {"__module__": __name__, "__qualname__": name, "__doc__": doc})

    return timed(lgb.LGBMClassifier), timed(lgb.LGBMRegressor)


def __getattr__(name: str) -> Any:
    """The timed estimators as module attributes, where unpickling a fitted model looks."""
    if name in ("TimedLGBMClassifier", "TimedLGBMRegressor"):
        classifier, regressor = _timed_estimators()
        return classifier if name == classifier.__name__ else regressor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
