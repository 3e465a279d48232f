"""Assemble the final model from a finished search: plan, members, refit, inference cost.

Members are either each trial's fold models (bagging: no refit, ready at once) or the
trial's configuration refit on all rows (one model per member: cheaper to predict),
chosen by the time left in the budget. An optional cap on inference cost prunes the
lowest-weight members until the model meets it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.budget import Budget
from automl.ensemble.builder import EnsemblePlan, pick_candidates, plan_ensemble
from automl.ensemble.compiling import compile_deadline, compile_models
from automl.ensemble.inference import inference_cost, prune_to_cost
from automl.ensemble.refit import refit, refit_seconds
from automl.ensemble.scored import ScoredTrial, ranked_trials
from automl.ensemble.second_layer import fit_second_layer
from automl.ensemble.serving import Alternative, fastest_within
from automl.evaluation.metrics import Metric
from automl.monitoring.drift import feature_reference, target_reference
from automl.pipeline.model import TabularModel
from automl.pipeline.trial import TrialData, TrialRow

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
    final_members: str  # bagging | refit_full
    best_single: TabularModel | None = None  # the best trial alone, for comparison
    inference: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: with `for_serving`: every final model timed, and the name of the one saved
    serving: list[dict[str, float | str]] = field(default_factory=list)
    serving_choice: str | None = None


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
    for_serving: bool = False,
    score_tolerance: float = 0.001,
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
        final_members: bagging | refit_full (refit is the same) | auto.
        max_inference_ms_per_row: prune members until batched prediction costs at most this.
        budget: the job's budget: the ensemble works to its share, and the members are
            refit only when the time left (less the last steps' share) allows.
        sample: raw input rows used to measure inference cost.
        repeated: trials cross-validated on a second split (repeated bagging); the
            ensemble is planned with them too and they are kept only if its nested score
            improves.
        for_serving: save the fastest final model (one row at a time) within
            `score_tolerance` of the best score (`ensemble.serving`).

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
    refits: dict[str, Pipeline] = {}
    if mode == "refit_full":
        refits = {t.trial_id: refit(t.row, data) for t in chosen}
    members = [t.member([refits[t.trial_id]] if mode == "refit_full" else fold_models[t.trial_id]) for t in chosen]
    model = TabularModel(
        data.schema, metric.name, members, list(plan.weights), plan.stacker, _reference(data), base=base
    )
    best = first_layer[0]
    best_single = TabularModel(data.schema, metric.name, [best.member(first_models[best.trial_id])])
    serving: list[dict[str, float | str]] = []
    choice = None
    time_left = budget.left if budget.limited else None
    alternatives = (
        _alternatives(model, best_single, plan, best, mode, refits, data, refit_s, chosen) if for_serving else []
    )
    compiled = compile_models([a.model for a in alternatives] or [model, best_single], sample, compile_deadline(budget))
    notes.extend(filter(None, [compiled.note()]))
    if for_serving:
        picked, timed = fastest_within(alternatives, metric, score_tolerance, sample, time_left)
        serving, choice = [a.summary() for a in timed], picked.name
        model, mode = picked.model, picked.final_members
        notes.append(
            f"for serving: {picked.name} ({picked.single_row_ms:.2f} ms a row, {metric.name} {picked.score:.6g}), "
            f"the fastest of {len(timed)} final models within {score_tolerance:.2%} of the best score"
        )
    if max_inference_ms_per_row is not None:
        model, pruned = prune_to_cost(model, candidates, data, sample, max_inference_ms_per_row)
        if pruned:
            notes.append(f"ensemble: pruned {pruned} member(s) to meet {max_inference_ms_per_row} ms per row")
    inference = {
        **{f"model_{k}": v for k, v in inference_cost(model, sample).items()},
        **{f"best_single_{k}": v for k, v in inference_cost(best_single, sample).items()},
    }
    return FinalModel(model, plan, best.row, mode, best_single, inference, notes, serving, choice)


def _alternatives(
    model: TabularModel,
    best_single: TabularModel,
    plan: EnsemblePlan,
    best: ScoredTrial,
    mode: str,
    refits: dict[str, Pipeline],
    data: TrialData,
    refit_s: float | None,
    chosen: list[ScoredTrial],
) -> list[Alternative]:
    """The final models `for_serving` chooses from: the model as built, its members refit
    on all rows (unless it has a second layer), and the best single trial bagged and
    refit; a refit only when the time granted for refits allows it. The single trial
    carries the model's training distributions, so a served one monitors drift too."""
    kind = "nested cv" if plan.method != "best" else "cv"
    alternatives = [Alternative(f"{plan.method} ({mode})", model, plan.cv_score, kind, mode)]
    spare = None if refit_s is None else REFIT_TIME_SHARE * refit_s
    if mode == "bagging" and model.base is None and (spare is None or refit_seconds(chosen, len(data.folds)) <= spare):
        refits.update({t.trial_id: refit(t.row, data) for t in chosen})
        members = [replace(m, fold_models=[refits[m.trial_id]]) for m in model.members]
        refit_model = replace(model, members=members)
        alternatives.append(Alternative(f"{plan.method} refit_full", refit_model, plan.cv_score, kind, "refit_full"))
        spare = None if spare is None else spare - refit_seconds(chosen, len(data.folds))
    bagged = replace(best_single, reference=model.reference)
    alternatives.append(Alternative("best single (bagging)", bagged, best.score, "cv", "bagging"))
    if best.trial_id in refits or spare is None or refit_seconds([best], len(data.folds)) <= spare:
        single = refits.get(best.trial_id) or refit(best.row, data)
        alone = replace(bagged, members=[replace(bagged.members[0], fold_models=[single])])
        alternatives.append(Alternative("best single refit_full", alone, best.score, "cv", "refit_full"))
    return alternatives


def _reference(data: TrialData) -> dict[str, Any]:
    """The training distributions a saved model carries for drift monitoring."""
    kinds: dict[str, str] = {c.name: c.kind for c in data.schema.columns}
    return {
        "features": feature_reference(data.X, kinds),
        "target": target_reference(data.y, data.schema.task, data.n_classes),
        "example": data.X.head(1).copy(),  # a known-good row for health checks
    }


def _members_mode(requested: str, chosen: list[ScoredTrial], time_left_s: float | None, n_folds: int) -> str:
    """bagging or refit_full: `requested` unless auto, which refits when the time left allows."""
    if requested in ("refit", "refit_full"):
        return "refit_full"
    if requested != "auto":
        return requested
    if time_left_s is None:
        return "bagging"
    return "refit_full" if refit_seconds(chosen, n_folds) <= REFIT_TIME_SHARE * time_left_s else "bagging"


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
