"""A fitted stacking meta-learner: how it turns the members' predictions into one.

How it is trained (on out-of-fold predictions only) is the ensemble's business
(`automl.ensemble.stacking`); a saved model needs only this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, Ridge

from automl.pipeline.probabilities import pad_probabilities

#: probabilities are clipped this far from 0 and 1 before their log-odds are taken
PROBABILITY_CLIP = 1e-6


def meta_features(parts: list[np.ndarray], task: str) -> np.ndarray:
    """Members' predictions as meta-learner inputs: log-odds of each class, or values."""
    if task == "regression":
        return np.column_stack(parts)
    columns = []
    for proba in parts:
        clipped = np.clip(np.asarray(proba, dtype=np.float64), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
        logits = np.log(clipped / (1 - clipped))
        columns.append(logits[:, 1:] if task == "binary" else logits)  # binary: one column carries it all
    return np.column_stack(columns)


def make_meta_learner(task: str, seed: int) -> BaseEstimator:
    if task == "regression":
        return Ridge(alpha=1.0)
    return LogisticRegression(C=1.0, max_iter=1000, random_state=seed)


@dataclass
class Stacker:
    """A fitted meta-learner that turns member predictions into the final prediction."""

    task: str
    n_classes: int
    estimator: BaseEstimator

    def combine(self, parts: list[np.ndarray]) -> np.ndarray:
        features = meta_features(parts, self.task)
        if self.task == "regression":
            return np.asarray(self.estimator.predict(features), dtype=np.float64)  # type: ignore[attr-defined]
        proba = self.estimator.predict_proba(features)  # type: ignore[attr-defined]
        return pad_probabilities(proba, self.estimator.classes_, self.n_classes)  # type: ignore[attr-defined]
