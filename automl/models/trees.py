"""Shared search space of the bagged tree ensembles (random forest, extra trees).

Fully grown trees keep about one leaf per `min_samples_leaf` rows: on a million rows one
fitted forest takes gigabytes. Above `SMALL_TABLE_ROWS` the smallest leaf size searched rises
with the rows and each tree's leaves are capped, so a forest stays within `FOREST_NODE_BUDGET`
nodes whatever the table; smaller tables are searched exactly as before.
"""

from __future__ import annotations

import math
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor

from automl.models.base import (
    ModelFamily,
    Suggester,
    check_fit_time,
    fit_deadline,
    is_classification,
    scaled_with_rows,
)

#: up to this many rows forests are searched as they always were: full-grown trees
SMALL_TABLE_ROWS = 20_000
#: nodes of one fitted forest, its trees together. A node takes 64 bytes plus 8 a class
#: (8 for regression): about 85 MB for a binary task, 150 MB for ten classes.
FOREST_NODE_BUDGET = 2**20
#: however many trees, none is capped below this many leaves
MIN_LEAVES_PER_TREE = 1024
#: above SMALL_TABLE_ROWS the smallest leaf searched holds one row per this many table rows
ROWS_PER_LEAF_SIZE_FLOOR = 20_000
#: ... and the largest this many times that floor
LEAF_SIZE_RANGE = 50
#: under the clock a fit grows its trees in chunks, checking it between them: the first a tree
#: a thread, each next one twice the last, up to this share of the forest. The first check
#: comes soon however slow a tree is; the restarts stay few (each re-validates the input).
MAX_CHUNK_SHARE = 0.1


def leaves_per_tree(n_estimators: int) -> int:
    """The most leaves a tree may have for `n_estimators` trees to keep within the budget
    (a tree with L leaves has 2L - 1 nodes)."""
    return max(MIN_LEAVES_PER_TREE, FOREST_NODE_BUDGET // (2 * n_estimators))


def leaf_size_range(n_rows: int) -> tuple[int, int]:
    """The `min_samples_leaf` range searched: from 1 on small tables, rising with the rows."""
    if n_rows <= SMALL_TABLE_ROWS:
        return 1, scaled_with_rows(n_rows, rows_per_unit=20, low=2, high=50)
    floor = max(1, n_rows // ROWS_PER_LEAF_SIZE_FLOOR)
    return floor, floor * LEAF_SIZE_RANGE


def leaf_cap(n_rows: int, n_estimators: int, min_samples_leaf: int) -> int | None:
    """`max_leaf_nodes` for a large table whose trees could otherwise outgrow the budget."""
    if n_rows <= SMALL_TABLE_ROWS:
        return None
    cap = leaves_per_tree(n_estimators)
    return cap if n_rows / min_samples_leaf > cap else None


class _GrowsInChunks:
    """Mixin for a scikit-learn forest: under a fit clock it grows its trees in chunks with
    `warm_start` and checks the clock between them; without one it fits in one go.

    Warm-started forests draw each tree's seed as one fit would, so the trees are the same
    (tests hold them equal).
    """

    n_estimators: int
    warm_start: bool
    n_jobs: int | None
    set_params: Any

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        check_fit_time()
        fit = super().fit  # type: ignore[misc]
        if fit_deadline() is None:
            return fit(X, y, sample_weight=sample_weight)
        total, warm_start = self.n_estimators, self.warm_start
        chunk, largest = max(self.n_jobs or 1, 1), max(1, math.ceil(total * MAX_CHUNK_SHARE))
        grown = 0
        try:
            while grown < total:
                grown = min(total, grown + chunk)
                self.set_params(n_estimators=grown)
                fit(X, y, sample_weight=sample_weight)
                if grown < total:
                    self.set_params(warm_start=True)
                    check_fit_time()
                chunk = max(chunk, min(2 * chunk, largest))
        finally:
            self.set_params(n_estimators=total, warm_start=warm_start)
        return self


class TimedRandomForestClassifier(_GrowsInChunks, RandomForestClassifier):
    """`RandomForestClassifier` that checks the fit clock between chunks of trees."""


class TimedRandomForestRegressor(_GrowsInChunks, RandomForestRegressor):
    """`RandomForestRegressor` that checks the fit clock between chunks of trees."""


class TimedExtraTreesClassifier(_GrowsInChunks, ExtraTreesClassifier):
    """`ExtraTreesClassifier` that checks the fit clock between chunks of trees."""


class TimedExtraTreesRegressor(_GrowsInChunks, ExtraTreesRegressor):
    """`ExtraTreesRegressor` that checks the fit clock between chunks of trees."""


#: the timed version of each forest class a family names; another class is fitted as it is,
#: the clock then checked only before its fit
TIMED_FORESTS: dict[type, type[BaseEstimator]] = {
    RandomForestClassifier: TimedRandomForestClassifier,
    RandomForestRegressor: TimedRandomForestRegressor,
    ExtraTreesClassifier: TimedExtraTreesClassifier,
    ExtraTreesRegressor: TimedExtraTreesRegressor,
}


class BaggedTrees(ModelFamily):
    """Random-forest-like families differ only in the estimator classes they build."""

    classifier: type[BaseEstimator]
    regressor: type[BaseEstimator]

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        n_estimators = trial.suggest_int("n_estimators", 50, 500 if n_rows <= 50_000 else 200, log=True)
        trial.suggest_categorical("max_features", ["sqrt", "log2", 0.5, 0.8, 1.0])
        min_samples_leaf = trial.suggest_int("min_samples_leaf", *leaf_size_range(n_rows), log=True)
        cap = leaf_cap(n_rows, n_estimators, min_samples_leaf)
        if cap is not None:  # derived from the trees' count, not searched: a single value
            trial.suggest_int("max_leaf_nodes", cap, cap)

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        n_estimators = 200 if n_rows <= 50_000 else 100
        min_samples_leaf = leaf_size_range(n_rows)[0]
        params = {
            "n_estimators": n_estimators,
            "max_features": "sqrt" if is_classification(task) else 1.0,
            "min_samples_leaf": min_samples_leaf,
        }
        cap = leaf_cap(n_rows, n_estimators, min_samples_leaf)
        return params if cap is None else {**params, "max_leaf_nodes": cap}

    def make_estimator(self, params: dict[str, Any], task: str, seed: int, n_threads: int) -> BaseEstimator:
        cls = self.classifier if is_classification(task) else self.regressor
        cls = TIMED_FORESTS.get(cls, cls)
        return cls(**params, n_jobs=n_threads, random_state=seed)
