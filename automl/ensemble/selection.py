"""Caruana ensemble selection: greedy forward selection with replacement.

Starting from nothing, repeatedly add (again, if it helps) the candidate whose addition
makes the averaged out-of-fold prediction score best; weights are how often each was
picked. Learned only from out-of-fold predictions, so no member ever saw the rows it is
judged on (Caruana et al., 2004; the default of AutoGluon and auto-sklearn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automl.evaluation.metrics import Metric

# Picks made by default: the best-scoring prefix of the picks is kept, so rounds past the
# point where the score levels off cost time, not quality.
DEFAULT_ROUNDS = 40


@dataclass(frozen=True)
class Selection:
    """Weights over the candidates (summing to 1) and the in-sample score they reach."""

    weights: np.ndarray
    score: float


def select_ensemble(
    predictions: list[np.ndarray],
    y: np.ndarray,
    metric: Metric,
    n_classes: int = 0,
    rounds: int = DEFAULT_ROUNDS,
) -> Selection:
    """Greedy selection with replacement over candidates' out-of-fold predictions.

    Args:
        predictions: one array per candidate, (n,) values or (n, k) probabilities.
        y: encoded targets for the same rows.
        metric: the job's metric (direction included).
        n_classes: number of classes (0 for regression).
        rounds: how many picks; the best-scoring prefix of the picks is kept.

    Raises:
        ValueError: the metric is undefined on these rows (it raised, or every blend of
            some round scored NaN).
    """
    stacked = np.stack([np.asarray(p, dtype=np.float64) for p in predictions])
    counts = np.zeros(len(predictions), dtype=int)
    total = np.zeros_like(stacked[0])
    best_counts, best_score = counts.copy(), np.nan
    for size in range(1, rounds + 1):
        scores = [metric(y, (total + candidate) / size, n_classes) for candidate in stacked]
        pick = metric.best_index(scores)  # ties: the earlier candidate, as they come best-first
        counts[pick] += 1
        total += stacked[pick]
        if metric.is_better(scores[pick], best_score):
            best_score, best_counts = scores[pick], counts.copy()
    return Selection(weights=best_counts / best_counts.sum(), score=float(best_score))
