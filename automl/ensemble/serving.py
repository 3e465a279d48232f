"""The final model for serving: the fastest of the final models within a score tolerance.

A bagged ensemble predicts every row through members x folds pipelines; for a served
endpoint the same members refit once on all rows, or the best single trial alone, may
answer several times faster for a score that differs in the fourth digit. With
`ensemble.for_serving` the job times each alternative on single rows and keeps the
fastest whose score is within `score_tolerance` (relative) of the best score among them.

A refit model's score is its bagged form's: each fold model, like each refit member, is
one fit of the configuration, and the out-of-fold score is what it reached on rows it did
not see. What the refit gives up is the fold bag's averaging, which no out-of-fold score
measures; the summary says so, and `benchmarks/inference.py` measures it on held-out rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from automl.ensemble.inference import inference_cost
from automl.evaluation.metrics import Metric
from automl.pipeline.model import TabularModel


@dataclass
class Alternative:
    """One final model the job could save, with its score and its measured cost."""

    name: str
    model: TabularModel
    score: float
    score_kind: str
    final_members: str  # bagging | refit_full
    single_row_ms: float = 0.0
    batch_ms_per_row: float = 0.0

    def summary(self) -> dict[str, float | str]:
        return {
            "name": self.name,
            "score": self.score,
            "score_kind": self.score_kind,
            "final_members": self.final_members,
            "single_row_ms": round(self.single_row_ms, 4),
            "batch_ms_per_row": round(self.batch_ms_per_row, 5),
        }


def within_tolerance(score: float, best: float, metric: Metric, tolerance: float) -> bool:
    """Whether `score` gives up at most `tolerance` of `best` (relative to its size)."""
    if not metric.is_better(best, score):
        return True
    return abs(best - score) <= tolerance * max(abs(best), 1e-12)


def fastest_within(
    alternatives: list[Alternative],
    metric: Metric,
    tolerance: float,
    sample: pd.DataFrame,
    time_left: Callable[[], float] | None = None,
) -> tuple[Alternative, list[Alternative]]:
    """The fastest alternative (single-row median, then batch) whose score is within
    `tolerance` of the best one's, and those timed, in order. Timing stops early when
    `time_left` (seconds) runs out: the untimed ones are neither chosen nor returned."""
    best = alternatives[0].score
    for alternative in alternatives:
        if metric.is_better(alternative.score, best):
            best = alternative.score
    timed: list[Alternative] = []
    for alternative in alternatives:
        if timed and time_left is not None and time_left() <= 0:
            break
        cost = inference_cost(alternative.model, sample)
        alternative.single_row_ms, alternative.batch_ms_per_row = cost["single_row_ms"], cost["batch_ms_per_row"]
        timed.append(alternative)
    eligible = [a for a in timed if within_tolerance(a.score, best, metric, tolerance)] or timed[:1]
    chosen = min(eligible, key=lambda a: (a.single_row_ms, a.batch_ms_per_row))
    return chosen, timed
