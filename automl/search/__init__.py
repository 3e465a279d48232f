"""Ray Tune + Optuna search over model families and their hyperparameters."""

from automl.search.runner import SearchResult, SearchSettings, TrialRow, run_search
from automl.search.trial import TrialData, TrialOutcome, evaluate_config

__all__ = [
    "SearchResult",
    "SearchSettings",
    "TrialData",
    "TrialOutcome",
    "TrialRow",
    "evaluate_config",
    "run_search",
]
