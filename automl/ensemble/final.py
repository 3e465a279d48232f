"""Assemble the final model from a finished search: plan, members, refit, inference cost.

Members are either each trial's fold models (bagging: no refit, ready at once) or the
trial's configuration refit on all rows (one model per member: cheaper to predict),
chosen by the time left in the budget. An optional cap on inference cost prunes the
lowest-weight members until the model meets it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.budget import Budget
from automl.data.splits import HOLDOUT_FRACTION
from automl.ensemble.builder import Candidate, EnsemblePlan, pick_candidates, plan_ensemble
from automl.ensemble.stacking import fit_stacker
from automl.errors import SearchError
from automl.evaluation.metrics import Metric
from automl.monitoring.drift import feature_reference, target_reference
from automl.pipeline.model import Member, TabularModel
from automl.pipeline.trial import TrialData, TrialRow, TrialStatus, build_pipeline

# Refit only when the estimated refit time is at most this share of the time left.
REFIT_TIME_SHARE = 0.5


@dataclass
class FinalModel:
    model: TabularModel
    plan: EnsemblePlan
    best_row: TrialRow
    final_members: str  # bagging | refit
    best_single: TabularModel | None = None  # the best trial alone, for comparison
    inference: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def build_final_model(
    trials: Sequence[TrialRow],
    fold_models: Mapping[str, list[Pipeline]],
    data: TrialData,
    metric: Metric,
    *,
    method: str,
    top_k: int,
    final_members: str,
    max_inference_ms_per_row: float | None,
    budget: Budget,
    sample: pd.DataFrame,
) -> FinalModel:
    """Turn the search's best trials into the model that gets saved.

    Args:
        trials: every trial of the search, in start order.
        fold_models: the fold models the search kept, by trial id.
        data: the job's `TrialData` (features, encoded target, folds, families).
        metric: the job's metric.
        method: selection | stacking | best.
        top_k: how many top trials are ensemble candidates (plus each family's best).
        final_members: bagging | refit | auto.
        max_inference_ms_per_row: prune members until batched prediction costs at most this.
        budget: the job's budget: the ensemble works to its share, and the members are
            refit only when the time left (less the last steps' share) allows.
        sample: raw input rows used to measure inference cost.
    """
    ranked = sorted(
        (r for r in trials if r.status is TrialStatus.DONE and r.outcome is not None and r.trial_id in fold_models),
        key=lambda r: r.outcome.score,
        reverse=metric.greater_is_better,
    )
    if not ranked:
        reasons = sorted({r.error for r in trials if r.error})
        detail = f" Failures: {'; '.join(reasons[:3])}" if reasons else ""
        raise SearchError(
            f"no trial finished within the budget ({len(trials)} started); raise --time-budget or --max-trials.{detail}"
        )
    rows = {r.trial_id: r for r in ranked}
    candidates = pick_candidates(
        [Candidate(r.trial_id, r.family, r.outcome.score, r.outcome.out_of_fold) for r in ranked], top_k
    )
    time_limit = budget.grant("ensemble") if budget.limited else None
    plan = plan_ensemble(candidates, data.y, metric, data.schema.task, method, seed=data.seed, time_limit_s=time_limit)
    notes = [f"ensemble: {plan.reason}"]

    refit_s = budget.grant("refit") if budget.limited else None
    mode = _members_mode(final_members, [rows[t] for t in plan.trial_ids], refit_s, len(data.folds))
    members = []
    for trial_id in plan.trial_ids:
        row = rows[trial_id]
        fold_models = [_refit(row, data)] if mode == "refit" else fold_models[trial_id]
        members.append(Member(trial_id, row.family, row.params, fold_models))
    model = TabularModel(data.schema, metric.name, members, list(plan.weights), plan.stacker, _reference(data))
    best_single = TabularModel(
        data.schema, metric.name, [Member(ranked[0].trial_id, ranked[0].family, ranked[0].params,
                                          fold_models[ranked[0].trial_id])]
    )  # fmt: skip
    if max_inference_ms_per_row is not None:
        model, pruned = prune_to_cost(model, candidates, data, sample, max_inference_ms_per_row)
        if pruned:
            notes.append(f"ensemble: pruned {pruned} member(s) to meet {max_inference_ms_per_row} ms per row")
    inference = {
        **{f"model_{k}": v for k, v in inference_cost(model, sample).items()},
        **{f"best_single_{k}": v for k, v in inference_cost(best_single, sample).items()},
    }
    return FinalModel(model, plan, ranked[0], mode, best_single, inference, notes)


def inference_cost(model: TabularModel, sample: pd.DataFrame, repeats: int = 3) -> dict[str, float]:
    """Milliseconds per row: one row at a time (median of up to `repeats`), and in one batch.

    Bounded in time, since it runs after the search, inside the job's budget: a slow model
    is timed on one row once and on a 256-row batch (a bagged forest ensemble took 6 s
    with three single rows and 1,000 rows).
    """
    one = sample.head(1)
    singles: list[float] = []
    while len(singles) < repeats and sum(singles) < 0.2:
        start = time.perf_counter()
        model.predict_raw(one)
        singles.append(time.perf_counter() - start)
    batch = sample.head(256)
    start = time.perf_counter()
    model.predict_raw(batch)
    batched = (time.perf_counter() - start) / max(len(batch), 1)
    return {"single_row_ms": float(np.median(singles) * 1000), "batch_ms_per_row": float(batched * 1000)}


def _reference(data: TrialData) -> dict[str, Any]:
    kinds = {c.name: c.kind for c in data.schema.columns}
    return {
        "features": feature_reference(data.X, kinds),
        "target": target_reference(data.y, data.schema.task, data.n_classes),
        "example": data.X.head(1).copy(),  # a known-good row for health checks
    }


def _members_mode(requested: str, rows: list[TrialRow], time_left_s: float | None, n_folds: int) -> str:
    if requested != "auto":
        return requested
    if time_left_s is None:
        return "bagging"
    # a fold's fit saw (k-1)/k of the rows (a holdout's 1 - its share); all rows cost about
    # the inverse of that times one fold's fit
    scale = n_folds / (n_folds - 1) if n_folds > 1 else 1.0 / (1.0 - HOLDOUT_FRACTION)
    estimate = sum(r.outcome.fit_s / max(len(r.outcome.fold_scores), 1) * scale for r in rows)
    return "refit" if estimate <= REFIT_TIME_SHARE * time_left_s else "bagging"


def _refit(row: TrialRow, data: TrialData) -> Pipeline:
    """The trial's own pipeline, fitted on every row."""
    family = data.families[row.family]
    return build_pipeline(family, row.params, data.schema, data.seed, data.n_threads).fit(data.X, data.y)


def prune_to_cost(
    model: TabularModel, candidates: list[Candidate], data: TrialData, sample: pd.DataFrame, cap: float
) -> tuple[TabularModel, int]:
    """Drop the lowest-weight members until batched prediction costs at most `cap` ms a row."""
    pruned = 0
    oof = {c.trial_id: c.out_of_fold for c in candidates}
    while len(model.members) > 1 and inference_cost(model, sample)["batch_ms_per_row"] > cap:
        drop = int(np.argmin(model.weights))
        members = [m for i, m in enumerate(model.members) if i != drop]
        weights = np.asarray([w for i, w in enumerate(model.weights) if i != drop])
        stacker = None
        if model.stacker is not None:
            rows = np.flatnonzero(~np.isnan(oof[members[0].trial_id].reshape(len(data.y), -1)[:, 0]))
            parts = [np.asarray(oof[m.trial_id][rows], dtype=np.float64) for m in members]
            stacker = fit_stacker(parts, data.y[rows], data.schema.task, data.n_classes, data.seed)
        model = TabularModel(
            model.schema, model.metric, members, list(weights / weights.sum()), stacker, model.reference
        )
        pruned += 1
    return model, pruned
