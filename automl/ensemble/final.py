"""Assemble the final model from a finished search: plan, members, refit, inference cost.

Members are either each trial's fold models (bagging: no refit, ready at once) or the
trial's configuration refit on all rows (one model per member: cheaper to predict),
chosen by the time left in the budget. An optional cap on inference cost prunes the
lowest-weight members until the model meets it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.budget import Budget
from automl.data.splits import HOLDOUT_FRACTION
from automl.ensemble.builder import EnsemblePlan, pick_candidates, plan_ensemble
from automl.ensemble.inference import inference_cost, prune_to_cost
from automl.ensemble.scored import ScoredTrial, ranked_trials
from automl.ensemble.second_layer import fit_second_layer
from automl.evaluation.metrics import Metric
from automl.monitoring.drift import feature_reference, target_reference
from automl.pipeline.model import TabularModel
from automl.pipeline.trial import TrialData, TrialRow, build_pipeline

__all__ = ["FinalModel", "Repeated", "build_final_model"]

# Refit only when the estimated refit time is at most this share of the time left: the
# estimate scales fold fits by row count, and a fit can take longer than that predicts.
REFIT_TIME_SHARE = 0.5


@dataclass
class Repeated:
    """A trial cross-validated on a second split too: its out-of-fold predictions averaged
    over both, the fold models of both (one bag), and the score of the averaged ones."""

    out_of_fold: np.ndarray
    fold_models: list[Pipeline]
    score: float


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
    repeated: Mapping[str, Repeated] | None = None,
) -> FinalModel:
    """Turn the search's best trials into the model that gets saved.

    Args:
        trials: every trial of the search, in start order.
        fold_models: the fold models the search kept, by trial id (read only for the
            members and the best trial: a lazy mapping fetches no others).
        data: the job's `TrialData` (features, encoded target, folds, families).
        metric: the job's metric.
        method: selection | stacking | best.
        top_k: how many top trials are ensemble candidates (plus each family's best).
        final_members: bagging | refit | auto.
        max_inference_ms_per_row: prune members until batched prediction costs at most this.
        budget: the job's budget: the ensemble works to its share, and the members are
            refit only when the time left (less the last steps' share) allows.
        sample: raw input rows used to measure inference cost.
        repeated: trials cross-validated on a second split (repeated bagging); the
            ensemble is planned with them too and they are kept only if its nested score
            improves.

    Raises:
        SearchError: no trial finished with its fold models kept.
    """
    ranked = ranked_trials(trials, fold_models, metric)
    candidates = pick_candidates([t.candidate() for t in ranked], top_k)
    time_limit = budget.grant("ensemble") if budget.limited else None
    if time_limit is not None:
        time_limit /= 1 + bool(repeated) + ("layer2" in budget.reserved)  # the plans to score
    plan = plan_ensemble(candidates, data.y, metric, data.schema.task, method, seed=data.seed, time_limit_s=time_limit)
    notes = [f"ensemble: {plan.reason}"]
    if repeated:
        with_repeats = sorted(
            (t.repeated(repeated[t.trial_id]) if t.trial_id in repeated else t for t in ranked),
            key=lambda t: t.score,
            reverse=metric.greater_is_better,
        )
        more = pick_candidates([t.candidate() for t in with_repeats], top_k)
        second = plan_ensemble(more, data.y, metric, data.schema.task, method, seed=data.seed, time_limit_s=time_limit)
        if metric.is_better(second.cv_score, plan.cv_score):
            notes = [f"ensemble: {second.reason}"]
            notes.append(
                f"repeated bagging: {len(repeated)} trial(s) cross-validated on a second split; "
                f"kept ({second.cv_score:.6g} against {plan.cv_score:.6g} on one split)"
            )
            ranked, candidates, plan = with_repeats, more, second
            fold_models = _Overlay({k: r.fold_models for k, r in repeated.items()}, fold_models)
        else:
            notes.append(
                f"repeated bagging: not kept ({second.cv_score:.6g} on two splits, {plan.cv_score:.6g} on one)"
            )
    first_layer, first_models = ranked, fold_models  # the best single trial is the first layer's
    base = None
    if "layer2" in budget.reserved:
        layer = fit_second_layer(ranked, data, budget.grant("layer2") if budget.limited else None)
        if layer is not None:
            on_top = sorted(layer.trials, key=lambda t: t.score, reverse=metric.greater_is_better)
            layer_candidates = pick_candidates([t.candidate() for t in on_top], top_k)
            layered = plan_ensemble(
                layer_candidates, data.y, metric, data.schema.task, method, seed=data.seed, time_limit_s=time_limit
            )
            if metric.is_better(layered.cv_score, plan.cv_score):
                notes = [f"ensemble: {layered.reason}"]
                notes.append(
                    f"second layer: {len(layer.trials)} model(s) on the features and {len(layer.base)} first-layer "
                    f"predictions; kept ({layered.cv_score:.6g} against {plan.cv_score:.6g} for one layer)"
                )
                base = [t.member(fold_models[t.trial_id]) for t in layer.base]
                fold_models = _Overlay({t.trial_id: t.outcome.fold_models or [] for t in on_top}, fold_models)
                ranked, candidates, plan = on_top, layer_candidates, layered
            else:
                notes.append(f"second layer: not kept ({layered.cv_score:.6g}, one layer {plan.cv_score:.6g})")
    by_id = {t.trial_id: t for t in ranked}
    chosen = [by_id[trial_id] for trial_id in plan.trial_ids]
    refit_s = budget.grant("refit") if budget.limited else None  # granted after the ensemble took its time
    mode = "bagging" if base else _members_mode(final_members, chosen, refit_s, len(data.folds))
    members = [t.member([_refit(t.row, data)] if mode == "refit" else fold_models[t.trial_id]) for t in chosen]
    model = TabularModel(
        data.schema, metric.name, members, list(plan.weights), plan.stacker, _reference(data), base=base
    )
    best = first_layer[0]
    best_single = TabularModel(data.schema, metric.name, [best.member(first_models[best.trial_id])])
    if max_inference_ms_per_row is not None:
        model, pruned = prune_to_cost(model, candidates, data, sample, max_inference_ms_per_row)
        if pruned:
            notes.append(f"ensemble: pruned {pruned} member(s) to meet {max_inference_ms_per_row} ms per row")
    inference = {
        **{f"model_{k}": v for k, v in inference_cost(model, sample).items()},
        **{f"best_single_{k}": v for k, v in inference_cost(best_single, sample).items()},
    }
    return FinalModel(model, plan, best.row, mode, best_single, inference, notes)


def _reference(data: TrialData) -> dict[str, Any]:
    """The training distributions a saved model carries for drift monitoring."""
    kinds: dict[str, str] = {c.name: c.kind for c in data.schema.columns}
    return {
        "features": feature_reference(data.X, kinds),
        "target": target_reference(data.y, data.schema.task, data.n_classes),
        "example": data.X.head(1).copy(),  # a known-good row for health checks
    }


def _members_mode(requested: str, chosen: list[ScoredTrial], time_left_s: float | None, n_folds: int) -> str:
    """bagging or refit: `requested` unless auto, which refits when the time left allows."""
    if requested != "auto":
        return requested
    if time_left_s is None:
        return "bagging"
    scale = _all_rows_scale(n_folds)
    estimate = sum(t.outcome.fit_s / max(len(t.outcome.fold_scores), 1) * scale for t in chosen)
    return "refit" if estimate <= REFIT_TIME_SHARE * time_left_s else "bagging"


def _all_rows_scale(n_folds: int) -> float:
    """A fit on all rows over one fold's fit, taking fit time as proportional to rows: a
    fold trains on (k-1)/k of them, a holdout's training part on 1 - its share."""
    return n_folds / (n_folds - 1) if n_folds > 1 else 1.0 / (1.0 - HOLDOUT_FRACTION)


def _refit(row: TrialRow, data: TrialData) -> Pipeline:
    """The trial's own pipeline, fitted on every row; an early-stopping family's with the
    mean of its folds' best round counts (scaled by the rows, as its folds' were fewer)."""
    family = data.families[row.family]
    params = row.params
    rounds = row.outcome.rounds if row.outcome is not None else ()
    if family.early_stopping and rounds:
        params = family.with_rounds(params, round(float(np.mean(rounds)) * _all_rows_scale(len(data.folds))))
    return build_pipeline(family, params, data.schema, data.seed, data.n_threads).fit(data.X, data.y)


class _Overlay(Mapping[str, list[Pipeline]]):
    """The repeated trials' bags over the search's fold models (read lazily)."""

    def __init__(self, first: Mapping[str, list[Pipeline]], rest: Mapping[str, list[Pipeline]]) -> None:
        self.first, self.rest = first, rest

    def __getitem__(self, key: str) -> list[Pipeline]:
        return self.first[key] if key in self.first else self.rest[key]

    def __contains__(self, key: object) -> bool:
        return key in self.first or key in self.rest

    def __iter__(self) -> Iterator[str]:
        return iter({*self.first, *self.rest})

    def __len__(self) -> int:
        return len({*self.first, *self.rest})
