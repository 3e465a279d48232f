"""The model registry (MLflow): named models, versions, champion and challenger aliases."""

from automl.registry.store import (
    BETTER_TAG,
    CHALLENGER,
    CHAMPION,
    REGISTRY_ENV,
    ROLLOUT_MODES,
    ModelRegistry,
    RegisteredVersion,
    RolloutPlan,
)

__all__ = [
    "BETTER_TAG",
    "CHALLENGER",
    "CHAMPION",
    "REGISTRY_ENV",
    "ROLLOUT_MODES",
    "ModelRegistry",
    "RegisteredVersion",
    "RolloutPlan",
]
