"""Fit one peer AutoML system on one split and score it as `quality.py` scores ours.

Runs in the peers' own virtual environment (AutoGluon 1.6 pins an older Ray than ours),
one process per fit, started by `quality.py --peers`:

    ~/peers/bin/python benchmarks/peers.py SYSTEM TRAIN TEST TARGET TASK METRIC BUDGET_S OUT.json

SYSTEM is `flaml`, `autogluon_medium` (AutoGluon's default preset, medium_quality) or
`autogluon_best` (best_quality). Each gets the same training rows, time budget and 2
CPUs as our `automl fit`. The scores are computed here with the same rules: binary AUC on
the second class in sorted order, multiclass log loss with the classes sorted, RMSE.
Each fitted peer's predictions are also timed in-process (`time_predictions`: a batch of
1,000 rows and single rows) for `inference.py`. Only the standard library, NumPy, pandas
and scikit-learn are used beside the peer.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

CPUS = 2
#: rows in the timed batch, and the most single-row calls timed (or seconds spent on them)
BATCH_ROWS, SINGLE_CALLS, SINGLE_S = 1000, 200, 5.0


def time_predictions(predict, features: pd.DataFrame) -> dict:
    """Milliseconds in-process: a batch of `BATCH_ROWS` rows (the test rows repeated; the
    median of 3 calls), and one row (the median of up to `SINGLE_CALLS` calls, each on
    the next test row, within `SINGLE_S`)."""
    batch = pd.concat([features] * (BATCH_ROWS // len(features) + 1), ignore_index=True).head(BATCH_ROWS)
    predict(batch.head(5))  # first-call set-up is not a prediction's cost
    batches = []
    for _ in range(3):
        started = time.perf_counter()
        predict(batch)
        batches.append(time.perf_counter() - started)
    singles: list[float] = []
    spent = time.monotonic()
    while len(singles) < SINGLE_CALLS and time.monotonic() - spent < SINGLE_S:
        row = features.iloc[[len(singles) % len(features)]]
        started = time.perf_counter()
        predict(row)
        singles.append(time.perf_counter() - started)
    return {
        "batch_ms_per_1000": round(float(np.median(batches)) * 1000 * 1000 / BATCH_ROWS, 2),
        "single_row_ms": round(float(np.median(singles)) * 1000, 3),
    }


def score(proba_or_pred: np.ndarray, classes: list, test: pd.DataFrame, target: str, task: str, metric: str) -> float:
    if task == "regression":
        return float(np.sqrt(skm.mean_squared_error(test[target].astype(float), proba_or_pred)))
    if metric == "roc_auc":
        return float(skm.roc_auc_score(test[target] == classes[1], proba_or_pred[:, 1]))
    return float(skm.log_loss(test[target], np.clip(proba_or_pred, 1e-15, 1), labels=classes))


def fit_autogluon(
    train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, metric: str, budget: float, preset: str
):
    from autogluon.tabular import TabularPredictor

    eval_metric = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "root_mean_squared_error"}[metric]
    problem = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[task]
    with tempfile.TemporaryDirectory(prefix="ag-") as path:
        predictor = TabularPredictor(
            label=target, eval_metric=eval_metric, problem_type=problem, path=path, verbosity=0
        )
        predictor.fit(train, time_limit=budget, presets=preset, num_cpus=CPUS)
        features = test.drop(columns=[target])
        predict = predictor.predict if task == "regression" else predictor.predict_proba
        timing = time_predictions(predict, features)
        if task == "regression":
            return np.asarray(predictor.predict(features), dtype=float), [], timing
        classes = sorted(train[target].unique())
        proba = predictor.predict_proba(features)
        return proba[classes].to_numpy(dtype=float), classes, timing


def fit_flaml(train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, metric: str, budget: float):
    from flaml import AutoML

    automl = AutoML()
    # LightGBM refuses feature names with JSON's special characters (spambase's "char_freq_;"):
    # the same columns under plain names
    names = {column: f"f{i}" for i, column in enumerate(train.columns.drop(target))}
    train, test = train.rename(columns=names), test.rename(columns=names)
    X, y = train.drop(columns=[target]), train[target]
    flaml_task = "regression" if task == "regression" else "classification"
    automl.fit(X, y, task=flaml_task, time_budget=budget, metric=metric, n_jobs=CPUS, verbose=0, seed=0)
    features = test.drop(columns=[target])
    timing = time_predictions(automl.predict if task == "regression" else automl.predict_proba, features)
    if task == "regression":
        return np.asarray(automl.predict(features), dtype=float), [], timing
    classes = sorted(y.unique())
    proba = pd.DataFrame(automl.predict_proba(features), columns=list(automl.classes_))
    return proba[classes].to_numpy(dtype=float), classes, timing


def main() -> None:
    system, train_path, test_path, target, task, metric, budget_s, out = sys.argv[1:9]
    budget = float(budget_s)
    train, test = pd.read_parquet(train_path), pd.read_parquet(test_path)
    row: dict = {"system": system, "metric": metric, "budget_s": budget}
    started = time.monotonic()
    try:
        if system == "flaml":
            prediction, classes, timing = fit_flaml(train, test, target, task, metric, budget)
        elif system in ("autogluon_medium", "autogluon_best"):
            preset = "medium_quality" if system == "autogluon_medium" else "best_quality"
            prediction, classes, timing = fit_autogluon(train, test, target, task, metric, budget, preset)
        else:
            raise SystemExit(f"unknown peer {system!r}")
        row["score"] = score(prediction, classes, test, target, task, metric)
        row.update(timing)
    except Exception as exc:  # a peer's failure is a result of the benchmark, as ours is
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    row["fit_predict_s"] = round(time.monotonic() - started, 1)
    Path(out).write_text(json.dumps(row))


if __name__ == "__main__":
    main()
