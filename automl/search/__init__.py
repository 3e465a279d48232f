"""Ray Tune + Optuna search over model families and their hyperparameters."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SearchResult": "automl.search.runner",
    "SearchSettings": "automl.search.runner",
    "TrialRow": "automl.search.runner",
    "run_search": "automl.search.runner",
    "TrialData": "automl.search.trial",
    "TrialOutcome": "automl.search.trial",
    "evaluate_config": "automl.search.trial",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Imported on first use: Ray workers import this package, and the whole
    # library (Optuna, the Tuner, the CLI) would cost them a second at start.
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
