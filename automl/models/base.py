"""What a model family is: a search space, default settings and an estimator factory.

A family is one small class in its own module plus one line in the registry. The search
treats every family alike through this interface (the FLAML / AutoGluon pattern).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol

from sklearn.base import BaseEstimator


class Suggester(Protocol):
    """The part of `optuna.Trial` a family uses to declare its search space."""

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


class ModelFamily(ABC):
    """One family of models (say XGBoost) and how to search its hyperparameters.

    Subclasses set `key` and implement the three methods. Parameters are plain
    JSON-able values, so they travel through Tune, Optuna, the leaderboard and the
    artifact manifest unchanged.
    """

    key: ClassVar[str]
    #: standardise numeric features (distance- and weight-based models).
    scale: ClassVar[bool] = False
    #: how high-cardinality categories are encoded: "ordinal" or "target".
    high_cardinality: ClassVar[str] = "ordinal"
    #: above this many rows the family is skipped (too slow to fit or to predict).
    max_rows: ClassVar[int | None] = None

    @abstractmethod
    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        """Declare the hyperparameters with `trial.suggest_*` (define-by-run, sized by data)."""

    @abstractmethod
    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        """A good, cheap configuration tried first, inside `search_space`'s ranges."""

    @abstractmethod
    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> BaseEstimator:
        """A fresh, unfitted scikit-learn estimator for these parameters."""

    def unsuitable_reason(self, n_rows: int, task: str) -> str | None:
        """Why this family should not be searched on this data, or None if it should."""
        if self.max_rows is not None and n_rows > self.max_rows:
            return f"{self.key} is skipped above {self.max_rows} rows (this table has {n_rows})"
        return None


def is_classification(task: str) -> bool:
    return task in ("binary", "multiclass")


def n_estimators_cap(n_rows: int) -> int:
    """More boosting rounds help small tables; on large ones they cost too much per trial."""
    return 1000 if n_rows <= 20_000 else 500
