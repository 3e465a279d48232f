"""Nested cross-validation over out-of-fold rows: each way of combining trials, scored honestly.

The out-of-fold predictions are split again; a method's weights, meta-learner or choice of
trial are learned on the other nested folds and scored on the held-out one, so no score
is measured on rows its own choices were fitted to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from automl.ensemble.selection import select_ensemble
from automl.ensemble.stacking import cross_validated_stacking, fit_stacker
from automl.evaluation.metrics import Metric
from automl.pipeline.stacker import Stacker

# Nested folds at most: the common five-fold split (fewer for a rare class, see
# `nested_splits`), so each method is learnt on four fifths of the rows it is scored on.
NESTED_FOLDS = 5
# The fewest nested folds there can be (k-fold needs two), and so the fewest rows of each
# class a nested score needs: stratified folds give each class a row in every fold.
MIN_NESTED_FOLDS = 2
# The fewest rows a nested score needs: two in each of the fewest folds, so that every
# fold trains on more than one row.
MIN_NESTED_ROWS = 2 * MIN_NESTED_FOLDS
# The nested folds are shuffled with the job's seed plus this, so that they do not line up
# with the job's own folds, which were shuffled with the seed itself.
NESTED_SEED_OFFSET = 1

Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class NestedCV:
    """What every nested score reads: the rows' targets, their nested folds and the metric."""

    y: np.ndarray
    splits: list[Split]
    metric: Metric
    task: str
    n_classes: int
    seed: int

    def mean_score(self, predictions: Callable[[Split], np.ndarray]) -> float:
        """Mean over the nested folds of the metric on each held-out fold's predictions."""
        scores = [self.metric(self.y[split[1]], predictions(split), self.n_classes) for split in self.splits]
        return float(np.mean(scores))


@dataclass(frozen=True)
class MethodScore:
    """A method's nested score and the final model it learns on all the rows."""

    nested_score: float
    trial_ids: list[str]
    weights: list[float]
    stacker: Stacker | None = None


def nested_cv(y: np.ndarray, metric: Metric, task: str, n_classes: int, seed: int) -> NestedCV:
    return NestedCV(y, nested_splits(y, task, seed), metric, task, n_classes, seed)


def too_few_for_nested(y: np.ndarray, task: str) -> str | None:
    """Why these rows cannot give a nested score, or None when they can."""
    if len(y) < MIN_NESTED_ROWS:
        return f"{len(y)} validated rows are too few for a nested score"
    if task == "regression":
        return None
    counts = np.bincount(y)
    present = counts[counts > 0]
    if len(present) < 2 or present.min() < MIN_NESTED_FOLDS:
        return f"a class has fewer than {MIN_NESTED_FOLDS} validated rows: too few for a nested score"
    return None


def nested_splits(y: np.ndarray, task: str, seed: int) -> list[Split]:
    """Stratified for classes, with no more folds than the rarest class has rows, so that
    every nested validation fold holds every class."""
    rows = np.zeros(len(y))
    if task == "regression":
        return list(KFold(n_splits=NESTED_FOLDS, shuffle=True, random_state=seed + NESTED_SEED_OFFSET).split(rows, y))
    counts = np.bincount(y)
    k = int(min(NESTED_FOLDS, counts[counts > 0].min()))
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed + NESTED_SEED_OFFSET).split(rows, y))


def nested_best_single(parts: list[np.ndarray], cv: NestedCV) -> float:
    """Nested score of picking the best single candidate on the other folds.

    Raises:
        ValueError: the metric is undefined on some nested fold.
    """

    def picked(split: Split) -> np.ndarray:
        train, valid = split
        inner = [cv.metric(cv.y[train], p[train], cv.n_classes) for p in parts]
        return parts[cv.metric.best_index(inner)][valid]

    return cv.mean_score(picked)


def nested_selection(parts: list[np.ndarray], trial_ids: list[str], cv: NestedCV, rounds: int) -> MethodScore:
    """Ensemble selection: weights learnt on the other nested folds, then on all rows.

    Raises:
        ValueError: the metric is undefined on some nested fold.
    """

    def blended(split: Split) -> np.ndarray:
        train, valid = split
        weights = select_ensemble([p[train] for p in parts], cv.y[train], cv.metric, cv.n_classes, rounds).weights
        return _blend(parts, weights, valid)

    nested = cv.mean_score(blended)
    weights = select_ensemble(parts, cv.y, cv.metric, cv.n_classes, rounds).weights
    keep = np.flatnonzero(weights > 0)
    return MethodScore(nested, [trial_ids[i] for i in keep], [float(weights[i]) for i in keep])


def nested_stacking(parts: list[np.ndarray], trial_ids: list[str], cv: NestedCV) -> MethodScore:
    """Stacking: the meta-learner's own out-of-fold predictions, then one fitted on all rows.

    Raises:
        ValueError: the metric is undefined on some nested fold, or the meta-learner
            cannot be fitted.
    """
    stacked = cross_validated_stacking(parts, cv.y, cv.splits, cv.task, cv.n_classes, cv.seed)
    nested = cv.mean_score(lambda split: stacked[split[1]])
    stacker = fit_stacker(parts, cv.y, cv.task, cv.n_classes, cv.seed)
    return MethodScore(nested, list(trial_ids), [1.0 / len(trial_ids)] * len(trial_ids), stacker)


def _blend(parts: list[np.ndarray], weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The weighted average of the candidates on `rows`, skipping those selection left out."""
    total = np.zeros(parts[0][rows].shape, dtype=np.float64)
    for weight, part in zip(weights, parts, strict=True):
        if weight > 0:
            total += weight * part[rows]
    return total
