"""The Ray a job runs on: the running one, a cluster's, or an embedded local instance."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from automl.errors import SpecError, first_line

# Modules a new local Ray's worker processes import as they start, before work arrives:
# Ray starts a worker per CPU as the driver connects, and the trial store's actor and
# Tune's trial actors take them ready-made (see `search.tuner.trial_actors_on_idle_workers`)
# instead of waiting for new workers and their imports. Ray reads the setting only when
# it starts, so only a Ray a job starts has it.
WORKER_PRELOAD = ("automl.search.worker",)


def new_local_cpus(address: str | None = None, num_cpus: int | None = None) -> int | None:
    """The CPUs of the local instance `ray_session(address, num_cpus)` would start; None
    when it would use the running Ray or join a cluster (whose CPUs only Ray knows)."""
    import ray

    if ray.is_initialized() or not _starts_local(address):
        return None
    return num_cpus or os.cpu_count() or 1


def _starts_local(address: str | None) -> bool:
    # in a Ray job (RAY_ADDRESS set), join its cluster
    return address == "local" or (address is None and not os.environ.get("RAY_ADDRESS"))


@contextlib.contextmanager
def ray_session(
    address: str | None = None, num_cpus: int | None = None, preload: tuple[str, ...] = ()
) -> Iterator[None]:
    """Use the running Ray, connect to `address`, or start an embedded local instance
    ("local": always a new one, never a cluster that `ray start` left running).

    A local instance's workers import `preload` as they start (a search passes
    `WORKER_PRELOAD`). Only a Ray instance started here is shut down here.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    if _starts_local(address):
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
        if preload:
            kwargs["_system_config"] = {"preload_python_modules": list(preload)}
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = address or "a new local instance"
        raise SpecError(f"cannot start or reach Ray at {where}: {first_line(exc)}") from None
    try:
        yield
    finally:
        ray.shutdown()
