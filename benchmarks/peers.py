"""Fit one peer AutoML system on one split and score it as `quality.py` scores ours.

Runs in the peers' own virtual environment (AutoGluon 1.6 pins an older Ray than ours),
one process per fit, started by `quality.py --peers`:

    ~/peers/bin/python benchmarks/peers.py SYSTEM TRAIN TEST TARGET TASK METRIC BUDGET_S OUT.json

SYSTEM is `flaml`, `autogluon_medium` (AutoGluon's default preset, medium_quality) or
`autogluon_best` (best_quality). Each gets the same training rows, time budget and 2
CPUs as our `automl fit`. The scores are computed here with the same rules: binary AUC on
the second class in sorted order, multiclass log loss with the classes sorted, RMSE.
Only the standard library, NumPy, pandas and scikit-learn are used beside the peer.
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
        if task == "regression":
            return np.asarray(predictor.predict(features), dtype=float), []
        classes = sorted(train[target].unique())
        proba = predictor.predict_proba(features)
        return proba[classes].to_numpy(dtype=float), classes


def fit_flaml(train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, metric: str, budget: float):
    from flaml import AutoML

    automl = AutoML()
    X, y = train.drop(columns=[target]), train[target]
    flaml_task = "regression" if task == "regression" else "classification"
    automl.fit(X, y, task=flaml_task, time_budget=budget, metric=metric, n_jobs=CPUS, verbose=0, seed=0)
    features = test.drop(columns=[target])
    if task == "regression":
        return np.asarray(automl.predict(features), dtype=float), []
    classes = sorted(y.unique())
    proba = pd.DataFrame(automl.predict_proba(features), columns=list(automl.classes_))
    return proba[classes].to_numpy(dtype=float), classes


def main() -> None:
    system, train_path, test_path, target, task, metric, budget_s, out = sys.argv[1:9]
    budget = float(budget_s)
    train, test = pd.read_parquet(train_path), pd.read_parquet(test_path)
    row: dict = {"system": system, "metric": metric, "budget_s": budget}
    started = time.monotonic()
    try:
        if system == "flaml":
            prediction, classes = fit_flaml(train, test, target, task, metric, budget)
        elif system in ("autogluon_medium", "autogluon_best"):
            preset = "medium_quality" if system == "autogluon_medium" else "best_quality"
            prediction, classes = fit_autogluon(train, test, target, task, metric, budget, preset)
        else:
            raise SystemExit(f"unknown peer {system!r}")
        row["score"] = score(prediction, classes, test, target, task, metric)
    except Exception as exc:  # a peer's failure is a result of the benchmark, as ours is
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    row["fit_predict_s"] = round(time.monotonic() - started, 1)
    Path(out).write_text(json.dumps(row))


if __name__ == "__main__":
    main()
