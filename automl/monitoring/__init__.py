"""Maintenance: drift statistics against the training reference."""

from automl.monitoring.drift import DriftTracker, feature_reference, psi, target_reference

__all__ = ["DriftTracker", "feature_reference", "psi", "target_reference"]
