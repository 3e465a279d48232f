"""Ensembles over trials' out-of-fold predictions, and the model shape they produce."""

from automl.ensemble.predictor import Member, TabularModel, full_probabilities

__all__ = ["Member", "TabularModel", "full_probabilities"]
