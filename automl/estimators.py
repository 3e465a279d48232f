"""scikit-learn estimators over AutoML: `AutoMLClassifier` and `AutoMLRegressor`.

They follow the estimator contract (`__init__` only stores, `fit` returns self, learned
state ends in `_`), so they drop into pipelines, `cross_val_score` and grid searches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from automl.api import AutoML
from automl.spec import OPTIONS

_TARGET = "__target__"


class _AutoMLEstimator(BaseEstimator):
    _task_kind: str

    def __init__(
        self,
        *,
        metric: str | None = None,
        positive_class: Any = None,
        time_budget_s: float | None = 60.0,
        max_trials: int | None = None,
        strategy: str = "tpe",
        models: list[str] | None = None,
        cv_folds: int | None = None,
        seed: int = 0,
        trial_timeout_s: float | None = None,
        max_retries: int | None = None,
        portfolio: str | None = None,
        ensemble: str = "selection",
        top_k: int | None = None,
        final_members: str | None = None,
        max_inference_ms_per_row: float | None = None,
        for_serving: bool | None = None,
        score_tolerance: float | None = None,
        fixed_features: bool | None = None,
        cpus_per_trial: float = 1.0,
        max_cpus: float | None = None,
        address: str | None = None,
        verbose: bool = False,
    ) -> None:
        self.metric = metric
        self.positive_class = positive_class
        self.time_budget_s = time_budget_s
        self.max_trials = max_trials
        self.strategy = strategy
        self.models = models
        self.cv_folds = cv_folds
        self.seed = seed
        self.trial_timeout_s = trial_timeout_s
        self.max_retries = max_retries
        self.portfolio = portfolio
        self.ensemble = ensemble
        self.top_k = top_k
        self.final_members = final_members
        self.max_inference_ms_per_row = max_inference_ms_per_row
        self.for_serving = for_serving
        self.score_tolerance = score_tolerance
        self.fixed_features = fixed_features
        self.cpus_per_trial = cpus_per_trial
        self.max_cpus = max_cpus
        self.address = address
        self.verbose = verbose

    def _frame(self, X: Any) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X.rename(columns=str)
        array = np.asarray(X)
        if array.ndim != 2:
            raise ValueError(f"expected a 2-D array of features, got shape {array.shape}")
        return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])

    def fit(self, X: Any, y: Any) -> _AutoMLEstimator:
        frame = self._frame(X)
        if _TARGET in frame.columns:
            raise ValueError(f"feature column name {_TARGET!r} is reserved")
        frame = frame.assign(**{_TARGET: np.asarray(y)})
        self.automl_ = self._automl(self._task(frame[_TARGET])).fit(frame, target=_TARGET)
        if self._task_kind == "classification" and self.automl_.classes is None:
            raise ValueError("AutoMLClassifier needs class labels; use AutoMLRegressor for a continuous target")
        self.n_features_in_ = frame.shape[1] - 1
        self.feature_names_in_ = np.asarray(frame.columns[:-1], dtype=object)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.automl_.predict(self._frame(X))

    def _automl(self, task: str) -> AutoML:
        """The AutoML these parameters describe: every job setting passed on by its name."""
        options = {option.name: getattr(self, option.name) for option in OPTIONS if option.estimators}
        return AutoML(task=task, verbose=self.verbose, **options)

    def _task(self, y: pd.Series) -> str:
        raise NotImplementedError


class AutoMLClassifier(ClassifierMixin, _AutoMLEstimator):
    """AutoML classification with scikit-learn's interface."""

    _task_kind = "classification"

    def _task(self, y: pd.Series) -> str:
        # a classifier's target is classes, whatever their type: integer codes of 26
        # classes are not a regression target, as task "auto" would infer
        return "binary" if y.nunique(dropna=True) == 2 else "multiclass"

    def fit(self, X: Any, y: Any) -> AutoMLClassifier:
        super().fit(X, y)
        self.classes_ = np.asarray(self.automl_.classes)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(super().predict(X)).astype(self.classes_.dtype)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.automl_.predict_proba(self._frame(X))


class AutoMLRegressor(RegressorMixin, _AutoMLEstimator):
    """AutoML regression with scikit-learn's interface."""

    _task_kind = "regression"

    def _task(self, y: pd.Series) -> str:
        return "regression"
