"""Ensembles over trials' out-of-fold predictions: selection, stacking, the final model."""

from __future__ import annotations

from automl._lazy import lazy_getattr

_EXPORTS = {
    "Candidate": "automl.ensemble.builder",
    "EnsemblePlan": "automl.ensemble.builder",
    "pick_candidates": "automl.ensemble.builder",
    "plan_ensemble": "automl.ensemble.builder",
    "Selection": "automl.ensemble.selection",
    "select_ensemble": "automl.ensemble.selection",
    "fit_stacker": "automl.ensemble.stacking",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
