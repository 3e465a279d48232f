"""Every private part of a third-party library we touch, each with a fallback that logs.

A private attribute can move in any release. Each use is named here, checked against
the versions it was read from (`TESTED`, matching the upper bounds in pyproject), and
given a fallback that keeps the job correct, only slower, with one log line saying so.
`tests/unit/test_compat.py` fails when an installed version no longer has one of them.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, MutableMapping
from importlib import metadata
from typing import Any

logger = logging.getLogger("automl.compat")

#: library -> (first version read, first version not read); pyproject's bounds match
TESTED = {"ray": ("2.40", "2.61"), "scikit-learn": ("1.9", "1.10")}


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = re.match(r"\d*", piece).group()  # type: ignore[union-attr]
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) < len(piece):  # a pre-release tag ends the release number
            break
    return tuple(parts)


def tested(library: str) -> bool:
    """Whether the installed `library` is within the versions its internals were read from."""
    low, high = TESTED[library]
    try:
        installed = _release(metadata.version(library))
    except metadata.PackageNotFoundError:
        return False
    return _release(low) <= installed < _release(high)


@functools.cache
def _fallback(what: str, consequence: str) -> None:
    """Log once per process that an internal was not found."""
    logger.warning("%s not found in this version; %s", what, consequence)


def _internal(getter: Callable[[], Any], what: str, consequence: str) -> Any:
    try:
        return getter()
    except (ImportError, AttributeError, TypeError):
        _fallback(what, consequence)
        return None


# Ray Tune -----------------------------------------------------------------------------
def tune_actor_env_defaults() -> MutableMapping[str, str] | None:
    """The environment variables Tune gives each trial actor's runtime environment
    (`ray.tune.execution.class_cache.DEFAULT_ENV_VARS`), or None where it is not found."""

    def get() -> MutableMapping[str, str]:
        from ray.tune.execution import class_cache

        defaults = class_cache.DEFAULT_ENV_VARS
        if not isinstance(defaults, MutableMapping):
            raise TypeError(type(defaults))
        return defaults

    return _internal(
        get,
        "ray.tune.execution.class_cache.DEFAULT_ENV_VARS",
        "trial actors start on new workers rather than the idle preloaded ones (slower first results)",
    )


# scikit-learn -------------------------------------------------------------------------
def infrequent_enabled(encoder: Any) -> bool:
    """Whether a fitted OneHotEncoder / OrdinalEncoder groups infrequent categories
    (its private `_infrequent_enabled`); where not found, judged from its public settings."""
    value = _internal(
        lambda: encoder._infrequent_enabled,
        f"{type(encoder).__name__}._infrequent_enabled",
        "judged from max_categories and min_frequency",
    )
    if isinstance(value, bool):
        return value
    return getattr(encoder, "max_categories", None) is not None or getattr(encoder, "min_frequency", None) is not None


#: the method HistGradientBoosting's fit calls once to build its loss, whose gradients are
#: then computed once per boosting round: wrapping it puts the fit clock in every round
HGB_LOSS_FACTORY = "_get_loss"


@functools.cache  # a fact of the installed scikit-learn: asked once per process, not per fit
def hgb_loss_factory_present() -> bool:
    """Whether scikit-learn's histogram gradient boosting still builds its loss through
    `HGB_LOSS_FACTORY`; without it, the fit clock is checked only before each fit."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    present = callable(getattr(HistGradientBoostingClassifier, HGB_LOSS_FACTORY, None))
    if not present:
        _fallback(
            f"HistGradientBoosting.{HGB_LOSS_FACTORY}", "its fits are stopped by the time limit only between fits"
        )
    return present
