"""The run directory a job leaves: the artifact, the leaderboard, the summary, the report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from automl.artifacts.store import save_model
from automl.budget import Budget
from automl.evaluation.report import write_report
from automl.files import atomic_write
from automl.job.summary import RunSummary
from automl.pipeline.model import TabularModel
from automl.spec import JobSpec


def write_run_dir(
    directory: Path,
    model: TabularModel,
    summary: RunSummary,
    leaderboard: pd.DataFrame,
    best_single: TabularModel | None = None,
    *,
    budget: Budget | None = None,
) -> None:
    """Write the artifact first, then the tables: a crash leaves no summary without a model.

    With the job's `budget`, the summary's account and wall time include saving the models.
    """
    directory.mkdir(parents=True, exist_ok=True)
    save_model(
        model, directory / "model", extra={"cv_score": summary.ensemble_cv_score, "trained_rows": summary.n_rows}
    )
    if best_single is not None:
        save_model(best_single, directory / "best_single_model")
    if budget is not None:
        summary.account(budget)
    atomic_write(directory / "leaderboard.csv", leaderboard.to_csv(index=False))
    summary.write(directory / "summary.json")
    write_report(directory, summary.to_json_dict(), leaderboard)


def resumable_spec(spec: JobSpec, location: str) -> str:
    """The spec with absolute data paths and its output, so a resume finds them from anywhere."""
    import yaml

    raw = spec.model_dump()
    for key in ("train", "test"):
        value = raw["data"].get(key)
        if value and "://" not in value:
            raw["data"][key] = str(Path(value).resolve())
    raw["output"] = location if "://" in location else str(Path(location).resolve())
    return yaml.safe_dump(raw, sort_keys=False)
