"""The final model judged on rows it never trained on: metrics beside a dummy baseline,
calibration, the confusion matrix or residuals, fairness per sensitive group, robustness
under perturbation and on the worst slices, and permutation importance.

Every number is computed from `FoldPredictor`s: a model and the rows it did not train on
(one predictor over a whole test table, or one per validation split). The costly parts
(robustness, importance) run on a seeded subsample of at most `max_rows` rows, stop at
the deadline, and say so in the record's notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from automl.evaluation.assessment.calibration import calibration
from automl.evaluation.assessment.fairness import fairness
from automl.evaluation.assessment.importance import permutation_importance
from automl.evaluation.assessment.perturbations import Perturber
from automl.evaluation.assessment.predictions import FoldPredictor, predict_out_of_fold, sample_folds
from automl.evaluation.assessment.robustness import robustness, worst_slices
from automl.evaluation.assessment.scores import baseline_prediction, confusion, metric_names, residuals, score_table
from automl.evaluation.assessment.scoring import Scorer
from automl.evaluation.metrics import get_metric


def evaluate(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    task: str,
    classes: Sequence[Any] | None,
    metric: str,
    folds: Sequence[FoldPredictor],
    source: str,
    sensitive: pd.DataFrame | None = None,
    noise_rates: Sequence[float] = (0.1, 0.3),
    missing_rates: Sequence[float] = (0.1, 0.3),
    positive_index: int = 1,
    seed: int = 0,
    max_rows: int = 5_000,
    deadline: float | None = None,
) -> dict[str, Any]:
    """The evaluation record (plain JSON values), as `summary.json` and the report hold it.

    Args:
        X: the features the predictors take, positions 0..n-1 (its index is ignored).
        y: the encoded target: class indices into `classes`, or regression values.
        task: "binary", "multiclass" or "regression".
        classes: the class labels in the order of the predictors' probability columns.
        metric: the job's metric (a registry name).
        folds: predictors with the rows they never trained on; a row listed twice is
            scored by the first.
        source: "test" or "out_of_fold", recorded as it is.
        sensitive: columns to assess fairness by, aligned with `X` by position.
        noise_rates, missing_rates: the robustness check's perturbation rates.
        positive_index: a binary task's positive class, its column in the probabilities.
        seed: for the subsample, the perturbations and the shuffles.
        max_rows: robustness and importance run on a subsample of at most this many rows.
        deadline: a `time.time()` value past which the costly parts stop, with a note.

    Returns:
        A dict with `source`, `n_rows`, `metric`, `metrics`, `baseline`, `calibration`,
        `confusion`, `residuals`, `fairness`, `robustness`, `importance`, `subsample`
        and `notes` (what was left out and why).
    """
    X = X.reset_index(drop=True)
    y = np.asarray(y)
    notes: list[str] = []
    labels = list(classes or [])
    n_classes = 0 if task == "regression" else len(labels)
    flip = task == "binary" and positive_index == 0
    if flip:  # the metrics read the positive class from column 1
        y = 1 - y.astype(np.int64)
    job_metric = get_metric(metric)
    scorer = Scorer(job_metric, n_classes, notes)
    record: dict[str, Any] = {"source": source, "n_rows": 0, "metric": job_metric.name, "notes": notes}
    oof = predict_out_of_fold(X, folds, task=task, n_classes=n_classes, flip=flip, notes=notes)
    rows = oof.rows
    if len(rows) == 0:
        notes.append("no row could be predicted: nothing was evaluated")
        return record
    y_rows, predicted = y[rows], oof.prediction[rows]
    names = metric_names(task, job_metric.name)
    record["n_rows"] = len(rows)
    record["metrics"] = score_table(names, y_rows, predicted, scorer, "on the evaluated rows")
    baseline_scorer = Scorer(job_metric, n_classes, [])  # a baseline's undefined metric needs no note
    record["baseline"] = score_table(
        names, y_rows, baseline_prediction(y_rows, task, n_classes), baseline_scorer, "baseline"
    )
    if task == "regression":
        record["residuals"] = residuals(y_rows, predicted, np.random.default_rng(seed))
    else:
        record["calibration"] = calibration(y_rows, predicted, n_classes)
        record["confusion"] = confusion(y_rows, predicted, labels, flip)
    if sensitive is not None and len(sensitive.columns):
        groups = sensitive.reset_index(drop=True).iloc[rows].reset_index(drop=True)
        record["fairness"] = fairness(groups, y_rows, predicted, task=task, scorer=scorer, notes=notes)

    rng = np.random.default_rng(seed)
    sampled = sample_folds(oof.folds, max_rows, rng)
    n_sampled = sum(len(f.rows) for f in sampled)
    if n_sampled < len(rows):
        record["subsample"] = {"rows": n_sampled, "of": len(rows), "seed": seed}
        notes.append(
            f"robustness and importance were computed on a seeded subsample of {n_sampled} of {len(rows)} rows"
        )
    order = np.concatenate([f.rows for f in sampled])
    y_sampled, clean = y[order], oof.prediction[order]
    checked = robustness(
        X, y_sampled, clean, sampled, scorer, Perturber.of(X.iloc[rows]),
        noise_rates=noise_rates, missing_rates=missing_rates, rng=rng, deadline=deadline, notes=notes,
    )  # fmt: skip
    checked["worst_slices"] = worst_slices(X.iloc[rows].reset_index(drop=True), y_rows, predicted, scorer, notes)
    record["robustness"] = checked
    record["importance"] = permutation_importance(
        X, y_sampled, clean, sampled, scorer, rng, deadline=deadline, notes=notes
    )
    return record


__all__ = ["FoldPredictor", "evaluate"]
