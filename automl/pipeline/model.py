"""The model a job produces: weighted members, each a bag of fold pipelines.

A member is one trial's configuration fitted on each CV fold's training rows; averaging
its fold models gives a bagged predictor with no refit. The best single trial is a
one-member model; ensembles (selection, stacking) reuse the same shape with more members,
so saving, loading, predicting and serving never special-case them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.data.coercion import FeatureTable, feature_arrays
from automl.data.schema import TableSchema
from automl.pipeline.layers import with_layer_columns
from automl.pipeline.shared import SharedBatch
from automl.pipeline.stacker import Stacker

if TYPE_CHECKING:
    from automl.models.compiled_trees import CompiledTrees


@dataclass
class Member:
    """One trial's configuration, fitted once per fold."""

    trial_id: str
    family: str
    params: dict[str, Any]
    fold_models: list[Pipeline]
    #: each fold model's Treelite form (`ensemble.compiling`), or None where it has none
    compiled: list[CompiledTrees | None] | None = None

    def predict_raw(self, X: FeatureTable, task: str, n_classes: int, batch: SharedBatch | None = None) -> np.ndarray:
        """Average of the fold models: probabilities (classification) or values. `batch`
        holds the rows' preprocessings already computed by other members (`pipeline.shared`)."""
        batch = batch or SharedBatch(X)
        trees: list[CompiledTrees | None] = [None] * len(self.fold_models)
        if self.compiled and len(self.compiled) == len(self.fold_models):  # a copy onto other folds: none
            trees = self.compiled
        if task == "regression":
            return np.mean([batch.values(m, c) for m, c in zip(self.fold_models, trees, strict=True)], axis=0)
        parts = [batch.probabilities(m, n_classes, c) for m, c in zip(self.fold_models, trees, strict=True)]
        return np.mean(parts, axis=0)


def weighted_sum(parts: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The members' predictions weighted and added up (arrays of one shape, float64)."""
    total = np.zeros(np.shape(parts[0]), dtype=np.float64)
    for weight, part in zip(weights, parts, strict=True):
        total += weight * part
    return total


@dataclass
class TabularModel:
    """A trained model for one table: input schema, task, classes and its members.

    Members are combined by their weights, or by a stacking meta-learner when there is one.
    """

    schema: TableSchema
    metric: str
    members: list[Member]
    weights: list[float] = field(default_factory=list)
    stacker: Stacker | None = None
    reference: dict[str, Any] | None = None  # training distributions, for drift monitoring
    #: a second stacking layer: these first-layer members' predictions are added to the
    #: features (`pipeline.layers`) that `members` were trained on and predict from
    base: list[Member] | None = None

    def __post_init__(self) -> None:
        if not self.weights:
            self.weights = [1.0 / len(self.members)] * len(self.members)

    @property
    def task(self) -> str:
        return self.schema.task

    @property
    def classes(self) -> list[Any] | None:
        return self.schema.classes

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities (n, n_classes) or regression values (n,), from a raw input table.

        Raises:
            DataError: a feature column of the training table is missing.
        """
        return self.predict_features(feature_arrays(frame, self.schema))

    def predict_features(self, X: FeatureTable) -> np.ndarray:
        """Like `predict_raw`, for rows already coerced to the training types: the frame of
        `coerce_features`, or the column arrays of `feature_columns` (served rows)."""
        n_classes = len(self.classes or [])
        if self.base:
            rows = SharedBatch(X)
            first = [member.predict_raw(X, self.task, n_classes, rows) for member in self.base]
            X = with_layer_columns(X, first, self.task, n_classes)
        batch = SharedBatch(X)
        parts = [member.predict_raw(X, self.task, n_classes, batch) for member in self.members]
        total = self.stacker.combine(parts) if self.stacker is not None else weighted_sum(parts, self.weights)
        if self.task != "regression":
            total = total / total.sum(axis=1, keepdims=True)
        return total

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted labels (original class values) or regression values."""
        raw = self.predict_raw(frame)
        return raw if self.task == "regression" else self.labels(raw)

    def labels(self, proba: np.ndarray) -> np.ndarray:
        """The most probable class of each row of `proba` (original class values)."""
        return np.asarray(self.classes, dtype=object)[np.argmax(proba, axis=1)]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in the order of `classes`."""
        if self.task == "regression":
            raise TypeError("predict_proba is only defined for classification models")
        return self.predict_raw(frame)

    def prediction_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The `automl predict` output: `prediction`, plus `proba_<class>` per class."""
        raw = self.predict_raw(frame)
        if self.task == "regression":
            return pd.DataFrame({"prediction": raw}, index=frame.index)
        classes = list(self.classes or [])
        out = pd.DataFrame({"prediction": self.labels(raw)}, index=frame.index)
        for i, label in enumerate(classes):
            out[f"proba_{label}"] = raw[:, i]
        return out
