"""What a model family is: a search space, default settings and an estimator factory.

A family is one small class in its own module plus one line in the registry. The search
treats every family alike through this interface (the FLAML / AutoGluon pattern).
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
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
    #: the model encodes categories itself: they come first, as integer codes (`cat_features`)
    native_categories: ClassVar[bool] = False
    #: above this many rows the family is skipped (too slow to fit or to predict).
    max_rows: ClassVar[int | None] = None
    #: a boosting family that stops early: each fold fits with `fit_early_stopping` on an
    #: inner validation split, its rounds are not searched, and a refit on all rows takes
    #: the folds' mean best round count (`with_rounds`).
    early_stopping: ClassVar[bool] = False
    #: the feature-engineering choices the search may make for this family
    #: (`features.choices`; the names of its `OPTIONS`): trees need no scaling, imputation
    #: choice or projection, distance- and weight-based models may gain from all of them
    feature_choices: ClassVar[frozenset[str]] = frozenset(
        {"fe_encoding", "fe_datetime", "fe_select", "fe_class_weight"}
    )
    #: `fit` takes `sample_weight` (the spec's weight column, class weights)
    accepts_weights: ClassVar[bool] = True
    #: a boosting round grows a tree per class: the cost of a k-class model is k times a
    #: binary one's (what a job expects a first configuration to cost, before one is timed)
    tree_per_class: ClassVar[bool] = False

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

    def fit_early_stopping(
        self, estimator: Any, X: Any, y: Any, X_valid: Any, y_valid: Any, *, patience: int, sample_weight: Any = None
    ) -> int:
        """Fit `estimator` (from `make_estimator`) on `X, y` (weighted by `sample_weight`,
        if given) for up to `ROUND_CAP` rounds,
        stopping once `patience` rounds bring no gain on `X_valid, y_valid` or the round
        clock runs out (`rounds_time_up`); return the best round count, which the fitted
        model predicts with. Only families with `early_stopping` implement it."""
        raise NotImplementedError(f"{self.key} does not stop early")

    def stopping_patience(self, estimator: Any) -> int:
        """Rounds without a gain before `fit_early_stopping` stops: by default, more at a
        small learning rate (`early_stopping_patience`)."""
        rate = estimator.get_params().get("learning_rate")
        return early_stopping_patience(float(rate or 0.1))

    def with_rounds(self, params: dict[str, Any], rounds: int) -> dict[str, Any]:
        """`params` for a fit of exactly `rounds` boosting rounds, without early stopping
        (a refit on all rows; the family's `make_estimator` reads the count)."""
        return {**params, ROUNDS_PARAM: max(1, int(rounds))}

    def unsuitable_reason(self, n_rows: int, task: str) -> str | None:
        """Why this family should not be searched on this data, or None if it should."""
        if self.max_rows is not None and n_rows > self.max_rows:
            return f"{self.key} is skipped above {self.max_rows} rows (this table has {n_rows})"
        return None


def is_classification(task: str) -> bool:
    return task in ("binary", "multiclass")


#: the most boosting rounds an early-stopping fit may take; early stopping or the round
#: clock ends it long before on most tables
ROUND_CAP = 10_000
#: the parameter that fixes an early-stopping family's rounds (a refit; absent while searching)
ROUNDS_PARAM = "n_estimators"
#: the rounds of an early-stopping family's estimator fitted plainly, without a validation
#: set and without `ROUNDS_PARAM` (the search never does; a refit gives the count)
DEFAULT_ROUNDS = 200


#: a round gains only if it improves the stopping score by more than this share of the
#: first round's: on rows a model separates perfectly the log loss falls for ever, by ever
#: less, and without it such a fit would run to ROUND_CAP
MIN_RELATIVE_GAIN = 1e-4


class StaleRounds:
    """Counts the rounds since the stopping score last improved by more than
    `MIN_RELATIVE_GAIN` of the first round's (the families' early-stopping callbacks)."""

    def __init__(self, patience: int, higher_is_better: bool = False) -> None:
        self.patience, self.sign = patience, 1.0 if higher_is_better else -1.0
        self.first: float | None = None
        self.best: float | None = None
        self.stale = 0

    def update(self, value: float) -> bool:
        """Record a round's score; True once `patience` rounds in a row brought no gain."""
        if self.first is None or self.best is None:
            self.first = self.best = value
            return False
        tolerance = MIN_RELATIVE_GAIN * abs(self.first)
        if self.sign * (value - self.best) > tolerance:
            self.best, self.stale = value, 0
        else:
            self.stale += 1
        return self.stale >= self.patience


def early_stopping_patience(learning_rate: float) -> int:
    """Rounds without a gain before a fit stops: more at a small learning rate, whose
    rounds each move less (about the rounds it takes to move as far as 4 rounds at 1.0)."""
    return int(min(200, max(20, round(4.0 / max(learning_rate, 1e-6)))))


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


@contextmanager
def _thread_setting(name: str, value: Any) -> Iterator[None]:
    """Set one of this thread's clock settings for the block, restoring the outer one."""
    outer = getattr(_clock, name, None)
    setattr(_clock, name, value)
    try:
        yield
    finally:
        setattr(_clock, name, outer)


def round_time_limit(deadline: float | None) -> contextlib.AbstractContextManager[None]:
    """Make `rounds_time_up` true once `time.time()` passes `deadline`, in this thread.

    Unlike the fit clock, which throws a fit away when it runs out, the round clock ends a
    boosting fit gracefully: its rounds so far are its model. A trial gives each fold its
    share of the time left, so a costly table (many classes, many rows) gets fewer rounds
    rather than no model.
    """
    return _thread_setting("round_deadline", deadline)


def round_listener(listener: Callable[[int], None] | None) -> contextlib.AbstractContextManager[None]:
    """Call `listener(rounds)` after every boosting round of an early-stopping fit in this
    thread, with the rounds grown so far: the fidelity a fit reaches as it goes, which an
    early-stopping scheduler can act on. None: no listener (the default)."""
    return _thread_setting("round_listener", listener)


def after_round(rounds: int) -> None:
    """What a family's round callback calls: tells this thread's listener, if any."""
    listener = getattr(_clock, "round_listener", None)
    if listener is not None:
        listener(rounds)


def rounds_time_up() -> bool:
    """Whether this thread's round clock has run out (always False without one)."""
    deadline = getattr(_clock, "round_deadline", None)
    return deadline is not None and time.time() > deadline


def check_fit_time() -> None:
    """Raise `FitTimeout` if this thread's fit deadline has passed; cheap (a clock read).

    Raises:
        FitTimeout: the deadline set by `fit_time_limit` has passed.
    """
    deadline = getattr(_clock, "deadline", None)
    if deadline is not None and time.time() > deadline:
        raise FitTimeout(f"the fit ran {time.time() - deadline:.1f}s past its deadline")


def timed_estimators(mixin: type, library: str, *bases: type) -> tuple[type[BaseEstimator], ...]:
    """`Timed<Base>` classes of a library's estimators, with `mixin`'s clock checks, named as
    the mixin's module's (which serves them from its `__getattr__`: fitted ones pickle)."""

    def timed(base: type) -> type[BaseEstimator]:
        name = "Timed" + base.__name__
        doc = f"`{library}.{base.__name__}` that checks the fit clock after every round."
        return type(name, (mixin, base), {"__module__": mixin.__module__, "__qualname__": name, "__doc__": doc})

    return tuple(timed(base) for base in bases)


def timed_attribute(module: str, name: str, estimators: Callable[[], tuple[type, ...]]) -> Any:
    """A timed-estimator module's `__getattr__`: the class `name` among `estimators()`."""
    for cls in estimators() if name.startswith("Timed") else ():
        if cls.__name__ == name:
            return cls
    raise AttributeError(f"module {module!r} has no attribute {name!r}")
