"""One AutoML job, end to end: data -> search -> final model -> run directory.

Names are imported on first use: `automl evaluate` needs `score_table`, not the search.
"""

from __future__ import annotations

from automl._lazy import lazy_getattr

_EXPORTS = {
    "FitResult": "automl.job.run",
    "fit_table": "automl.job.run",
    "resume_job": "automl.job.run",
    "run_job": "automl.job.run",
    "RunSummary": "automl.job.summary",
    "score_table": "automl.job.scoring",
    "ray_session": "automl.job.session",
    "WORKER_PRELOAD": "automl.job.session",
    "write_run_dir": "automl.job.outputs",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
