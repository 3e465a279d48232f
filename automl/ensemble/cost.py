"""What the ensemble step costs, and how it shrinks to fit its share of the budget.

The cost is estimated from its dominant work, timed on the table itself: metric calls for
selection, meta-learner fits for stacking, each times how many the method makes. Past its
share, the step works on a stratified subsample of the rows and in fewer rounds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from automl.ensemble.nested import MIN_NESTED_FOLDS, NESTED_FOLDS
from automl.ensemble.selection import DEFAULT_ROUNDS
from automl.evaluation.metrics import Metric
from automl.pipeline.stacker import make_meta_learner

# The ensemble step's share of the budget is never below this: the estimate counts only
# metric calls and meta-learner fits, not the step's fixed work around them.
ENSEMBLE_MIN_S = 0.2
# A time-limited ensemble keeps at least this many rows, and then at least this many
# rounds: fewer would leave nested scores too noisy to choose a method by.
MIN_SUBSAMPLE_ROWS = 2_000
MIN_ROUNDS = 5
# The meta-learner's fit is timed on at most this many rows and scaled to all of them, so
# that estimating the cost does not spend it.
STACKING_TIMING_ROWS = 2_000


@dataclass(frozen=True)
class Scaled:
    """The rows and rounds the ensemble step works with, and a note when they were cut."""

    rows: np.ndarray
    rounds: int = DEFAULT_ROUNDS
    note: str = ""


def ensemble_seconds(
    *, n_rows: int, n_classes: int, n_candidates: int, metric: Metric, method: str, cap_s: float
) -> float:
    """The ensemble step's share of the budget: its estimated cost on this table, at most
    `cap_s` (beyond it the step works on fewer rows and rounds), at least `ENSEMBLE_MIN_S`."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, max(n_classes, 2), n_rows) if n_classes else rng.normal(size=n_rows)
    part = rng.dirichlet(np.ones(n_classes), n_rows) if n_classes else rng.normal(size=n_rows)
    full = method_cost(method, part, y, metric, n_classes, n_candidates)
    return max(ENSEMBLE_MIN_S, min(full, cap_s))


def method_cost(
    method: str,
    part: np.ndarray,
    y: np.ndarray,
    metric: Metric,
    n_classes: int,
    n_candidates: int,
    rounds: int = DEFAULT_ROUNDS,
) -> float:
    """Seconds the method takes on these rows, from one candidate's predictions `part`:
    metric calls (selection) or meta-learner fits (stacking), timed on the rows, times how
    many the method makes."""
    per_call = _seconds_per_metric_call(part, y, metric, n_classes)
    # the nested best single trial: every candidate scored on each nested fold and on all rows
    single = n_candidates * (NESTED_FOLDS + 1) * per_call
    if method == "selection":
        # each round scores every candidate on every nested training part ((k-1)/k of the
        # rows) and once on all rows
        row_passes = NESTED_FOLDS * (NESTED_FOLDS - 1) / NESTED_FOLDS + 1
        return single + rounds * n_candidates * row_passes * per_call
    if method == "stacking":
        return single + (NESTED_FOLDS + 1) * _seconds_per_meta_fit(part, y, n_classes, n_candidates)
    return single


def fit_to_time(
    rows: np.ndarray,
    y: np.ndarray,
    part: np.ndarray,
    *,
    n_candidates: int,
    metric: Metric,
    n_classes: int,
    method: str,
    seed: int,
    time_limit_s: float,
) -> Scaled:
    """Rows and rounds that fit the ensemble into `time_limit_s`, with a note when cut.

    Args:
        rows: the validated rows; `y` and `part` (one candidate's out-of-fold predictions)
            are indexed by them.
    """
    cost = method_cost(method, np.asarray(part[rows], dtype=np.float64), y[rows], metric, n_classes, n_candidates)
    if cost <= time_limit_s:
        return Scaled(rows)
    n_total = len(rows)
    n_keep = max(min(n_total, MIN_SUBSAMPLE_ROWS), int(n_total * time_limit_s / cost))
    if n_keep < n_total:
        rows = _subsample(rows, y, n_keep, seed, stratify=n_classes > 0)
    cost_now = cost * len(rows) / n_total  # the row floor may still cost too much: fewer rounds
    rounds = DEFAULT_ROUNDS
    if cost_now > time_limit_s:
        rounds = max(MIN_ROUNDS, int(DEFAULT_ROUNDS * time_limit_s / cost_now))
    note = f" (on {len(rows):,} sampled rows, {rounds} rounds, to fit its {time_limit_s:.1f}s share of the budget)"
    return Scaled(rows, rounds, note)


def _seconds_per_metric_call(part: np.ndarray, y: np.ndarray, metric: Metric, n_classes: int) -> float:
    start = time.perf_counter()
    try:
        metric(y, part, n_classes)
    except ValueError:  # undefined on these rows: the time spent is still a fair estimate
        pass
    return time.perf_counter() - start


def _seconds_per_meta_fit(part: np.ndarray, y: np.ndarray, n_classes: int, n_candidates: int) -> float:
    """One meta-learner fit on all the rows, timed on a sample of them and scaled linearly."""
    sample = min(len(y), STACKING_TIMING_ROWS)
    width = max(n_classes - (n_classes == 2), 1)  # meta-features per candidate: binary keeps one column
    one = np.asarray(part[:sample], dtype=np.float64).reshape(sample, -1)[:, :width]
    features = np.tile(one, (1, n_candidates))
    start = time.perf_counter()
    try:
        make_meta_learner("regression" if not n_classes else "binary", 0).fit(features, y[:sample])
    except ValueError:  # e.g. one class in the sample: the time spent is still a fair estimate
        pass
    return (time.perf_counter() - start) * len(y) / sample


def _subsample(rows: np.ndarray, y: np.ndarray, n: int, seed: int, stratify: bool) -> np.ndarray:
    """`n` of `rows`, seeded, every class in its share and with at least `MIN_NESTED_FOLDS`
    rows, so that every nested fold can still hold every class."""
    rng = np.random.default_rng(seed)
    if not stratify:
        return np.sort(rng.choice(rows, size=n, replace=False))
    chosen = []
    labels = y[rows]
    for label in np.unique(labels):
        members = rows[labels == label]
        take = min(len(members), max(MIN_NESTED_FOLDS, round(n * len(members) / len(rows))))
        chosen.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(chosen))
