"""A job's run directory into the model registry: the model, with the run's parameters,
scores, leaderboard and report logged beside it in MLflow tracking."""

from __future__ import annotations

import json
from pathlib import Path

from automl.registry import ModelRegistry, RegisteredVersion

#: summary.json keys logged as the MLflow run's parameters and metrics
PARAMS = ("task", "metric", "strategy", "best_model", "ensemble_method", "time_budget_s", "n_rows", "n_features")
METRICS = ("best_cv_score", "ensemble_cv_score", "test_score", "n_trials", "n_failed", "wall_s")
FILES = ("summary.json", "leaderboard.csv", "report.html", "job.yaml")  # job.yaml: what a retrain repeats
MODEL_DIR = "model"  # a run directory's artifact (`job.outputs.write_run_dir`)


def register_run(registry: ModelRegistry, directory: str | Path, name: str) -> RegisteredVersion:
    """Register `directory`'s model as the next version of `name`: a run directory (its
    `model/`, with the summary's settings and scores and its leaderboard and report
    logged), or a model directory on its own.

    Raises:
        ArtifactError: the model cannot be trusted (checksums, signature).
        SpecError: a name the registry refuses.
    """
    directory = Path(directory)
    model = directory / MODEL_DIR
    if not model.is_dir():  # a model directory itself
        return registry.register(directory, name)
    summary_path = directory / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    params = {key: summary[key] for key in PARAMS if summary.get(key) is not None}
    metrics = {key: float(summary[key]) for key in METRICS if isinstance(summary.get(key), (int, float))}
    files = [directory / f for f in FILES if (directory / f).is_file()]
    return registry.register(model, name, params=params, metrics=metrics, files=files)


__all__ = ["register_run"]
