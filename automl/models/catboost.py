"""CatBoost gradient-boosted oblivious trees, with its own handling of categories.

CatBoost encodes categories itself (ordered target statistics over random permutations),
which on tables with categories is among the strongest single models there are. The
preprocessor hands it every categorical column as one integer code, first
(`native_categories`), and the estimator is told their positions (`cat_features`).
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np
import pandas as pd
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
    fit_deadline,
    is_classification,
    rounds_time_up,
    timed_attribute,
    timed_estimators,
)


class CatBoost(ModelFamily):
    key = "catboost"
    accepts_sparse = False
    native_categories = True
    early_stopping = True

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        trial.suggest_float("learning_rate", 0.02, 0.3, log=True)
        trial.suggest_int("depth", 4, 8)
        trial.suggest_float("l2_leaf_reg", 1.0, 10.0, log=True)
        trial.suggest_float("random_strength", 0.1, 10.0, log=True)
        trial.suggest_categorical("one_hot_max_size", [2, 10])

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {"learning_rate": 0.08, "depth": 6, "l2_leaf_reg": 3.0, "random_strength": 1.0, "one_hot_max_size": 2}

    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> BaseEstimator:
        classifier, regressor = _timed_estimators()
        common = {
            "thread_count": n_threads,
            "random_seed": seed,
            "allow_writing_files": False,
            "logging_level": "Silent",
        }
        params = {ROUNDS_PARAM: DEFAULT_ROUNDS, **params}
        return (classifier if is_classification(task) else regressor)(**params, **common)

    def fit_early_stopping(
        self, estimator: Any, X: Any, y: Any, X_valid: Any, y_valid: Any, *, patience: int, sample_weight: Any = None
    ) -> int:
        estimator.set_params(**{ROUNDS_PARAM: ROUND_CAP})
        estimator.fit(
            X, y, sample_weight=sample_weight, eval_set=(X_valid, y_valid), early_stopping_rounds=patience,
            use_best_model=True,
        )  # fmt: skip
        best = estimator.get_best_iteration()
        return int(best) + 1 if best is not None else int(estimator.tree_count_)


class _Clock:
    """A CatBoost callback: ends training when the fit or the round clock runs out, or
    when the stopping score stopped gaining (`StaleRounds`; CatBoost's own detector
    counts any gain, however small).

    CatBoost swallows what a callback raises, so this only stops; `_TimedFit.fit` then
    raises the fit clock's `FitTimeout` if that was the clock.
    """

    def __init__(self, patience: int | None = None) -> None:
        self.rounds = StaleRounds(patience) if patience else None

    def after_iteration(self, info: Any) -> bool:
        after_round(int(info.iteration))
        scores = (info.metrics or {}).get("validation") or {}
        if self.rounds is not None and scores:
            if self.rounds.update(float(next(iter(scores.values()))[-1])):
                return False
        deadline = fit_deadline()
        return not (rounds_time_up() or (deadline is not None and time.time() > deadline))


def _frame(X: Any, n_codes: int) -> Any:
    """The preprocessed array as CatBoost takes categories: its first `n_codes` columns as
    integers (CatBoost refuses float-valued categories)."""
    if not n_codes or isinstance(X, pd.DataFrame):
        return X
    X = np.asarray(X)
    frame = pd.DataFrame(X[:, n_codes:], columns=[f"f{i}" for i in range(n_codes, X.shape[1])])
    codes = pd.DataFrame(X[:, :n_codes].astype(np.int64), columns=[f"f{i}" for i in range(n_codes)])
    return pd.concat([codes, frame], axis=1)


def _rows(X: Any, n_codes: int) -> Any:
    """Rows to predict, as CatBoost reads them fastest: a `FeaturesData` of float32 numbers
    and the codes as strings, which is how CatBoost hashes the integers it was fitted on
    (one row costs a tenth of building `_frame`'s two DataFrames). Tests hold the two equal."""
    if not n_codes or isinstance(X, pd.DataFrame) or not isinstance(X, np.ndarray) or X.ndim != 2:
        return _frame(X, n_codes)
    from catboost import FeaturesData

    numbers = X[:, n_codes:]
    return FeaturesData(
        num_feature_data=np.ascontiguousarray(numbers, dtype=np.float32) if numbers.shape[1] else None,
        cat_feature_data=X[:, :n_codes].astype(np.int64).astype(str).astype(object),
        num_feature_names=[f"f{i}" for i in range(n_codes, X.shape[1])] if numbers.shape[1] else None,
        cat_feature_names=[f"f{i}" for i in range(n_codes)],
    )


class _TimedFit:
    """Mixin for CatBoost's estimators: the fit clock, and the leading category codes."""

    get_param: Any

    def _codes(self) -> int:
        return len(self.get_param("cat_features") or [])

    def fit(self, X: Any, y: Any, eval_set: Any = None, **fit_params: Any) -> Any:
        check_fit_time()
        n = self._codes()
        if eval_set is not None:
            eval_set = (_frame(eval_set[0], n), eval_set[1])
        patience = fit_params.get("early_stopping_rounds")
        fit_params["callbacks"] = [*(fit_params.get("callbacks") or []), _Clock(patience)]
        fitted = super().fit(_frame(X, n), y, eval_set=eval_set, **fit_params)  # type: ignore[misc]
        check_fit_time()  # the clock stopped it: the fit is thrown away as any other's
        return fitted

    def predict(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        return super().predict(_rows(X, self._codes()), *args, **kwargs)  # type: ignore[misc]

    def predict_proba(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        return super().predict_proba(_rows(X, self._codes()), *args, **kwargs)  # type: ignore[misc]


@functools.cache
def _timed_estimators() -> tuple[type[BaseEstimator], type[BaseEstimator]]:
    """`TimedCatBoostClassifier` and `TimedCatBoostRegressor`, built on first use: loading
    CatBoost costs start-up time. Named as this module's (see `__getattr__`): fitted ones pickle."""
    import catboost

    return timed_estimators(_TimedFit, "catboost", catboost.CatBoostClassifier, catboost.CatBoostRegressor)  # type: ignore[return-value]


def __getattr__(name: str) -> Any:
    """The timed estimators as module attributes, where unpickling a fitted model looks."""
    return timed_attribute(__name__, name, _timed_estimators)
