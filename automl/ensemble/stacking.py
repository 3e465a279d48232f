"""Stacking: a regularised meta-learner over the members' out-of-fold predictions.

The meta-learner sees only out-of-fold predictions (as scikit-learn's StackingClassifier
does with `cross_val_predict`), and is itself scored by cross-validation over the same
folds, so its score is honest.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from automl.pipeline.probabilities import pad_probabilities
from automl.pipeline.stacker import Stacker, make_meta_learner, meta_features


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
            out[valid] = pad_probabilities(estimator.predict_proba(features[valid]), estimator.classes_, n_classes)
    return out
