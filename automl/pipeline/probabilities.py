"""Class probabilities with one column per class of the job, whatever a model saw."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ProbabilisticModel(Protocol):
    """A fitted classifier as scikit-learn shapes one: `classes_` are the encoded labels it
    saw, one per column of `predict_proba`."""

    @property
    def classes_(self) -> np.ndarray: ...

    def predict_proba(self, X: object) -> object: ...


def pad_probabilities(proba: np.ndarray, seen: np.ndarray, n_classes: int) -> np.ndarray:
    """Spread a model's columns (one per class it saw, `seen` being their encoded labels)
    over all `n_classes` columns: a fold or a meta-learner may have missed a class."""
    proba = np.asarray(proba, dtype=np.float64)
    seen = np.asarray(seen, dtype=int)
    if proba.shape[1] == n_classes and np.array_equal(seen, np.arange(n_classes)):
        return proba
    full = np.zeros((len(proba), n_classes))
    full[:, seen] = proba
    return full


def full_probabilities(model: ProbabilisticModel, X: object, n_classes: int) -> np.ndarray:
    """A fitted classifier's probabilities on `X`, rows summing to 1, one column per class."""
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    proba /= proba.sum(axis=1, keepdims=True)  # float32 libraries drift off 1 slightly
    return pad_probabilities(proba, np.asarray(model.classes_), n_classes)
