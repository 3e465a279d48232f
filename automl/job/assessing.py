"""The evaluation step of a job: the final model judged on rows it never trained on.

On a test table when the spec gives one; otherwise on out-of-fold predictions: for each
validation split, the final model's members as fitted on that split's training rows
predict its validation rows, so no training row is scored by a model that saw it. The
perturbations of the robustness check and of permutation importance are applied to those
same rows, through the same per-split models.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from automl.budget import Budget
from automl.data.coercion import coerce_features
from automl.data.target import encode_known
from automl.evaluation.assessment import FoldPredictor, evaluate
from automl.job.preparation import Prepared
from automl.pipeline.model import Member, TabularModel
from automl.spec import JobSpec

#: the share of a time budget kept for the evaluation and the report
EVALUATION_SHARE = 0.05


def reserve_evaluation(budget: Budget, spec: JobSpec) -> None:
    """Keep `EVALUATION_SHARE` of a time budget for evaluating the final model."""
    if budget.limited and spec.evaluation.enabled:
        budget.reserve("evaluate", EVALUATION_SHARE * float(budget.total_s or 0.0))


def assess(
    model: TabularModel,
    prepared: Prepared,
    spec: JobSpec,
    budget: Budget,
    *,
    fold_models: Mapping[str, list[Pipeline]],
    test: pd.DataFrame | None = None,
) -> dict[str, Any] | None:
    """The final model's evaluation (`automl.evaluation.assessment.evaluate`'s record), or
    None when the spec turns it off. `fold_models` are the search's, by trial id: what a
    member refit on all rows is evaluated through, split by split."""
    if not spec.evaluation.enabled:
        return None
    schema = prepared.schema
    deadline = time.time() + budget.grant("evaluate") if budget.limited else None
    common: dict[str, Any] = {
        "task": schema.task,
        "classes": schema.classes,
        "metric": prepared.metric.name,
        "noise_rates": spec.evaluation.robustness.noise,
        "missing_rates": spec.evaluation.robustness.missing,
        "positive_index": 1,  # `order_classes` puts a binary task's positive class last
        "seed": spec.search.seed,
        "max_rows": spec.evaluation.max_rows,
        "deadline": deadline,
    }
    sensitive_columns = spec.evaluation.sensitive_features
    if test is not None:
        X, y, sensitive = _test_rows(test, prepared, sensitive_columns)
        predictors = [FoldPredictor(rows=np.arange(len(X)), predict=model.predict_features)]
        return evaluate(X, y, folds=predictors, source="test", sensitive=sensitive, **common)
    data = prepared.data
    predictors = []
    for k, (_, valid) in enumerate(data.folds.splits):
        view = fold_view(model, k, len(data.folds), fold_models)
        if view is None:
            return {"source": "out_of_fold", "notes": ["no per-split models of the final model: not evaluated"]}
        predictors.append(FoldPredictor(rows=np.asarray(valid), predict=view.predict_features))
    return evaluate(
        data.X.reset_index(drop=True), data.y, folds=predictors, source="out_of_fold", sensitive=prepared.sensitive,
        **common,
    )  # fmt: skip


def fold_view(
    model: TabularModel, split: int, n_splits: int, fold_models: Mapping[str, list[Pipeline]]
) -> TabularModel | None:
    """The final model as fitted on split `split`'s training rows: each member (and each
    first-layer member) keeps only that split's fold model. A member refit on all rows is
    taken from the search's fold models of its trial. None when a member has no such model."""

    def at_split(member: Member) -> Member | None:
        models = member.fold_models
        if len(models) < n_splits:
            models = fold_models[member.trial_id] if member.trial_id in fold_models else []
        if len(models) < n_splits:
            return None
        return replace(member, fold_models=[models[split]], compiled=None)

    members = [at_split(m) for m in model.members]
    base = None if model.base is None else [at_split(m) for m in model.base]
    if any(m is None for m in members) or (base is not None and any(m is None for m in base)):
        return None
    return replace(
        model,
        members=[m for m in members if m is not None],
        base=None if base is None else [m for m in base if m is not None],
    )


def _test_rows(
    test: pd.DataFrame, prepared: Prepared, sensitive: list[str]
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame | None]:
    """The test table's rows with a target the model knows: features, encoded target and
    the sensitive columns."""
    schema = prepared.schema
    test = test[test[schema.target].notna()].reset_index(drop=True)
    if schema.task == "regression":
        y = pd.to_numeric(test[schema.target], errors="coerce").to_numpy(dtype=np.float64)
        keep = np.isfinite(y)
    else:
        y = encode_known(test[schema.target], schema)
        keep = y >= 0
    test = test[keep].reset_index(drop=True)
    X = coerce_features(test, schema).reset_index(drop=True)
    groups = test[sensitive].reset_index(drop=True) if sensitive else None
    return X, y[keep], groups


__all__ = ["EVALUATION_SHARE", "assess", "fold_view", "reserve_evaluation"]
