"""Ray Tune + Optuna search over model families and their hyperparameters."""

from __future__ import annotations

from automl._lazy import lazy_getattr

_EXPORTS = {
    "SearchResult": "automl.search.runner",
    "SearchSettings": "automl.search.runner",
    "TrialLedger": "automl.search.ledger",
    "run_search": "automl.search.runner",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
