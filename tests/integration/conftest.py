"""One real local Ray instance for the whole integration session (2 CPUs, like CI), and
what the serving tests share on it: fitted artifacts and one Ray Serve HTTP port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import ray
from tables import make_mixed_table

from automl import AutoML


@pytest.fixture(scope="session")
def ray_instance():
    # "local": a new instance, never a cluster that `ray start` left running on the machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class Fitted:
    """A saved model and the table it was fitted on. Tests read it; none may change it."""

    frame: pd.DataFrame
    path: Path


def _fit(frame: pd.DataFrame, directory: Path, **options: object) -> Fitted:
    AutoML(time_budget_s=None, verbose=False, **options).fit(frame, target="target").save(directory)
    return Fitted(frame, directory)


@pytest.fixture(scope="session")
def binary_artifact(ray_instance, tmp_path_factory) -> Fitted:
    """A binary ensemble candidate (linear and LightGBM) over every column kind, with missing values."""
    frame = make_mixed_table(n_rows=240, seed=11)
    directory = tmp_path_factory.mktemp("binary") / "model"
    return _fit(frame, directory, max_trials=4, models=["linear", "lightgbm"], cv_folds=3)


@pytest.fixture(scope="session")
def regression_artifact(ray_instance, tmp_path_factory) -> Fitted:
    """A linear regression: scaling makes a huge but finite input infinite (no finite prediction)."""
    frame = make_mixed_table(n_rows=120, seed=3, task="regression")
    directory = tmp_path_factory.mktemp("regression") / "model"
    return _fit(frame, directory, max_trials=1, models=["linear"], cv_folds=2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def serve_port(ray_instance) -> Iterator[int]:
    """The one HTTP port every serving test deploys on: Serve starts with the first deploy and
    stays up between modules (`automl serve`'s test stops it; the next deploy starts it)."""
    from ray import serve as ray_serve  # here: the other integration tests never load Serve

    yield _free_port()
    ray_serve.shutdown()


@pytest.fixture(scope="module")
def serve_url(serve_port) -> Iterator[str]:
    """The base URL of the session's Serve; the applications a module deployed are deleted after it."""
    from ray import serve as ray_serve

    yield f"http://127.0.0.1:{serve_port}"
    for name in ray_serve.status().applications:
        ray_serve.delete(name)
