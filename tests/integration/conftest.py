"""One real local Ray instance for the whole integration session (2 CPUs, like CI)."""

from __future__ import annotations

import pytest
import ray


@pytest.fixture(scope="session")
def ray_instance():
    # "local": a new instance, never a cluster that `ray start` left running on the machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
