"""A three-node Ray cluster on this machine (head + 2 one-CPU workers) for the chaos tests.

The head has no CPUs, so every trial runs on a worker node that a test may take away;
the driver, its trial store and the object holding the data stay on the head.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest
from ray.cluster_utils import Cluster


@pytest.fixture
def cluster():
    temp_dir = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # short: Ray's socket paths must fit
    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={"num_cpus": 0, "temp_dir": temp_dir, "include_dashboard": False},
    )
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        yield cluster
    finally:
        cluster.shutdown()  # stops the processes it started, by their ids
        shutil.rmtree(temp_dir, ignore_errors=True)
