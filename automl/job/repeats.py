"""Repeated bagging: the best trials cross-validated again on other folds.

Averaging a configuration's out-of-fold predictions over two different k-fold splits
lowers their variance, and its fold models from both splits make a bigger bag; AutoGluon's
ablations attribute much of its lead to it. It costs a second fit of every fold, so it
runs only when the budget leaves time for it after the search (`REPEAT_MIN_BUDGET_S`, a
reserved share), on the few best trials, in parallel on the job's Ray; the ensemble then
keeps the repeated trials only when its nested score improves (`build_final_model`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
from sklearn.pipeline import Pipeline

from automl.budget import Budget
from automl.data.splits import make_folds
from automl.ensemble.final import Repeated
from automl.evaluation.metrics import Metric
from automl.pipeline.trial import TrialData, TrialOutcome, TrialRow, TrialStatus, evaluate_config, join_config

#: budgets from this long on set time aside for a repeat of the best trials
REPEAT_MIN_BUDGET_S = 120.0
#: ... this share of the budget
REPEAT_SHARE = 0.1
#: the best trials repeated (the ensemble's members are mostly among them)
REPEAT_TRIALS = 4
#: a repeat starts only if its first run's time, times this, fits in what is left
REPEAT_SAFETY = 1.5


def reserve_repeats(budget: Budget, n_splits: int) -> None:
    """Set the repeats' share aside when the budget is long enough and folds are used."""
    if budget.limited and n_splits > 1 and float(budget.total_s or 0.0) >= REPEAT_MIN_BUDGET_S:
        budget.reserve("repeats", REPEAT_SHARE * float(budget.total_s or 0.0))


def repeat_best(
    rows: list[TrialRow],
    fold_models: Mapping[str, list[Pipeline]],
    data: TrialData,
    metric: Metric,
    budget: Budget,
    cpus_per_trial: float,
) -> dict[str, Repeated]:
    """Cross-validate the best trials again on folds of another seed, within the step's
    grant; return, by trial id, what the two splits give together (empty: no time, a
    holdout, or nothing finished)."""
    if "repeats" not in budget.reserved or len(data.folds) < 2:
        return {}
    import ray  # here: the job imports this module before Ray starts

    grant = budget.grant("repeats")
    deadline = time.monotonic() + grant
    done = [r for r in rows if r.status is TrialStatus.DONE and r.outcome is not None]
    done.sort(key=lambda r: r.outcome.score if r.outcome else 0.0, reverse=metric.greater_is_better)
    best = [r for r in done if r.trial_id in fold_models and r.outcome and r.outcome.out_of_fold is not None]
    best = best[:REPEAT_TRIALS]
    cpus = float(ray.cluster_resources().get("CPU", 1))
    parallel = max(1, int(cpus // cpus_per_trial))
    chosen, planned = [], 0.0
    for row in best:
        cost = REPEAT_SAFETY * (row.outcome.fit_s if row.outcome else 0.0)
        if (planned + cost) / parallel <= grant:
            chosen.append(row)
            planned += cost
    if not chosen:
        return {}
    folds = make_folds(
        data.y, classification=data.schema.task != "regression", n_folds=len(data.folds), seed=data.seed + 1
    )
    again = replace(data, folds=folds, deadline=time.time() + grant, max_trial_s=None, floor_config=None)
    shared = ray.put(again)
    task = ray.remote(num_cpus=cpus_per_trial)(_evaluate)
    pending = {task.remote(join_config(r.family, r.params), shared): r for r in chosen}
    repeated: dict[str, Repeated] = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        row = pending.pop(ready[0])
        outcome: TrialOutcome = ray.get(ready[0])
        first = row.outcome
        if not outcome.ok or outcome.out_of_fold is None or first is None or first.out_of_fold is None:
            continue
        oof = ((first.out_of_fold.astype(np.float64) + outcome.out_of_fold) / 2).astype(np.float32)
        models = [*fold_models[row.trial_id], *(outcome.fold_models or [])]
        repeated[row.trial_id] = Repeated(oof, models, metric(data.y, oof, data.n_classes))
    for ref in pending:
        ray.cancel(ref, force=True)
    return repeated


def _evaluate(config: dict, data: TrialData) -> TrialOutcome:
    from automl.search.worker import pin_threads

    pin_threads(data.n_threads)
    return evaluate_config(config, data)
