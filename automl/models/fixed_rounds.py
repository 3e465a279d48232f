"""A boosting family without early stopping: its round count becomes a searched
hyperparameter again, as it was before the families stopped early.

A strategy comparison switches early stopping off by default, so that each strategy
meets the whole space (rounds included) cold; `fixed_rounds` gives such a family.
"""

from __future__ import annotations

from typing import Any

from automl.models.base import DEFAULT_ROUNDS, ROUNDS_PARAM, ModelFamily, Suggester, n_estimators_cap

#: the fewest rounds a fixed-rounds configuration may take
MIN_ROUNDS = 50

SUFFIX = "FixedRounds"


class _FixedRounds:
    """Mixed in before an early-stopping family's class: rounds are searched, not stopped."""

    early_stopping = False

    def search_space(self, trial: Suggester, n_rows: int, task: str) -> None:
        super().search_space(trial, n_rows, task)  # type: ignore[misc]
        trial.suggest_int(ROUNDS_PARAM, MIN_ROUNDS, n_estimators_cap(n_rows), log=True)

    def default_params(self, n_rows: int, task: str) -> dict[str, Any]:
        return {**super().default_params(n_rows, task), ROUNDS_PARAM: DEFAULT_ROUNDS}  # type: ignore[misc]


def fixed_rounds(family: ModelFamily) -> ModelFamily:
    """`family` itself if it does not stop early; else the same family with its rounds searched."""
    if not family.early_stopping:
        return family
    return _variant(type(family))()


def _variant(cls: type[ModelFamily]) -> type[ModelFamily]:
    """The fixed-rounds subclass of `cls`, made once and kept as a module attribute, so
    that pickle finds it by name (the trials' data and fold models are pickled)."""
    name = cls.__name__ + SUFFIX
    if name not in globals():
        globals()[name] = type(name, (_FixedRounds, cls), {"__module__": __name__, "__qualname__": name})
    variant: type[ModelFamily] = globals()[name]
    return variant


def __getattr__(name: str) -> Any:
    """A variant another process made, for pickle to load here: made again from the
    registered family of that name."""
    from automl.models import registry

    if name.endswith(SUFFIX):
        for key in registry.family_keys():
            cls = type(registry.get_family(key))
            if cls.__name__ + SUFFIX == name:
                return _variant(cls)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
