"""Stacking: a regularised meta-learner over the members' out-of-fold predictions.

The meta-learner sees only out-of-fold predictions (as scikit-learn's StackingClassifier
does with `cross_val_predict`), and is itself scored by cross-validation over the same
folds, so its score is honest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge

_EPS = 1e-6


def meta_features(parts: list[np.ndarray], task: str) -> np.ndarray:
    """Members' predictions as meta-learner inputs: log-odds of each class, or values."""
    if task == "regression":
        return np.column_stack(parts)
    columns = []
    for proba in parts:
        clipped = np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1 - _EPS)
        logits = np.log(clipped / (1 - clipped))
        columns.append(logits[:, 1:] if task == "binary" else logits)  # binary: one column carries it all
    return np.column_stack(columns)


def make_meta_learner(task: str, seed: int) -> Any:
    if task == "regression":
        return Ridge(alpha=1.0)
    return LogisticRegression(C=1.0, max_iter=1000, random_state=seed)


@dataclass
class Stacker:
    """A fitted meta-learner that turns member predictions into the final prediction."""

    task: str
    n_classes: int
    estimator: Any

    def combine(self, parts: list[np.ndarray]) -> np.ndarray:
        features = meta_features(parts, self.task)
        if self.task == "regression":
            return np.asarray(self.estimator.predict(features), dtype=np.float64)
        proba = np.asarray(self.estimator.predict_proba(features), dtype=np.float64)
        full = np.zeros((len(features), self.n_classes))
        full[:, np.asarray(self.estimator.classes_, dtype=int)] = proba
        return full


def fit_stacker(parts: list[np.ndarray], y: np.ndarray, task: str, n_classes: int, seed: int) -> Stacker:
    estimator = make_meta_learner(task, seed).fit(meta_features(parts, task), y)
    return Stacker(task=task, n_classes=n_classes, estimator=estimator)


def cross_validated_stacking(
    parts: list[np.ndarray],
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    task: str,
    n_classes: int,
    seed: int,
) -> np.ndarray:
    """Out-of-fold predictions of the meta-learner itself (for its honest score)."""
    features = meta_features(parts, task)
    width = () if task == "regression" else (n_classes,)
    out = np.zeros((len(y), *width))
    template = make_meta_learner(task, seed)
    for train, valid in splits:
        estimator = clone(template).fit(features[train], y[train])
        if task == "regression":
            out[valid] = estimator.predict(features[valid])
        else:
            out[np.ix_(valid, np.asarray(estimator.classes_, dtype=int))] = estimator.predict_proba(features[valid])
    return out
