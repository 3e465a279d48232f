"""Distributed AutoML on Ray: search, ensembles, serving.

The public surface is small: `AutoML`, the scikit-learn estimators, `JobSpec`,
`benchmark_strategies` and `replay_benchmark` (search strategies compared), and the typed errors a user can cause.
"""

from __future__ import annotations

from automl._lazy import lazy_getattr

__version__ = "0.1.0"

_EXPORTS = {
    "AutoML": "automl.api",
    "benchmark_strategies": "automl.api",
    "replay_benchmark": "automl.api",
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


__getattr__ = lazy_getattr(__name__, _EXPORTS)
