"""What a model family is: a search space, default settings and an estimator factory.

A family is one small class in its own module plus one line in the registry. The search
treats every family alike through this interface (the FLAML / AutoGluon pattern).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
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
    #: takes a scipy CSR matrix (a wide table's one-hot codes); if not, it gets ordinal codes.
    accepts_sparse: ClassVar[bool] = True
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

    def cheapest_params(self, n_rows: int, task: str) -> dict[str, Any]:
        """The family's cheapest useful configuration, inside `search_space`'s ranges: what
        a job fits when the search found nothing in its budget (default: `default_params`)."""
        return self.default_params(n_rows, task)

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


def scaled_with_rows(n_rows: int, *, rows_per_unit: int, low: int, high: int) -> int:
    """`n_rows // rows_per_unit` clipped to [low, high]: the bound of a count-like
    hyperparameter (leaf size, neighbours) that grows with the table within sane limits."""
    return max(low, min(high, n_rows // rows_per_unit))


# The fit clock: a deadline for the fit running in this thread, which the families check
# inside their fits (after each boosting round, between chunks of trees), so a per-trial
# time limit holds inside one long fit and not only between folds. Thread-local because
# Tune runs each trial in its own thread; the libraries call the checks from the thread
# that called `fit` (tree-building threads never check).
_clock = threading.local()


class FitTimeout(Exception):
    """A fit (or a prediction under the same clock) ran past its `fit_time_limit` deadline."""


@contextmanager
def fit_time_limit(deadline: float | None) -> Iterator[None]:
    """Make `check_fit_time` raise `FitTimeout` once `time.time()` passes `deadline`.

    Applies to fits in the calling thread inside the block. `None` sets no limit of its own;
    nested limits keep the earlier deadline, and the outer one is restored on exit.

    Example:
        >>> with fit_time_limit(time.time() + 60):
        ...     check_fit_time()  # what a family calls inside its fit: quiet until the deadline
    """
    outer = fit_deadline()
    if deadline is None or (outer is not None and outer <= deadline):
        deadline = outer
    _clock.deadline = deadline
    try:
        yield
    finally:
        _clock.deadline = outer


def fit_deadline() -> float | None:
    """The deadline `fit_time_limit` set for this thread, or None when there is none."""
    return getattr(_clock, "deadline", None)


def check_fit_time() -> None:
    """Raise `FitTimeout` if this thread's fit deadline has passed; cheap (a clock read).

    Raises:
        FitTimeout: the deadline set by `fit_time_limit` has passed.
    """
    deadline = getattr(_clock, "deadline", None)
    if deadline is not None and time.time() > deadline:
        raise FitTimeout(f"the fit ran {time.time() - deadline:.1f}s past its deadline")
