"""One AutoML job, end to end: data -> search -> final model -> run directory."""

from __future__ import annotations

from automl.job.run import FitResult, fit_table, ray_session, resume_job, run_job, score_table, write_run_dir

__all__ = ["FitResult", "fit_table", "ray_session", "resume_job", "run_job", "score_table", "write_run_dir"]
