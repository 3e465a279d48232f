"""Seeded validation splits shared by every trial of a job.

All trials see identical folds, so their scores and out-of-fold predictions are
comparable and can be stacked by the ensemble step.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

# Above this many rows one holdout split replaces k-fold: the data is big enough for a
# stable estimate and k fits per trial would starve the search.
HOLDOUT_MIN_ROWS = 100_000
HOLDOUT_FRACTION = 0.2


@dataclass(frozen=True)
class Folds:
    """Train / validation row indices for each fold."""

    splits: tuple[tuple[np.ndarray, np.ndarray], ...]
    n_rows: int

    def __len__(self) -> int:
        return len(self.splits)


def make_folds(y: np.ndarray, *, classification: bool, n_folds: int = 5, seed: int = 0, holdout: bool = False) -> Folds:
    """Make k seeded folds (stratified for classification), or a holdout for large data.

    Classification is always stratified, even with classes rarer than the folds (which
    scikit-learn only warns about): every class with at least two rows then has rows in
    every fold's training part, so no model meets a fold that lacks a class it needs.
    `holdout` asks for the holdout split whatever the size (a budget too short for k folds).
    """
    n_rows = len(y)
    if holdout or n_rows >= HOLDOUT_MIN_ROWS:
        index = np.arange(n_rows)
        train, valid = train_test_split(
            index,
            test_size=HOLDOUT_FRACTION,
            random_state=seed,
            stratify=y if classification and _every_class_has(y, 2) else None,
        )
        return Folds(splits=((np.sort(train), np.sort(valid)),), n_rows=n_rows)
    if classification:
        splitter: KFold | StratifiedKFold = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splits = tuple((train, valid) for train, valid in splitter.split(np.zeros(n_rows), y))
    return Folds(splits=splits, n_rows=n_rows)


def _every_class_has(y: np.ndarray, count: int) -> bool:
    _, counts = np.unique(y, return_counts=True)
    return bool(counts.min() >= count)
