"""Scoring a fitted model on a table that holds the target (`automl evaluate`, a test table)."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd

from automl.data.target import encode_known
from automl.errors import DataError
from automl.evaluation.metrics import METRICS
from automl.pipeline.model import TabularModel


def score_table(model: TabularModel, frame: pd.DataFrame) -> dict[str, float]:
    """Every metric that fits the model's task, on a table that holds the target."""
    target = model.schema.target
    if target not in frame.columns:
        raise DataError(f"the table has no target column {target!r}")
    frame = frame[frame[target].notna()]
    if frame.empty:
        raise DataError(f"every value of target column {target!r} is missing")
    if model.task == "regression":
        y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=float)
        if np.isnan(y).any():
            raise DataError(f"target column {target!r} holds non-numeric values")
    else:
        y = encode_known(frame[target], model.schema)
        frame = frame[y >= 0]
        y = y[y >= 0]
        if len(y) == 0:
            raise DataError(f"no row of the table has a class the model knows ({target!r})")
    raw = model.predict_raw(frame)
    n_classes = len(model.classes or [])
    scores = {}
    for name, metric in METRICS.items():
        if model.task in metric.tasks:
            with contextlib.suppress(ValueError):  # e.g. AUC on a table with one class
                scores[name] = metric(y, raw, n_classes)
    return scores
