"""XGBoost gradient-boosted trees."""

from __future__ import annotations

import functools
from typing import Any

from sklearn.base import BaseEstimator

from automl.models.base import (
    DEFAULT_ROUNDS,
    ROUND_CAP,
    ROUNDS_PARAM,
    ModelFamily,
    StaleRounds,
    Suggester,
    after_round,
    check_fit_time,
    is_classification,
    rounds_time_up,
)


class XGBoost(ModelFamily):
    key = "xgboost"
    # XGBoost reads the zeros a CSR matrix leaves out as missing values, not as zeros:
    # wide tables give it ordinal codes instead
    accepts_sparse = False
    early_stopping = True
    tree_per_class = True

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        trial.suggest_float("learning_rate", 0.01, 0.3, log=True)
        trial.suggest_int("max_depth", 2, 10)
        trial.suggest_float("min_child_weight", 0.1, 20.0, log=True)
        trial.suggest_float("subsample", 0.5, 1.0)
        trial.suggest_float("colsample_bytree", 0.3, 1.0)
        trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True)

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {
            "learning_rate": 0.1,
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
        params = {ROUNDS_PARAM: DEFAULT_ROUNDS, **params}
        if is_classification(task):
            return xgb.XGBClassifier(**params, **common)
        return xgb.XGBRegressor(**params, **common)

    def fit_early_stopping(
        self, estimator: Any, X: Any, y: Any, X_valid: Any, y_valid: Any, *, patience: int, sample_weight: Any = None
    ) -> int:
        callbacks = estimator.get_params()["callbacks"]
        # the stale-round check holds state: it goes with this fit only, not the fitted model
        estimator.set_params(
            early_stopping_rounds=patience,
            callbacks=[*callbacks, _stale_callback()(patience)],
            **{ROUNDS_PARAM: ROUND_CAP},
        )
        try:
            estimator.fit(X, y, sample_weight=sample_weight, eval_set=[(X_valid, y_valid)], verbose=False)
        finally:
            estimator.set_params(callbacks=callbacks)
        try:
            return int(estimator.best_iteration) + 1
        except AttributeError:  # the round clock ended it before early stopping kept a best
            return int(estimator.get_booster().num_boosted_rounds())


@functools.cache
def _fit_clock_callback() -> type:
    """`FitClockCallback`, built on first use: loading XGBoost costs start-up time.

    An XGBoost training callback that checks the fit clock before training (after the data
    is binned) and after every round, and ends training once the round clock runs out.
    XGBoost's training loop is Python and lets the callback's `FitTimeout` out of `fit` as
    it is. The callback holds no state, the deadline is read from the fit clock when it
    runs, so a fitted model pickled with it (it is one of the estimator's parameters)
    carries no stale deadline, and it is named as this module's (see `__getattr__`) so the
    model unpickles where the package is installed.
    """
    import xgboost as xgb

    class FitClockCallback(xgb.callback.TrainingCallback):
        def before_training(self, model: Any) -> Any:
            check_fit_time()
            return model

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            check_fit_time()
            after_round(epoch + 1)
            return rounds_time_up()  # the round clock ends training, keeping its rounds

    FitClockCallback.__qualname__ = FitClockCallback.__name__
    return FitClockCallback


@functools.cache
def _stale_callback() -> type:
    """An XGBoost callback that ends training once the stopping score stopped gaining
    (`StaleRounds`; XGBoost's own early stopping counts any gain, however small)."""
    import xgboost as xgb

    class StaleStop(xgb.callback.TrainingCallback):
        def __init__(self, patience: int) -> None:
            self.rounds = StaleRounds(patience)

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            for metrics in evals_log.values():
                for values in metrics.values():
                    return self.rounds.update(float(values[-1]))
            return False

    return StaleStop


def __getattr__(name: str) -> Any:
    """`FitClockCallback` as a module attribute, where unpickling a fitted model looks."""
    if name == "FitClockCallback":
        return _fit_clock_callback()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
