"""Ensembles over trials' out-of-fold predictions, and the model shape they produce."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Candidate": "automl.ensemble.builder",
    "EnsemblePlan": "automl.ensemble.builder",
    "pick_candidates": "automl.ensemble.builder",
    "plan_ensemble": "automl.ensemble.builder",
    "Member": "automl.ensemble.predictor",
    "TabularModel": "automl.ensemble.predictor",
    "full_probabilities": "automl.ensemble.predictor",
    "Selection": "automl.ensemble.selection",
    "select_ensemble": "automl.ensemble.selection",
    "Stacker": "automl.ensemble.stacking",
    "fit_stacker": "automl.ensemble.stacking",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Imported on first use: Ray workers import this package, and the whole
    # library (Optuna, the Tuner, the CLI) would cost them a second at start.
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
