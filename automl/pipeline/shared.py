"""One batch through many fold pipelines, each distinct fitted preprocessing run once.

A bagged ensemble predicts every row through members x folds pipelines. Members fitted
on the same fold with the same preprocessing choices (every tree family's ordinal codes,
say) learnt the same values from the same rows, so their preprocessing gives the same
output: a batch is transformed once per distinct preprocessing, and each model predicts
on that. Two preprocessings count as the same only when their pickled fitted states are
byte for byte equal, so sharing never changes a prediction.
"""

from __future__ import annotations

import hashlib
import pickle
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.data.coercion import FeatureTable, columns_frame
from automl.features.compiled import CompiledPipeline, FastEstimator, fast_pipeline
from automl.pipeline.probabilities import full_probabilities

if TYPE_CHECKING:
    from automl.models.compiled_trees import CompiledTrees

_keys: weakref.WeakKeyDictionary[Pipeline, str] = weakref.WeakKeyDictionary()


def preprocessing_key(pipeline: Pipeline) -> str:
    """A digest of the pipeline's fitted preprocessing steps (all but the model), once per pipeline."""
    key = _keys.get(pipeline)
    if key is None:
        state = pickle.dumps([step for _, step in pipeline.steps[:-1]], protocol=pickle.HIGHEST_PROTOCOL)
        key = _keys[pipeline] = hashlib.sha1(state, usedforsecurity=False).hexdigest()
    return key


class SharedBatch:
    """The rows of one prediction call, preprocessed once per distinct preprocessing."""

    def __init__(self, X: FeatureTable) -> None:
        self.X = X
        self._frame: pd.DataFrame | None = X if isinstance(X, pd.DataFrame) else None
        self._done: dict[str, Any] = {}

    def _rows_frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = columns_frame(self.X)  # scikit-learn's own preprocessing reads a frame
        return self._frame

    def transformed(self, pipeline: Pipeline) -> Any:
        """The rows as the pipeline's model sees them."""
        key = preprocessing_key(pipeline)
        if key not in self._done:
            fast = fast_pipeline(pipeline)
            if isinstance(fast, CompiledPipeline):
                self._done[key] = fast.transform(self.X)
            else:
                self._done[key] = Pipeline(pipeline.steps[:-1]).transform(self._rows_frame())
        return self._done[key]

    def values(self, pipeline: Pipeline, compiled: CompiledTrees | None = None) -> np.ndarray:
        """A regression pipeline's predictions on the rows (through `compiled`, its model's
        Treelite form, where it has one)."""
        if not shareable(pipeline):
            return np.asarray(pipeline.predict(self._rows_frame()), dtype=np.float64)
        Z = self.transformed(pipeline)
        return np.asarray(_model(pipeline, compiled, Z).predict(Z), dtype=np.float64)

    def probabilities(self, pipeline: Pipeline, n_classes: int, compiled: CompiledTrees | None = None) -> np.ndarray:
        """A classifier pipeline's probabilities on the rows, rows summing to 1, one column per class."""
        if not shareable(pipeline):
            return full_probabilities(pipeline, self._rows_frame(), n_classes)
        Z = self.transformed(pipeline)
        return full_probabilities(_model(pipeline, compiled, Z), Z, n_classes)


def shareable(pipeline: Any) -> bool:
    """A scikit-learn pipeline with preprocessing steps before its model."""
    return type(pipeline) is Pipeline and len(pipeline.steps) > 1


_models: weakref.WeakKeyDictionary[Pipeline, Any] = weakref.WeakKeyDictionary()


def _model(pipeline: Pipeline, compiled: CompiledTrees | None = None, Z: Any = None) -> Any:
    """The pipeline's model on the preprocessed rows `Z`, by its quickest exact path:
    `compiled`, its Treelite form, where it is this model's (a member copied onto other
    fold models keeps a list that no longer matches them) and takes a batch like `Z`;
    else the model's fast path (built once per pipeline)."""
    estimator = pipeline.steps[-1][1]
    if compiled is not None and compiled.estimator is estimator and compiled.handles(Z):
        return compiled
    model = _models.get(pipeline)
    if model is None:
        fast = fast_pipeline(pipeline)
        model = _models[pipeline] = (
            fast.on_transformed if isinstance(fast, CompiledPipeline) else FastEstimator(estimator)
        )
    return model
