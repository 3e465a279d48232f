"""The trials an ensemble can use, as typed records with their results known present.

The search hands over every trial as a `TrialRow`, whose outcome is missing for trials
that never reported. Converting once, here, lets the rest of the ensemble read scores and
out-of-fold predictions without checking for None again.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from automl.ensemble.builder import Candidate
from automl.errors import SearchError
from automl.evaluation.metrics import Metric
from automl.pipeline.model import Member
from automl.pipeline.trial import TrialOutcome, TrialRow, TrialStatus

# Distinct failure messages quoted when no trial finished: enough to show a pattern.
QUOTED_FAILURES = 3


@dataclass(frozen=True)
class ScoredTrial:
    """A trial scored on every fold whose out-of-fold predictions the search kept."""

    row: TrialRow
    outcome: TrialOutcome
    out_of_fold: np.ndarray  # NaN on rows no fold validated

    @property
    def trial_id(self) -> str:
        return self.row.trial_id

    @property
    def score(self) -> float:
        return self.outcome.score

    def candidate(self) -> Candidate:
        return Candidate(self.row.trial_id, self.row.family, self.outcome.score, self.out_of_fold)

    def repeated(self, repeat: Any) -> ScoredTrial:
        """This trial with a repeated bagging's averaged out-of-fold predictions and score
        (`final.Repeated`)."""
        outcome = replace(self.outcome, score=repeat.score, out_of_fold=repeat.out_of_fold)
        return ScoredTrial(replace(self.row, outcome=outcome), outcome, repeat.out_of_fold)

    def member(self, fold_models: list[Pipeline]) -> Member:
        return Member(self.row.trial_id, self.row.family, self.row.params, fold_models)


def ranked_trials(trials: Iterable[TrialRow], kept: Container[str], metric: Metric) -> list[ScoredTrial]:
    """The done trials whose fold models are among `kept`, best first (ties: start order).

    Raises:
        SearchError: there is none; the message quotes the failures.
    """
    trials = list(trials)
    scored = [s for s in (_scored(row) for row in trials if row.trial_id in kept) if s is not None]
    if not scored:
        raise _nothing_finished(trials)
    return sorted(scored, key=lambda s: s.score, reverse=metric.greater_is_better)


def _scored(row: TrialRow) -> ScoredTrial | None:
    outcome = row.outcome
    if row.status is not TrialStatus.DONE or outcome is None or outcome.out_of_fold is None:
        return None
    return ScoredTrial(row, outcome, outcome.out_of_fold)


def _nothing_finished(trials: list[TrialRow]) -> SearchError:
    reasons = sorted({r.error for r in trials if r.error})
    detail = f" Failures: {'; '.join(reasons[:QUOTED_FAILURES])}" if reasons else ""
    return SearchError(
        f"no trial finished within the budget ({len(trials)} started); raise --time-budget or --max-trials.{detail}"
    )
