"""Members refit once on all rows: one pipeline each at predict time instead of a fold bag."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.pipeline import Pipeline

from automl.data.splits import HOLDOUT_FRACTION
from automl.ensemble.scored import ScoredTrial
from automl.pipeline.trial import TrialData, TrialRow, build_pipeline, fold_weights


def all_rows_scale(n_folds: int) -> float:
    """A fit on all rows over one fold's fit, taking fit time as proportional to rows: a
    fold trains on (k-1)/k of them, a holdout's training part on 1 - its share."""
    return n_folds / (n_folds - 1) if n_folds > 1 else 1.0 / (1.0 - HOLDOUT_FRACTION)


def refit_seconds(chosen: Sequence[ScoredTrial], n_folds: int) -> float:
    """What refitting `chosen` on all rows is expected to take, from their fold fits."""
    scale = all_rows_scale(n_folds)
    return sum(t.outcome.fit_s / max(len(t.outcome.fold_scores), 1) * scale for t in chosen)


def refit(row: TrialRow, data: TrialData) -> Pipeline:
    """The trial's own pipeline, fitted on every row; an early-stopping family's with the
    mean of its folds' best round counts (scaled by the rows, as its folds' were fewer)."""
    family = data.families[row.family]
    params = row.params
    rounds = row.outcome.rounds if row.outcome is not None else ()
    if family.early_stopping and rounds:
        params = family.with_rounds(params, round(float(np.mean(rounds)) * all_rows_scale(len(data.folds))))
    weights = fold_weights(data, params, slice(None))
    keywords = {} if weights is None else {"model__sample_weight": weights}
    return build_pipeline(family, params, data.schema, data.seed, data.n_threads).fit(data.X, data.y, **keywords)
