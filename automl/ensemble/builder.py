"""Choose how the final model combines the best trials, with an honest score.

Candidates are the top trials plus the best trial of each family (diversity helps
ensembles more than a tenth near-copy of the leader). Each method is scored by nested
cross-validation over the out-of-fold rows: weights or the meta-learner are learned on
the other folds and scored on the held-out one. Picking the best single trial is scored
the same way, and an ensemble is kept only when it beats that; otherwise the best single
trial is used and the plan says why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from automl.data.splits import Folds
from automl.ensemble.selection import DEFAULT_ROUNDS, select_ensemble
from automl.ensemble.stacking import cross_validated_stacking, fit_stacker
from automl.evaluation.metrics import Metric
from automl.pipeline.stacker import Stacker, make_meta_learner

NESTED_FOLDS = 5
# A time-limited ensemble keeps at least this many rows, and then at least this many rounds.
MIN_SUBSAMPLE_ROWS = 2_000
MIN_ROUNDS = 5
ENSEMBLE_MIN_S = 0.2
STACKING_TIMING_ROWS = 2_000


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
    """
    n_classes = 0 if task == "regression" else int(candidates[0].out_of_fold.shape[1])
    rows = validated_rows_of(candidates[0].out_of_fold)
    best = candidates[0]
    plan = EnsemblePlan(
        method="best", requested=method, trial_ids=[best.trial_id], weights=[1.0],
        cv_score=best.score, best_single_nested_score=float("nan"), nested_scores={},
    )  # fmt: skip
    scaled = ""
    rounds = DEFAULT_ROUNDS
    if time_limit_s is not None and method != "best" and len(candidates) > 1:
        rows, rounds, scaled = _fit_to_time(rows, y, candidates, metric, task, method, seed, time_limit_s)
    y_rows = y[rows]
    too_few = _too_few_for_nested(y_rows, task)
    if too_few:
        plan.reason = f"the best single trial is used: {too_few}"
        return plan
    parts = [np.asarray(c.out_of_fold[rows], dtype=np.float64) for c in candidates]
    splits = _nested_splits(y_rows, task, seed)
    try:
        single = _nested_single(parts, y_rows, splits, metric, n_classes)
    except ValueError as exc:  # a metric undefined on some nested fold
        plan.reason = f"the best single trial is used: no nested score ({exc})"
        return plan
    plan.best_single_nested_score = single
    plan.nested_scores = {"best": single}
    if method == "best" or len(candidates) < 2:
        plan.reason = "the best single trial was asked for" if method == "best" else "only one candidate trial"
        return plan

    try:
        if method == "selection":
            fold_scores = []
            for train, valid in splits:
                weights = select_ensemble([p[train] for p in parts], y_rows[train], metric, n_classes, rounds).weights
                fold_scores.append(metric(y_rows[valid], _blend(parts, weights, valid), n_classes))
            nested = float(np.mean(fold_scores))
            weights = select_ensemble(parts, y_rows, metric, n_classes, rounds).weights
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
    except ValueError as exc:
        if method not in ("selection", "stacking"):
            raise
        plan.reason = f"the best single trial is used: {method} could not be scored ({exc})"
        return plan

    plan.nested_scores[method] = nested
    if metric.is_better(nested, single):
        return EnsemblePlan(
            method=method, requested=method, trial_ids=trial_ids, weights=final_weights, cv_score=nested,
            best_single_nested_score=single, nested_scores=plan.nested_scores, stacker=stacker,
            reason=f"{method} scored {nested:.6g} against {single:.6g} for the best single trial (nested CV){scaled}",
        )  # fmt: skip
    plan.reason = (
        f"{method} scored {nested:.6g}, not better than {single:.6g} for the best single trial (nested CV): "
        f"the best single trial is used{scaled}"
    )
    return plan


def ensemble_seconds(
    *, n_rows: int, n_classes: int, n_candidates: int, metric: Metric, method: str, cap_s: float
) -> float:
    """The ensemble step's share of the budget: its estimated cost on this table, at most
    `cap_s` (beyond it the step works on fewer rows and rounds), at least `ENSEMBLE_MIN_S`."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, max(n_classes, 2), n_rows) if n_classes else rng.normal(size=n_rows)
    part = rng.dirichlet(np.ones(n_classes), n_rows) if n_classes else rng.normal(size=n_rows)
    full = _method_cost(method, [part] * min(n_candidates, 2), y, metric, n_classes, n_candidates)
    return max(ENSEMBLE_MIN_S, min(full, cap_s))


def validated_rows(folds: Folds) -> np.ndarray:
    """The rows some fold validates (all of them for k-fold; the holdout part otherwise)."""
    return np.unique(np.concatenate([valid for _, valid in folds.splits]))


def validated_rows_of(out_of_fold: np.ndarray) -> np.ndarray:
    flat = out_of_fold if out_of_fold.ndim == 1 else out_of_fold[:, 0]
    return np.flatnonzero(~np.isnan(flat))


def _method_cost(
    method: str,
    parts: list[np.ndarray],
    y: np.ndarray,
    metric: Metric,
    n_classes: int,
    n_candidates: int,
    rounds: int = DEFAULT_ROUNDS,
) -> float:
    """Seconds the method takes on these rows: metric calls (selection) or meta-learner
    fits (stacking), timed on the rows, times how many the method makes."""
    start = time.perf_counter()
    try:
        metric(y, parts[0], n_classes)
    except ValueError:
        pass
    per_call = time.perf_counter() - start
    single = n_candidates * (NESTED_FOLDS + 1) * per_call
    if method == "selection":
        # each round scores every candidate on every nested training part (4/5 of the
        # rows) and once on all rows
        return single + rounds * n_candidates * (NESTED_FOLDS * (NESTED_FOLDS - 1) / NESTED_FOLDS + 1) * per_call
    if method == "stacking":
        sample = min(len(y), STACKING_TIMING_ROWS)
        width = max(n_classes - (n_classes == 2), 1)
        features = np.tile(
            np.asarray(parts[0][:sample], dtype=np.float64).reshape(sample, -1)[:, :width], (1, n_candidates)
        )
        start = time.perf_counter()
        try:
            make_meta_learner("regression" if not n_classes else "binary", 0).fit(features, y[:sample])
        except ValueError:
            pass
        per_fit = (time.perf_counter() - start) * len(y) / sample
        return single + (NESTED_FOLDS + 1) * per_fit
    return single


def _fit_to_time(
    rows: np.ndarray,
    y: np.ndarray,
    candidates: list[Candidate],
    metric: Metric,
    task: str,
    method: str,
    seed: int,
    time_limit_s: float,
) -> tuple[np.ndarray, int, str]:
    """Rows and rounds that fit the ensemble into `time_limit_s`, and a note when scaled."""
    n_classes = 0 if task == "regression" else int(candidates[0].out_of_fold.shape[1])
    part = np.asarray(candidates[0].out_of_fold[rows], dtype=np.float64)
    cost = _method_cost(method, [part], y[rows], metric, n_classes, len(candidates))
    if cost <= time_limit_s:
        return rows, DEFAULT_ROUNDS, ""
    n_total = len(rows)
    n_keep = max(min(n_total, MIN_SUBSAMPLE_ROWS), int(n_total * time_limit_s / cost))
    if n_keep < n_total:
        rows = _subsample(rows, y, n_keep, seed, task != "regression")
    cost_now = cost * len(rows) / n_total  # the row floor may still cost too much: fewer rounds
    rounds = (
        DEFAULT_ROUNDS if cost_now <= time_limit_s else max(MIN_ROUNDS, int(DEFAULT_ROUNDS * time_limit_s / cost_now))
    )
    note = f" (on {len(rows):,} sampled rows, {rounds} rounds, to fit its {time_limit_s:.1f}s share of the budget)"
    return rows, rounds, note


def _subsample(rows: np.ndarray, y: np.ndarray, n: int, seed: int, stratify: bool) -> np.ndarray:
    """`n` of `rows`, seeded, every class in its share (at least two rows of each)."""
    rng = np.random.default_rng(seed)
    if not stratify:
        return np.sort(rng.choice(rows, size=n, replace=False))
    chosen = []
    labels = y[rows]
    for label in np.unique(labels):
        members = rows[labels == label]
        take = min(len(members), max(2, round(n * len(members) / len(rows))))
        chosen.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(chosen))


def _nested_single(
    parts: list[np.ndarray], y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]], metric: Metric, n_classes: int
) -> float:
    """Nested score of picking the best single candidate on the other folds."""
    scores = []
    for train, valid in splits:
        inner = [metric(y[train], p[train], n_classes) for p in parts]
        pick = _best(inner, metric)
        scores.append(metric(y[valid], parts[pick][valid], n_classes))
    return float(np.mean(scores))


def _too_few_for_nested(y: np.ndarray, task: str) -> str | None:
    if len(y) < 2 * 2:
        return f"{len(y)} validated rows are too few for a nested score"
    if task == "regression":
        return None
    counts = np.bincount(y)
    present = counts[counts > 0]
    if len(present) < 2 or present.min() < 2:
        return "a class has fewer than 2 validated rows: too few for a nested score"
    return None


def _blend(parts: list[np.ndarray], weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return sum(w * p[rows] for w, p in zip(weights, parts, strict=True) if w > 0)  # type: ignore[return-value]


def _best(scores: list[float], metric: Metric) -> int:
    best = 0
    for i, score in enumerate(scores):
        if metric.is_better(score, scores[best]):
            best = i
    return best


def _nested_splits(y: np.ndarray, task: str, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified for classes, with no more folds than the rarest class has rows, so that
    every nested validation fold holds every class."""
    if task == "regression":
        return list(KFold(n_splits=NESTED_FOLDS, shuffle=True, random_state=seed + 1).split(np.zeros(len(y)), y))
    counts = np.bincount(y)
    k = int(min(NESTED_FOLDS, counts[counts > 0].min()))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed + 1)
    return list(splitter.split(np.zeros(len(y)), y))
