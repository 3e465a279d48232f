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
from sklearn.model_selection import KFold, StratifiedKFold

from automl.ensemble.selection import select_ensemble
from automl.ensemble.stacking import Stacker, cross_validated_stacking, fit_stacker
from automl.evaluation.metrics import Metric

NESTED_FOLDS = 5


@dataclass(frozen=True)
class Candidate:
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
) -> EnsemblePlan:
    """Score the requested method against the best single trial; return the plan to use.

    Args:
        candidates: best first; out-of-fold predictions over the same rows as `y`.
        y: encoded targets.
        metric: the job's metric.
        task: binary, multiclass or regression.
        method: selection, stacking or best.
        seed: seeds the nested folds and the meta-learner.
    """
    n_classes = 0 if task == "regression" else int(candidates[0].out_of_fold.shape[1])
    rows = _validated_rows(candidates)
    y_rows = y[rows]
    parts = [np.asarray(c.out_of_fold[rows], dtype=np.float64) for c in candidates]
    splits = _nested_splits(y_rows, task, seed)
    best = candidates[0]

    single_scores = []
    for train, valid in splits:
        inner = [metric(y_rows[train], p[train], n_classes) for p in parts]
        pick = _best(inner, metric)
        single_scores.append(metric(y_rows[valid], parts[pick][valid], n_classes))
    single = float(np.mean(single_scores))
    plan = EnsemblePlan(
        method="best", requested=method, trial_ids=[best.trial_id], weights=[1.0],
        cv_score=best.score, best_single_nested_score=single, nested_scores={"best": single},
    )  # fmt: skip
    if method == "best" or len(candidates) < 2:
        plan.reason = "the best single trial was asked for" if method == "best" else "only one candidate trial"
        return plan

    if method == "selection":
        fold_scores = []
        for train, valid in splits:
            weights = select_ensemble([p[train] for p in parts], y_rows[train], metric, n_classes).weights
            fold_scores.append(metric(y_rows[valid], _blend(parts, weights, valid), n_classes))
        nested = float(np.mean(fold_scores))
        weights = select_ensemble(parts, y_rows, metric, n_classes).weights
        keep = np.flatnonzero(weights > 0)
        trial_ids = [candidates[i].trial_id for i in keep]
        final_weights = [float(weights[i]) for i in keep]
        stacker = None
    elif method == "stacking":
        stacked = cross_validated_stacking(parts, y_rows, splits, task, n_classes, seed)
        nested = float(np.mean([metric(y_rows[v], stacked[v], n_classes) for _, v in splits]))
        trial_ids = [c.trial_id for c in candidates]
        final_weights = [1.0 / len(candidates)] * len(candidates)
        stacker = fit_stacker(parts, y_rows, task, n_classes, seed)
    else:
        raise ValueError(f"unknown ensemble method {method!r}")

    plan.nested_scores[method] = nested
    if metric.is_better(nested, single):
        return EnsemblePlan(
            method=method, requested=method, trial_ids=trial_ids, weights=final_weights, cv_score=nested,
            best_single_nested_score=single, nested_scores=plan.nested_scores, stacker=stacker,
            reason=f"{method} scored {nested:.6g} against {single:.6g} for the best single trial (nested CV)",
        )  # fmt: skip
    plan.reason = (
        f"{method} scored {nested:.6g}, not better than {single:.6g} for the best single trial (nested CV): "
        "the best single trial is used"
    )
    return plan


def _blend(parts: list[np.ndarray], weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return sum(w * p[rows] for w, p in zip(weights, parts, strict=True) if w > 0)  # type: ignore[return-value]


def _best(scores: list[float], metric: Metric) -> int:
    best = 0
    for i, score in enumerate(scores):
        if metric.is_better(score, scores[best]):
            best = i
    return best


def _validated_rows(candidates: list[Candidate]) -> np.ndarray:
    oof = candidates[0].out_of_fold
    flat = oof if oof.ndim == 1 else oof[:, 0]
    return np.flatnonzero(~np.isnan(flat))


def _nested_splits(y: np.ndarray, task: str, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    k = NESTED_FOLDS
    if task != "regression" and np.bincount(y).min() >= k:
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed + 1)
    else:
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed + 1)
    return list(splitter.split(np.zeros(len(y)), y))
