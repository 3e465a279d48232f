"""The registry of model families: key -> family. A new family is one `register` line."""

from __future__ import annotations

from automl.errors import SpecError
from automl.models.base import ModelFamily
from automl.models.catboost import CatBoost
from automl.models.extra_trees import ExtraTrees
from automl.models.hist_gradient_boosting import HistGradientBoosting
from automl.models.knn import KNearestNeighbors
from automl.models.lightgbm import LightGBM
from automl.models.linear import Linear
from automl.models.mlp import NeuralNetwork
from automl.models.random_forest import RandomForest
from automl.models.xgboost import XGBoost

_FAMILIES: dict[str, ModelFamily] = {}


def register(family: ModelFamily) -> ModelFamily:
    """Add a family; a key that is already taken is refused rather than silently replaced."""
    if family.key in _FAMILIES:
        raise ValueError(f"model family {family.key!r} is already registered")
    _FAMILIES[family.key] = family
    return family


def unregister(key: str) -> None:
    """Remove a family (for plug-ins and tests that add their own)."""
    _FAMILIES.pop(key, None)


def get_family(key: str) -> ModelFamily:
    """The family registered under `key`.

    Raises:
        SpecError: unknown key; the message lists the registered ones.
    """
    try:
        return _FAMILIES[key]
    except KeyError:
        raise SpecError(f"unknown model family {key!r}; choose from {', '.join(_FAMILIES)}") from None


def family_keys() -> list[str]:
    """Registered keys, in the order default configurations are tried (cheapest first)."""
    return list(_FAMILIES)


# Cheap, strong families first: their defaults give a good model within seconds.
for _family in (
    Linear(),
    HistGradientBoosting(),
    LightGBM(),
    XGBoost(),
    CatBoost(),
    RandomForest(),
    ExtraTrees(),
    KNearestNeighbors(),
    NeuralNetwork(),
):
    register(_family)
