"""Model families behind a registry; one module per family."""

from automl.models.base import ModelFamily, Suggester
from automl.models.registry import family_keys, get_family, register, unregister

__all__ = ["ModelFamily", "Suggester", "family_keys", "get_family", "register", "unregister"]
