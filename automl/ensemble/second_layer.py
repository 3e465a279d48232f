"""A second stacking layer: models of the best families trained again on the table's
features plus the first layer's out-of-fold predictions (`pipeline.layers`).

AutoGluon's ablations attribute much of its lead to multi-layer stacking. The second
layer's configurations are the best trial's of each of the best families, cross-validated
on the job's own folds with the first layer's out-of-fold predictions as more columns, and
then combined as the first layer is (`plan_ensemble`). The job keeps it only when its
nested score beats the first layer's. Out-of-fold predictions of other rows carry a little
of each row's own target into its second-layer training rows (stacking's known leakage),
so that score is slightly optimistic; a held-out test table shows the truth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from automl.budget import Budget
from automl.ensemble.scored import ScoredTrial
from automl.pipeline.layers import layer_schema, with_layer_columns
from automl.pipeline.trial import TrialData, TrialRow, evaluate_config, join_config

#: the first-layer trials whose predictions become the second layer's extra columns
BASE_TRIALS = 5
#: second-layer configurations: the best trial's of each of this many best families
SECOND_LAYER_FAMILIES = 3
#: budgets from this long on set time aside for a second layer
SECOND_LAYER_MIN_BUDGET_S = 120.0
#: ... this share of the budget
SECOND_LAYER_SHARE = 0.1
#: a second-layer configuration starts only if its first-layer time, times this, fits
SECOND_LAYER_SAFETY = 1.5
#: a second-layer trial's id is the first-layer trial's id after this
ID_PREFIX = "layer2:"


def reserve_second_layer(budget: Budget, n_splits: int) -> None:
    """Set the second layer's share aside when the budget is long enough and folds are used."""
    total = float(budget.total_s or 0.0)
    if budget.limited and n_splits > 1 and total >= SECOND_LAYER_MIN_BUDGET_S:
        budget.reserve("layer2", SECOND_LAYER_SHARE * total)


@dataclass
class SecondLayer:
    """The second layer's trials (scored on the first layer's folds) and its base."""

    base: list[ScoredTrial]
    trials: list[ScoredTrial]


def fit_second_layer(ranked: list[ScoredTrial], data: TrialData, time_limit_s: float | None) -> SecondLayer | None:
    """Cross-validate the second layer within `time_limit_s` (None: no limit); None when
    there is no room for it (a holdout split, one trial, nothing finished in time)."""
    if len(data.folds) < 2 or len(ranked) < 2:
        return None
    started = time.monotonic()
    base = ranked[:BASE_TRIALS]
    X = with_layer_columns(data.X, [b.out_of_fold for b in base], data.schema.task, data.n_classes)
    schema = layer_schema(data.schema, len(base), data.n_classes)
    deadline = None if time_limit_s is None else time.time() + time_limit_s
    second = replace(data, X=X, schema=schema, deadline=deadline, max_trial_s=None, floor_config=None)
    firsts: list[ScoredTrial] = []
    for trial in ranked:
        if trial.row.family not in {f.row.family for f in firsts}:
            firsts.append(trial)
        if len(firsts) == SECOND_LAYER_FAMILIES:
            break
    trials = []
    for first in firsts:
        elapsed = time.monotonic() - started
        if time_limit_s is not None and elapsed + SECOND_LAYER_SAFETY * first.outcome.fit_s > time_limit_s:
            continue
        outcome = evaluate_config(join_config(first.row.family, first.row.params), second)
        if outcome.ok and outcome.out_of_fold is not None:
            row = TrialRow.of(ID_PREFIX + first.trial_id, outcome)
            trials.append(ScoredTrial(row, outcome, outcome.out_of_fold))
    return SecondLayer(base, trials) if trials else None
