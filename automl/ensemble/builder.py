"""Choose how the final model combines the best trials, with an honest score.

Candidates are the top trials plus the best trial of each family (diversity helps
ensembles more than a tenth near-copy of the leader). Each method is scored by nested
cross-validation over the out-of-fold rows: weights or the meta-learner are learned on
the other folds and scored on the held-out one. Picking the best single trial is scored
the same way, and an ensemble is kept only when it beats that; otherwise the best single
trial is used and the plan says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from automl.data.splits import Folds
from automl.ensemble.cost import ENSEMBLE_MIN_S, Scaled, ensemble_seconds, fit_to_time
from automl.ensemble.nested import (
    MethodScore,
    NestedCV,
    nested_best_single,
    nested_cv,
    nested_selection,
    nested_stacking,
    too_few_for_nested,
)
from automl.evaluation.metrics import Metric
from automl.pipeline.stacker import Stacker

__all__ = [
    "ENSEMBLE_MIN_S",
    "Candidate",
    "EnsemblePlan",
    "ensemble_seconds",
    "pick_candidates",
    "plan_ensemble",
    "validated_rows",
    "validated_rows_of",
]

METHODS = ("selection", "stacking", "best")


@dataclass(frozen=True)
class Candidate:
    """A trial the ensemble may use: its CV score and out-of-fold predictions (NaN on rows
    no fold validated)."""

    trial_id: str
    family: str
    score: float  # the trial's CV score
    out_of_fold: np.ndarray


@dataclass
class EnsemblePlan:
    """Which candidates the final model uses, with what weights, and how well it scores."""

    method: str  # what the final model does: selection | stacking | best
    requested: str
    trial_ids: list[str]
    weights: list[float]
    cv_score: float  # honest (nested) score of the method used
    best_single_nested_score: float
    nested_scores: dict[str, float] = field(default_factory=dict)
    stacker: Stacker | None = None
    reason: str = ""


def pick_candidates(ranked: list[Candidate], top_k: int) -> list[Candidate]:
    """The `top_k` best candidates plus the best of every other family (input best-first)."""
    chosen = list(ranked[:top_k])
    families = {c.family for c in chosen}
    for candidate in ranked[top_k:]:
        if candidate.family not in families:
            chosen.append(candidate)
            families.add(candidate.family)
    return chosen


def plan_ensemble(
    candidates: list[Candidate],
    y: np.ndarray,
    metric: Metric,
    task: str,
    method: str,
    seed: int = 0,
    time_limit_s: float | None = None,
) -> EnsemblePlan:
    """Score the requested method against the best single trial; return the plan to use.

    Args:
        candidates: best first; out-of-fold predictions over the same rows as `y`.
        y: encoded targets.
        metric: the job's metric.
        task: binary, multiclass or regression.
        method: selection, stacking or best.
        seed: seeds the nested folds and the meta-learner.
        time_limit_s: the step's share of the budget: past its estimated cost, the
            ensemble is learnt on a subsample of the rows and in fewer rounds (the plan's
            reason says so). None: no limit.

    Raises:
        ValueError: `method` is none of the above.
    """
    if method not in METHODS:
        raise ValueError(f"unknown ensemble method {method!r}; choose one of {', '.join(METHODS)}")
    best = candidates[0]
    n_classes = 0 if task == "regression" else int(best.out_of_fold.shape[1])
    plan = EnsemblePlan(
        method="best", requested=method, trial_ids=[best.trial_id], weights=[1.0],
        cv_score=best.score, best_single_nested_score=float("nan"),
    )  # fmt: skip
    scaled = Scaled(validated_rows_of(best.out_of_fold))
    if time_limit_s is not None and method != "best" and len(candidates) > 1:
        scaled = fit_to_time(
            scaled.rows, y, best.out_of_fold, n_candidates=len(candidates), metric=metric,
            n_classes=n_classes, method=method, seed=seed, time_limit_s=time_limit_s,
        )  # fmt: skip
    y_rows = y[scaled.rows]
    too_few = too_few_for_nested(y_rows, task)
    if too_few:
        return _keep_best(plan, too_few)
    cv = nested_cv(y_rows, metric, task, n_classes, seed)
    parts = [np.asarray(c.out_of_fold[scaled.rows], dtype=np.float64) for c in candidates]
    try:
        single = nested_best_single(parts, cv)
    except ValueError as exc:  # a metric undefined on some nested fold
        return _keep_best(plan, f"no nested score ({exc})")
    plan.best_single_nested_score = single
    plan.nested_scores = {"best": single}
    if method == "best" or len(candidates) < 2:
        plan.reason = "the best single trial was asked for" if method == "best" else "only one candidate trial"
        return plan
    return _against_best_single(plan, parts, [c.trial_id for c in candidates], cv, scaled)


def validated_rows(folds: Folds) -> np.ndarray:
    """The rows some fold validates (all of them for k-fold; the holdout part otherwise)."""
    return np.unique(np.concatenate([valid for _, valid in folds.splits]))


def validated_rows_of(out_of_fold: np.ndarray) -> np.ndarray:
    """The rows a trial's out-of-fold predictions cover (NaN marks the others)."""
    flat = out_of_fold if out_of_fold.ndim == 1 else out_of_fold[:, 0]
    return np.flatnonzero(~np.isnan(flat))


def _keep_best(plan: EnsemblePlan, why: str) -> EnsemblePlan:
    plan.reason = f"the best single trial is used: {why}"
    return plan


def _score_method(method: str, parts: list[np.ndarray], trial_ids: list[str], cv: NestedCV, rounds: int) -> MethodScore:
    """The nested score and final weights of selection or stacking (ValueError: it could not
    be scored)."""
    if method == "selection":
        return nested_selection(parts, trial_ids, cv, rounds)
    return nested_stacking(parts, trial_ids, cv)


def _against_best_single(
    plan: EnsemblePlan, parts: list[np.ndarray], trial_ids: list[str], cv: NestedCV, scaled: Scaled
) -> EnsemblePlan:
    """The requested method's plan if its nested score beats the best single trial's,
    else `plan` (the best single trial) with the reason."""
    method = plan.requested
    try:
        scored = _score_method(method, parts, trial_ids, cv, scaled.rounds)
    except ValueError as exc:
        return _keep_best(plan, f"{method} could not be scored ({exc})")
    nested, single = scored.nested_score, plan.best_single_nested_score
    plan.nested_scores[method] = nested
    if not cv.metric.is_better(nested, single):
        plan.reason = (
            f"{method} scored {nested:.6g}, not better than {single:.6g} for the best single trial (nested CV): "
            f"the best single trial is used{scaled.note}"
        )
        return plan
    return EnsemblePlan(
        method=method, requested=method, trial_ids=scored.trial_ids, weights=scored.weights, cv_score=nested,
        best_single_nested_score=single, nested_scores=plan.nested_scores, stacker=scored.stacker,
        reason=f"{method} scored {nested:.6g} against {single:.6g} for the best single trial (nested CV){scaled.note}",
    )  # fmt: skip
