"""The model registry (MLflow): named models, versions, champion and challenger aliases."""

from automl.registry.store import CHALLENGER, CHAMPION, REGISTRY_ENV, ModelRegistry, RegisteredVersion

__all__ = ["CHALLENGER", "CHAMPION", "REGISTRY_ENV", "ModelRegistry", "RegisteredVersion"]
