"""What the final model costs to predict, and pruning it to a cap on that cost."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from automl.ensemble.builder import Candidate, validated_rows_of
from automl.ensemble.stacking import fit_stacker
from automl.pipeline.model import TabularModel
from automl.pipeline.trial import TrialData

# The timing runs after the search, inside the job's budget, so it is bounded: single rows
# are timed up to this many times, and only until they have taken this long together,
# so a slow model is timed on one row once.
SINGLE_ROW_REPEATS = 3
SINGLE_ROW_TIMING_S = 0.2
# Rows in the timed batch: enough to spread a call's fixed cost over, few enough that a
# slow ensemble's timing stays a small part of the budget.
INFERENCE_BATCH_ROWS = 256


def inference_cost(model: TabularModel, sample: pd.DataFrame, repeats: int = SINGLE_ROW_REPEATS) -> dict[str, float]:
    """Milliseconds per row: one row at a time (median of up to `repeats`), and in one batch
    of up to `INFERENCE_BATCH_ROWS` rows of `sample`."""
    one = sample.head(1)
    singles: list[float] = []
    while len(singles) < repeats and sum(singles) < SINGLE_ROW_TIMING_S:
        start = time.perf_counter()
        model.predict_raw(one)
        singles.append(time.perf_counter() - start)
    batch = sample.head(INFERENCE_BATCH_ROWS)
    start = time.perf_counter()
    model.predict_raw(batch)
    batched = (time.perf_counter() - start) / max(len(batch), 1)
    return {"single_row_ms": float(np.median(singles) * 1000), "batch_ms_per_row": float(batched * 1000)}


def prune_to_cost(
    model: TabularModel, candidates: list[Candidate], data: TrialData, sample: pd.DataFrame, cap: float
) -> tuple[TabularModel, int]:
    """Drop the lowest-weight members until batched prediction costs at most `cap` ms a row
    (one member is always kept); return the model and how many members were dropped.

    Args:
        candidates: the ensemble's candidates: a stacker is refit on their out-of-fold
            predictions (unused without a stacker).
        data: the job's `TrialData` (targets, task and seed for that refit).
    """
    pruned = 0
    while len(model.members) > 1 and inference_cost(model, sample)["batch_ms_per_row"] > cap:
        model = _without_lightest(model, candidates, data)
        pruned += 1
    return model, pruned


def _without_lightest(model: TabularModel, candidates: list[Candidate], data: TrialData) -> TabularModel:
    """The model less its lowest-weight member: weights renormalised, a stacker refit."""
    drop = int(np.argmin(model.weights))
    members = [m for i, m in enumerate(model.members) if i != drop]
    weights = np.asarray([w for i, w in enumerate(model.weights) if i != drop])
    stacker = None
    if model.stacker is not None:
        out_of_fold = {c.trial_id: c.out_of_fold for c in candidates}
        rows = validated_rows_of(out_of_fold[members[0].trial_id])
        parts = [np.asarray(out_of_fold[m.trial_id][rows], dtype=np.float64) for m in members]
        stacker = fit_stacker(parts, data.y[rows], data.schema.task, data.n_classes, data.seed)
    kept = list(weights / weights.sum())
    return TabularModel(model.schema, model.metric, members, kept, stacker, model.reference, base=model.base)
