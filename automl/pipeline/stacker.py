"""A fitted stacking meta-learner: how it turns the members' predictions into one.

How it is trained (on out-of-fold predictions only) is the ensemble's business
(`automl.ensemble.stacking`); a saved model needs only this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge

from automl.pipeline.probabilities import ProbabilisticModel, pad_probabilities

#: probabilities are clipped this far from 0 and 1 before their log-odds are taken
PROBABILITY_CLIP = 1e-6
#: the meta-learners' regularisation: scikit-learn's defaults, which suit a few inputs on
#: one scale (log-odds or values); the nested score decides whether stacking is kept
META_ALPHA = 1.0
META_C = 1.0
#: enough iterations for LogisticRegression's solver to converge on log-odds inputs
META_MAX_ITER = 1000


class MetaLearner(Protocol):
    """What the stacker needs of its meta-learner: scikit-learn's fit and predict.

    A classifier's meta-learner is also a `ProbabilisticModel` (`predict_proba`, `classes_`).
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> MetaLearner: ...

    def predict(self, X: np.ndarray) -> object: ...


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


def make_meta_learner(task: str, seed: int) -> MetaLearner:
    """An unfitted meta-learner: ridge regression for values, logistic regression for classes."""
    if task == "regression":
        return Ridge(alpha=META_ALPHA)
    return LogisticRegression(C=META_C, max_iter=META_MAX_ITER, random_state=seed)


@dataclass
class Stacker:
    """A fitted meta-learner that turns member predictions into the final prediction."""

    task: str
    n_classes: int
    estimator: MetaLearner

    def combine(self, parts: list[np.ndarray]) -> np.ndarray:
        features = meta_features(parts, self.task)
        if self.task == "regression":
            return np.asarray(self.estimator.predict(features), dtype=np.float64)
        if not isinstance(self.estimator, ProbabilisticModel):
            raise TypeError(f"a {self.task} stacker needs a meta-learner with predict_proba")
        proba = np.asarray(self.estimator.predict_proba(features), dtype=np.float64)
        return pad_probabilities(proba, self.estimator.classes_, self.n_classes)
