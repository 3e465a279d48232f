"""Distributed AutoML on Ray: search, ensembles, serving.

The public surface is small: `AutoML`, the scikit-learn estimators, `JobSpec`, and the
typed errors a user can cause.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "AutoML": "automl.api",
    "AutoMLClassifier": "automl.estimators",
    "AutoMLRegressor": "automl.estimators",
    "JobSpec": "automl.spec",
    "AutoMLError": "automl.errors",
    "ArtifactError": "automl.errors",
    "DataError": "automl.errors",
    "SearchError": "automl.errors",
    "SpecError": "automl.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Imported on first use: Ray workers import this package, and the whole
    # library (Optuna, the Tuner, the CLI) would cost them a second at start.
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
