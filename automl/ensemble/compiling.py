"""Compiling a final model's tree ensembles (`models.compiled_trees`) before it is saved.

Each fold model of a random forest, extra trees, histogram boosting, XGBoost or LightGBM
member gets its Treelite form, checked against the library's predictions on the job's sample rows as
that model sees them. Compiling runs inside the job's budget: it stops when `time_left`
runs out, and a fold model left uncompiled predicts through its library as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd

from automl.budget import Budget
from automl.data.coercion import feature_arrays
from automl.models.compiled_trees import CompiledTrees, compilable, compile_trees
from automl.pipeline.layers import with_layer_columns
from automl.pipeline.model import Member, TabularModel
from automl.pipeline.shared import SharedBatch, shareable

#: rows of the job's sample each fold model is checked and timed on
COMPILE_ROWS = 256
#: the share of a job's time budget kept for compiling, after the ensemble and any refit
COMPILE_SHARE = 0.03


def reserve_compile(budget: Budget) -> None:
    """Keep `COMPILE_SHARE` of a time budget for compiling the final model."""
    if budget.limited:
        budget.reserve("compile", COMPILE_SHARE * float(budget.total_s or 0.0))


def compile_deadline(budget: Budget) -> Callable[[], float] | None:
    """Seconds left for compiling, as a clock: what is spare, and at least the step's own
    share even when the steps before it ran over (a search's last trials stop late): a
    served model's forests answer a row in a fraction of a millisecond instead of tens."""
    if not budget.limited:
        return None
    share = budget.reserved.get("compile", 0.0)
    ends = time.monotonic() + max(budget.grant("compile"), share)
    return lambda: ends - time.monotonic()


#: the order members are compiled in while time lasts: where Treelite gains most first
#: (a forest's row: 60-80 ms through scikit-learn, 0.2 ms through Treelite)
_GAIN_ORDER = ("random_forest", "extra_trees", "hist_gradient_boosting", "xgboost", "lightgbm")


def _by_gain(members: list[Member]) -> list[Member]:
    rank = {family: index for index, family in enumerate(_GAIN_ORDER)}
    return sorted(members, key=lambda member: rank.get(member.family, len(rank)))


@dataclass
class Compiled:
    """What compiling did: fold models compiled; those left to their library because Treelite
    did not read them, predicted otherwise or was no faster; those left for lack of time."""

    compiled: int = 0
    refused: int = 0
    skipped: int = 0
    seconds: float = 0.0
    families: list[str] = field(default_factory=list)

    def note(self) -> str | None:
        if not (self.compiled or self.refused or self.skipped):
            return None
        parts = [f"compiled {self.compiled} tree model(s) with Treelite ({', '.join(sorted(set(self.families)))})"]
        if self.refused:
            parts.append(f"{self.refused} left to their library (not read, not equal or no faster)")
        if self.skipped:
            parts.append(f"{self.skipped} left to their library for lack of time")
        return "prediction: " + "; ".join(parts) + f" ({self.seconds:.1f} s)"


def compile_models(
    models: Iterable[TabularModel], sample: pd.DataFrame, time_left: Callable[[], float] | None = None
) -> Compiled:
    """Give each tree-ensemble fold model of `models` its Treelite form, in place (members
    shared between models are compiled once)."""
    started = time.perf_counter()
    report = Compiled()
    done: dict[int, CompiledTrees | None] = {}
    for model in models:
        X = feature_arrays(sample.head(COMPILE_ROWS), model.schema)
        n_classes = len(model.classes or [])
        if model.base:
            rows = SharedBatch(X)
            _compile_members(model.base, rows, done, report, time_left)
            first = [member.predict_raw(X, model.task, n_classes, rows) for member in model.base]
            X = with_layer_columns(X, first, model.task, n_classes)
        _compile_members(model.members, SharedBatch(X), done, report, time_left)
    report.seconds = time.perf_counter() - started
    return report


def _compile_members(
    members: list[Member],
    rows: SharedBatch,
    done: dict[int, CompiledTrees | None],
    report: Compiled,
    time_left: Callable[[], float] | None,
) -> None:
    """Compile each member's fold models; the first compiled fold's timing decides for the
    others (one configuration: the same speeds), so the rest are only checked for equality."""
    for member in _by_gain(members):
        compiled = list(member.compiled or [None] * len(member.fold_models))
        decided: int | None = None
        for index, pipeline in enumerate(member.fold_models):
            estimator = pipeline.steps[-1][1] if shareable(pipeline) else None
            if not compilable(estimator):
                continue
            if id(estimator) not in done:
                if time_left is not None and time_left() <= 0:
                    report.skipped += 1
                    continue
                found = done[id(estimator)] = compile_trees(estimator, rows.transformed(pipeline), max_rows=decided)
                if decided is None and found is not None:
                    decided = found.max_rows
                if found is None:
                    report.refused += 1
                else:
                    report.compiled += 1
                    report.families.append(member.family)
            compiled[index] = done[id(estimator)]
        if any(c is not None for c in compiled):
            member.compiled = compiled
