"""Ensembles over trials' out-of-fold predictions, and the model shape they produce."""

from automl.ensemble.builder import Candidate, EnsemblePlan, pick_candidates, plan_ensemble
from automl.ensemble.predictor import Member, TabularModel, full_probabilities
from automl.ensemble.selection import Selection, select_ensemble
from automl.ensemble.stacking import Stacker, fit_stacker

__all__ = [
    "Candidate",
    "EnsemblePlan",
    "Member",
    "Selection",
    "Stacker",
    "TabularModel",
    "fit_stacker",
    "full_probabilities",
    "pick_candidates",
    "plan_ensemble",
    "select_ensemble",
]
