"""Serving configuration: a validated object, from CLI flags or a YAML / JSON file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TOKEN_ENV = "AUTOML_SERVE_TOKEN"
# Batching defaults, and the placeholders of the replica's `@serve.batch` until it applies
# its config. The wait is short: a batch waits only while other requests are in flight,
# under load batches fill from what piled up during the last model call, and a longer wait
# mostly leaves the replica idle (benchmarks/serve_load.py measures a setting under load).
DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_BATCH_WAIT_TIMEOUT_S = 0.005
# How long buffered log records may wait for a write: what a killed replica can lose.
DEFAULT_LOG_FLUSH_INTERVAL_S = 30.0


class ServeConfig(BaseModel):
    """How a model is served. Bounds are checked here, once (Serve's AutoscalingConfig style)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "automl"
    host: str = "127.0.0.1"  # nothing listens beyond loopback unless asked to
    port: int = Field(default=8000, ge=0, le=65535)
    route_prefix: str = "/"
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=1, ge=1)
    target_ongoing_requests: float = Field(default=2.0, gt=0)
    upscale_delay_s: float = Field(default=3.0, ge=0)
    downscale_delay_s: float = Field(default=30.0, ge=0)
    cpus_per_replica: float = Field(default=1.0, gt=0)
    max_batch_size: int = Field(default=DEFAULT_MAX_BATCH_SIZE, ge=1)
    batch_wait_timeout_s: float = Field(
        default=DEFAULT_BATCH_WAIT_TIMEOUT_S,
        ge=0,
        description="How long a batch waits for more requests, when others are in flight.",
    )
    max_ongoing_requests: int = Field(default=64, ge=1)
    max_queued_requests: int = Field(default=256, ge=-1)
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    max_rows: int = Field(default=1000, ge=1)
    reject_extra_columns: bool = False
    token_file: str | None = None  # else the AUTOML_SERVE_TOKEN environment variable; neither: no auth
    log_dir: str | None = None  # requests, predictions and feedback as rotating Parquet files
    log_max_rows_per_file: int = Field(default=10_000, ge=1)
    log_max_files: int = Field(
        default=20,
        ge=1,
        description="the log keeps its newest files up to this many times log_max_rows_per_file rows (all replicas)",
    )
    log_flush_interval_s: float = Field(
        default=DEFAULT_LOG_FLUSH_INTERVAL_S,
        gt=0,
        description="buffered records are written at the latest this long after the last write",
    )
    hooks: list[str] = Field(default_factory=list, description="'module:Class' monitor hooks")
    ingress: Literal["auto", "proxy", "haproxy"] = Field(
        default="auto",
        description="Serve's HAProxy mode (faster; chosen when Ray starts, see ingress_environment) or its HTTP "
        "proxy. auto: HAProxy for the Ray automl serve starts, where an HAProxy binary is found; else the proxy",
    )
    access_log: bool = Field(
        default=False,
        description="Serve's per-request access log line (it costs CPU on every request; metrics and log_dir "
        "cover requests). Off, replicas log Serve's messages from WARNING up.",
    )

    @model_validator(mode="after")
    def _replica_bounds(self) -> ServeConfig:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) must be >= min_replicas ({self.min_replicas})")
        return self

    def token_sha256(self) -> str | None:
        """The bearer token's hash (replicas compare hashes: the token never travels to them)."""
        token = None
        if self.token_file:
            try:
                token = Path(self.token_file).read_text().strip()
            except OSError as exc:
                raise ValueError(f"cannot read token file {self.token_file}: {exc.strerror}") from None
            if not token:
                raise ValueError(f"token file {self.token_file} is empty")
        elif os.environ.get(TOKEN_ENV):
            token = os.environ[TOKEN_ENV].strip()
        return hashlib.sha256(token.encode()).hexdigest() if token else None


class Rollout(BaseModel):
    """Which models a deployment serves, as its Serve `user_config`: a change reaches the
    running replicas through `reconfigure`, which swaps models without restarting them.

    `canary`: the challenger answers `share` of the requests (each replica routes by a
    running credit, so the share is exact per replica, not a coin's). `shadow`: the
    champion answers every request, and the challenger's answers to the same rows are
    logged, never returned.
    """

    model_config = ConfigDict(extra="forbid")

    champion: str
    challenger: str | None = None
    mode: Literal["canary", "shadow"] = "canary"
    share: float = Field(default=0.0, ge=0, le=1, description="the challenger's share of requests (canary)")

    @model_validator(mode="after")
    def _needs_a_challenger(self) -> Rollout:
        if self.challenger is None and (self.share > 0 or self.mode == "shadow"):
            raise ValueError(f"a {self.mode} needs a challenger model")
        return self

    @property
    def splits(self) -> bool:
        """Whether any request goes to the challenger (a canary with a share)."""
        return self.challenger is not None and self.mode == "canary" and self.share > 0

    @property
    def shadows(self) -> bool:
        return self.challenger is not None and self.mode == "shadow"
