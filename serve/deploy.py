"""Deploy a model directory as a Ray Serve application (the `automl serve` command)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from automl.artifacts.store import verify
from automl.compat import haproxy_binary_found, pinned_version
from automl.errors import ArtifactError, SpecError, first_line, validation_message
from serve.config import Rollout, ServeConfig
from serve.haproxy_binds import HOST_ENV

#: the module a Ray started for HAProxy ingress preloads in its workers (`serve.haproxy_binds`)
HAPROXY_PRELOAD = ("serve.haproxy_binds",)

HAPROXY_FLAG = "RAY_SERVE_ENABLE_HA_PROXY"
_HAPROXY_PORTS = ("RAY_SERVE_HAPROXY_STATS_PORT", "RAY_SERVE_HAPROXY_METRICS_PORT")
_DRAIN = "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"
# A removed replica keeps serving this long so load balancers can drop it. Serve's default
# (30 s) is for remote balancers; HAProxy on the same machine reloads within a second.
_HAPROXY_DRAIN_S = "5"
# Autoscaling reads ongoing requests this often and averages them over this window: shorter
# than Serve's defaults (10 s, 30 s), so the replica count follows load within seconds, on
# the scale of upscale_delay_s.
_AUTOSCALING_METRICS_INTERVAL_S = 1.0
_AUTOSCALING_LOOK_BACK_S = 5.0
# How often Serve calls a replica's check_health (one prediction of a known row): Serve's default.
_HEALTH_CHECK_PERIOD_S = 10.0


def ingress_environment(config: ServeConfig) -> dict[str, str]:
    """Environment variables that select `config.ingress`; they must be set before Ray starts.

    Serve reads its ingress mode once, when its controller and proxies start. HAProxy mode
    puts HAProxy in front and lets each replica serve HTTP itself, which saves every
    request the hop through Serve's proxy actor (README and benchmarks/serve_load.py have
    the figures). HAProxy's stats page and Prometheus exporter listen on fixed ports
    unless set: we pick free ones, so two instances on one machine do not collide; and
    on `config.host`, where Ray 2.60 would put them on every interface, once the Ray's
    workers preload `HAPROXY_PRELOAD`.
    """
    if config.ingress == "proxy":
        return {}
    env = {HAPROXY_FLAG: "1", HOST_ENV: config.host}
    for name in _HAPROXY_PORTS:
        env[name] = os.environ.get(name) or str(_free_port())
    env[_DRAIN] = os.environ.get(_DRAIN) or _HAPROXY_DRAIN_S
    return env


def chosen_ingress(config: ServeConfig, joins_cluster: bool) -> ServeConfig:
    """`config` with `auto` ingress resolved: HAProxy for a Ray started for it where a
    binary is found, Serve's proxy on a running cluster (which chose when it started).

    Raises:
        SpecError: haproxy asked for on a running cluster.
    """
    if config.ingress == "haproxy" and joins_cluster:
        raise SpecError(
            "--ingress haproxy applies to the Ray that automl serve starts; a cluster chooses its ingress "
            f"when it starts ({HAPROXY_FLAG}=1 ray start ...)"
        )
    if config.ingress != "auto":
        return config
    haproxy = not joins_cluster and haproxy_binary_found()
    return config.model_copy(update={"ingress": "haproxy" if haproxy else "proxy"})


#: HAProxy's side ports are picked from here: above Ray's worker ports (10002-19999) and
#: below the kernel's ephemeral range, from which Ray's processes take ports while HAProxy
#: starts (a free ephemeral port picked now can be taken before HAProxy binds it)
SIDE_PORT_LOW = 20_000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _free_port() -> int:
    """A port free now, outside the ephemeral range where the OS could hand it to another
    process before HAProxy binds it (the ephemeral range itself if nothing else is free)."""
    try:
        ephemeral_low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32_768
    candidates = list(range(SIDE_PORT_LOW, max(SIDE_PORT_LOW, ephemeral_low)))
    random.shuffle(candidates)  # two instances starting at once rarely try the same port
    for port in [*candidates[:200], 0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


# Replicas run our handlers on Serve's own event loop rather than on a second loop in a
# thread of their own: each request then skips two hops between threads, which shows in
# both throughput and a lone request's latency (benchmarks/serve_load.py). It is safe
# because our handlers never block for long: a batch's model call is a few milliseconds.
REPLICA_ENV = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0"}


def replica_logging(config: ServeConfig) -> dict[str, object]:
    """Serve's logging config for the replicas.

    Serve writes each request's access-log record and then filters it out when the access
    log is off; at WARNING it stops before building the record, which saves CPU on every
    request.
    """
    return {"enable_access_log": config.access_log, "log_level": "INFO" if config.access_log else "WARNING"}


def deploy(
    model_dir: str | Path,
    config: ServeConfig | None = None,
    *,
    challenger: str | Path | None = None,
    mode: str = "canary",
    share: float = 0.0,
) -> str:
    """Serve `model_dir` on the running Ray; return the endpoint's base URL.

    With a `challenger`, a `canary` gives it `share` of the requests, and a `shadow`
    has it answer every request's rows beside the champion, logged and not returned.

    Redeploying under the same `config.name` with the same config and new models (a
    promotion, a rollback, a canary's start or end) swaps the models in the running
    replicas (`ModelServer.reconfigure`); with another config, Serve rolls the replicas
    over (new ones start before old ones stop). Either way no request fails.

    Raises:
        ArtifactError: an artifact is missing, incomplete or tampered with.
        SpecError: the serving configuration is invalid (for example an unreadable token file).
    """
    from ray import serve

    from serve.app import ModelServer

    config = config or ServeConfig()
    if config.ingress == "haproxy" and os.environ.get(HAPROXY_FLAG) != "1":
        raise SpecError(
            f"ingress haproxy is chosen when Ray starts: set {HAPROXY_FLAG}=1 before ray.init or ray start "
            "(automl serve does this for the Ray it starts)"
        )
    directories = [Path(d).resolve() for d in (model_dir, challenger) if d is not None]
    for directory in directories:
        verify(directory)  # fail here, with one line, rather than in every replica
    try:
        rollout = Rollout(
            champion=str(directories[0]),
            challenger=str(directories[1]) if challenger is not None else None,
            mode=mode,  # type: ignore[arg-type]  # checked by the model
            share=share,
        )
    except ValidationError as exc:
        raise SpecError(validation_message(exc, "invalid rollout")) from None
    try:
        token = config.token_sha256()
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    serve.start(http_options={"host": config.host, "port": config.port})
    # mypy keeps a decorated class's own type: @serve.deployment made ModelServer a Deployment
    server = pinned_version(cast(serve.Deployment, ModelServer), _replica_version(config, token))
    application = server.options(
        name=config.name,
        user_config=rollout.model_dump(),
        autoscaling_config=_autoscaling(config),
        max_ongoing_requests=config.max_ongoing_requests,
        max_queued_requests=config.max_queued_requests,
        ray_actor_options={"num_cpus": config.cpus_per_replica, "runtime_env": {"env_vars": REPLICA_ENV}},
        health_check_period_s=_HEALTH_CHECK_PERIOD_S,
        logging_config=replica_logging(config),
    ).bind(config.model_dump(), token)
    serve.run(application, name=config.name, route_prefix=config.route_prefix)
    return f"http://{config.host}:{config.port}{config.route_prefix.rstrip('/')}"


def _replica_version(config: ServeConfig, token: str | None) -> str:
    """What a replica is built from besides its models: the serving config, the token's
    hash and the serving code. Replicas of one version take new models in place."""
    import serve.app

    code = Path(serve.app.__file__).read_bytes() + Path(__file__).read_bytes()
    described = json.dumps({"config": config.model_dump(), "token": token}, sort_keys=True).encode()
    return hashlib.sha256(described + code).hexdigest()[:16]


def _autoscaling(config: ServeConfig) -> dict[str, Any]:
    return {
        "min_replicas": config.min_replicas,
        "max_replicas": config.max_replicas,
        "target_ongoing_requests": config.target_ongoing_requests,
        "upscale_delay_s": config.upscale_delay_s,
        "downscale_delay_s": config.downscale_delay_s,
        "metrics_interval_s": _AUTOSCALING_METRICS_INTERVAL_S,
        "look_back_period_s": _AUTOSCALING_LOOK_BACK_S,
    }


def load_config(path: str | Path | None, **overrides: object) -> ServeConfig:
    """A serving config from a YAML / JSON file (optional) and flag overrides (None: unset)."""
    import yaml

    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SpecError(f"cannot read serving config {path}: {first_line(exc)}") from None
        if not isinstance(raw, dict):
            raise SpecError(f"serving config {path} must hold a mapping of keys")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ServeConfig(**raw)
    except ValidationError as exc:
        raise SpecError(validation_message(exc, "invalid serving config")) from None


__all__ = [
    "HAPROXY_PRELOAD",
    "REPLICA_ENV",
    "ArtifactError",
    "chosen_ingress",
    "deploy",
    "ingress_environment",
    "load_config",
    "replica_logging",
]
