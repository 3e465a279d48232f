"""A second stacking layer's input: the table's features plus the first layer's predictions.

A second-layer model sees each row's original features and, as more numeric columns, what
the first layer's models predicted for it: out-of-fold predictions while it is trained
(each row predicted by fold models that never saw it), the first layer's bagged
predictions when it predicts. AutoGluon's multi-layer stacking, in the smallest form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from automl.data.coercion import FeatureTable
from automl.data.schema import ColumnInfo, TableSchema

#: the first layer's columns are named this, then the member's position and the class
PREFIX = "__layer1"


def layer_columns(n_base: int, task: str, n_classes: int) -> list[str]:
    """The added columns' names: one per base model (binary: the second class's
    probability; regression: the value), or one per base model and class."""
    if task == "multiclass":
        return [f"{PREFIX}_{i}_{c}" for i in range(n_base) for c in range(n_classes)]
    return [f"{PREFIX}_{i}" for i in range(n_base)]


def layer_values(parts: Sequence[np.ndarray], task: str) -> np.ndarray:
    """The base models' predictions (each (n,) or (n, k)) as the added columns' values."""
    if task == "binary":
        return np.column_stack([p[:, 1] for p in parts])
    if task == "multiclass":
        return np.column_stack([p.reshape(len(p), -1) for p in parts])
    return np.column_stack(parts)


def with_layer_columns(X: FeatureTable, parts: Sequence[np.ndarray], task: str, n_classes: int) -> FeatureTable:
    """`X` (a frame or column arrays, as the model got it) with the added columns."""
    values = layer_values(parts, task).astype(np.float64)
    names = layer_columns(len(parts), task, n_classes)
    if isinstance(X, pd.DataFrame):
        added = pd.DataFrame(values, columns=names, index=X.index)
        return pd.concat([X, added], axis=1)
    return {**X, **{name: values[:, i] for i, name in enumerate(names)}}


def layer_schema(schema: TableSchema, n_base: int, n_classes: int) -> TableSchema:
    """The second layer's schema: the table's columns and the added numeric ones."""
    added = [ColumnInfo(name, "numeric") for name in layer_columns(n_base, schema.task, n_classes)]
    return replace(
        schema,
        columns=[*schema.columns, *added],
        allows_missing={**schema.allows_missing, **{c.name: False for c in added}},
    )
