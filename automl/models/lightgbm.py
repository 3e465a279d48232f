"""LightGBM gradient-boosted trees (leaf-wise growth)."""

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
    scaled_with_rows,
    timed_attribute,
    timed_estimators,
)


class LightGBM(ModelFamily):
    key = "lightgbm"
    early_stopping = True
    tree_per_class = True

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        trial.suggest_float("learning_rate", 0.01, 0.3, log=True)
        trial.suggest_int("num_leaves", 4, 256, log=True)
        trial.suggest_int("min_child_samples", 2, _min_child_samples_high(n_rows), log=True)
        trial.suggest_float("subsample", 0.5, 1.0)
        trial.suggest_float("colsample_bytree", 0.3, 1.0)
        trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True)

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {
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
        params = {ROUNDS_PARAM: DEFAULT_ROUNDS, **params}
        return (classifier if is_classification(task) else regressor)(**params, **common)

    def fit_early_stopping(
        self, estimator: Any, X: Any, y: Any, X_valid: Any, y_valid: Any, *, patience: int, sample_weight: Any = None
    ) -> int:
        stopper = _EarlyStopping(patience)
        estimator.set_params(**{ROUNDS_PARAM: ROUND_CAP})
        estimator.fit(X, y, sample_weight=sample_weight, **_eval_keywords(X_valid, y_valid), callbacks=[stopper])
        return int(estimator.best_iteration_ or estimator.n_estimators)


def _min_child_samples_high(n_rows: int) -> int:
    return scaled_with_rows(n_rows, rows_per_unit=20, low=3, high=100)


def _check_after_round(env: Any) -> None:
    """A LightGBM callback: LightGBM lets its exceptions (`FitTimeout`) out of `fit`."""
    check_fit_time()


def _eval_keywords(X_valid: Any, y_valid: Any) -> dict[str, Any]:
    """The validation set as `fit` takes it: LightGBM 4.7 moved it from `eval_set` (now
    deprecated, with a warning per fit) to `eval_X` / `eval_y`."""
    if _takes_eval_x():
        return {"eval_X": (X_valid,), "eval_y": (y_valid,)}
    return {"eval_set": [(X_valid, y_valid)]}


@functools.cache
def _takes_eval_x() -> bool:
    import inspect

    import lightgbm as lgb

    return "eval_X" in inspect.signature(lgb.LGBMModel.fit).parameters


class _EarlyStopping:
    """A LightGBM callback: stop once `patience` rounds bring no gain on the first
    validation metric, or once the round clock runs out, keeping the best round.

    LightGBM's own `early_stopping` callback cannot also stop on a clock; raising its
    `EarlyStopException` here ends training the way that callback does, with the booster's
    best iteration set to the best round.
    """

    order = 30  # after the evaluation, as LightGBM's early stopping

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_score: float | None = None
        self.best_iteration = 0
        self.best_result: list[Any] = []
        self.rounds: StaleRounds | None = None

    def __call__(self, env: Any) -> None:
        import lightgbm as lgb

        results = env.evaluation_result_list or []
        stale = False
        if results:
            _, _, value, higher_is_better = results[0][:4]
            gain = self.best_score is None or (value > self.best_score if higher_is_better else value < self.best_score)
            if gain:
                self.best_score, self.best_iteration, self.best_result = value, env.iteration, list(results)
            self.rounds = self.rounds or StaleRounds(self.patience, bool(higher_is_better))
            stale = self.rounds.update(float(value))
        after_round(env.iteration + 1)
        if stale or rounds_time_up():
            raise lgb.callback.EarlyStopException(self.best_iteration, self.best_result)


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

    return timed_estimators(_TimedFit, "lightgbm", lgb.LGBMClassifier, lgb.LGBMRegressor)  # type: ignore[return-value]


def __getattr__(name: str) -> Any:
    """The timed estimators as module attributes, where unpickling a fitted model looks."""
    return timed_attribute(__name__, name, _timed_estimators)
