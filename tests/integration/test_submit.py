"""`automl submit / status / logs / stop` against a real `ray start --head` on 127.0.0.1.

The head runs with token authentication on, from a token of the test's own (never the
user's ~/.ray/auth_token), and is stopped by its process group id.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import yaml
from tables import make_mixed_table

from automl.artifacts import load_model

CLI = [sys.executable, "-m", "automl.cli"]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"  # a service unit's PATH: no virtual environment on it
HEAD_STOP_WAIT_S = 10.0  # then the head's process group is killed


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def token() -> str:
    return secrets.token_hex(32)


def _env(token: str) -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # the job's `python` is ours
    return {**os.environ, "PATH": path, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}


@pytest.fixture(scope="module")
def cluster(token):
    """A two-CPU head node of our own."""
    with _head(_env(token), token, num_cpus=2) as address:
        yield address


@pytest.fixture
def bare_cluster(token, tmp_path_factory):
    """A one-CPU head started as a service unit would: `.venv/bin/ray` by its path, the venv not on PATH.

    The PATH's `python` is the system's (when it has one), which cannot import automl.
    """
    bin_dir = tmp_path_factory.mktemp("system-bin")
    system_python = shutil.which("python3", path=BARE_PATH)
    if system_python:
        (bin_dir / "python").symlink_to(system_python)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{BARE_PATH}", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    with _head(env, token, num_cpus=1, ray=str(Path(sys.executable).parent / "ray")) as address:
        yield address


@contextlib.contextmanager
def _head(env: dict[str, str], token: str, num_cpus: int, ray: str = "ray"):
    gcs, dashboard, client, agent, metrics, runtime_env = _free_ports(6)
    temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths must fit
    head = subprocess.Popen(
        [ray, "start", "--head", "--block", f"--port={gcs}", "--node-ip-address=127.0.0.1",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", f"--ray-client-server-port={client}",
         f"--dashboard-agent-listen-port={agent}", f"--metrics-export-port={metrics}",
         f"--runtime-env-agent-port={runtime_env}", f"--num-cpus={num_cpus}", f"--temp-dir={temp_dir}",
         "--include-dashboard=true", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True,
    )  # fmt: skip
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert head.poll() is None, "ray start --head exited"
            assert time.monotonic() < deadline, "the head's Jobs API never came up"
            try:
                headers = {"Authorization": f"Bearer {token}"}
                if httpx.get(f"{address}/api/jobs/", headers=headers, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # the head and every process it started, by id
        try:
            # the head's own shutdown waits on a grace period for its slowest children;
            # the test's files go with temp_dir, so after a short wait the group is killed
            head.wait(timeout=HEAD_STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=60)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _spec(tmp_path: Path, name: str, budget: dict) -> Path:
    make_mixed_table(n_rows=150, seed=13).to_csv(tmp_path / f"{name}.csv", index=False)
    spec = {
        "name": name,
        "data": {"train": str(tmp_path / f"{name}.csv"), "target": "target"},  # uploaded with the job
        "budget": budget,
        "search": {"models": ["linear"], "cv_folds": 3},
        "resources": {"max_cpus": 1},  # half the cluster each
        "output": str(tmp_path / f"run-{name}"),
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _cli(token: str | None, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = _env(token) if token else {k: v for k, v in _env("x").items() if not k.startswith("RAY_AUTH")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


def _wait_status(token: str, job_id: str, address: str, wanted: set[str], timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        result = _cli(token, "status", job_id, "--address", address)
        assert result.returncode == 0, result.stderr
        state = result.stdout.strip()
        if state in wanted:
            return state
        time.sleep(1)
    raise AssertionError(f"job {job_id} is {state}, never reached {wanted}")


def test_two_jobs_at_once_both_succeed_in_their_own_share(cluster, token, tmp_path):
    job_ids = {}
    for name in ("first", "second"):
        submitted = _cli(token, "submit", str(_spec(tmp_path, name, {"max_trials": 4})), "--address", cluster)
        assert submitted.returncode == 0, submitted.stderr
        job_ids[name] = submitted.stdout.strip()
        assert job_ids[name].startswith(f"automl-{name}-")
    for name, job_id in job_ids.items():
        final = _wait_status(token, job_id, cluster, TERMINAL)
        assert final == "SUCCEEDED", _cli(token, "logs", job_id, "--address", cluster).stdout[-3000:]
        run_dir = tmp_path / f"run-{name}"
        assert load_model(run_dir / "model").task == "binary"
        summary = yaml.safe_load((run_dir / "summary.json").read_text())
        assert summary["n_trials"] == 4 and summary["concurrent_trials"] == 1
        for follow in ([], ["--follow"]):  # --follow returns once the job has ended
            logs = _cli(token, "logs", job_id, "--address", cluster, *follow)
            assert logs.returncode == 0 and f"run directory: {run_dir}" in logs.stdout


def test_stop_ends_a_running_job(cluster, token, tmp_path):
    submitted = _cli(token, "submit", str(_spec(tmp_path, "long", {"time_s": 600})), "--address", cluster)
    job_id = submitted.stdout.strip()
    _wait_status(token, job_id, cluster, {"RUNNING"})
    stopped = _cli(token, "stop", job_id, "--address", cluster)
    assert stopped.returncode == 0 and f"stopping {job_id}" in stopped.stdout
    assert _wait_status(token, job_id, cluster, TERMINAL, timeout=120) == "STOPPED"
    assert not (tmp_path / "run-long" / "model").exists()


def test_data_the_cluster_cannot_read_fails_the_job_with_one_line(cluster, token, tmp_path):
    raw = yaml.safe_load(_spec(tmp_path, "unreadable", {"max_trials": 2}).read_text())
    raw["data"]["train"] = "file:///nowhere/train.csv"  # a URI: read on the cluster, not checked here
    (tmp_path / "unreadable.yaml").write_text(yaml.safe_dump(raw))
    job_id = _cli(token, "submit", str(tmp_path / "unreadable.yaml"), "--address", cluster).stdout.strip()
    assert _wait_status(token, job_id, cluster, TERMINAL) == "FAILED"
    status = _cli(token, "status", job_id, "--address", cluster)
    assert status.stderr.strip() == "reason: error: file:///nowhere/train.csv: file not found"
    assert not (tmp_path / "run-unreadable").exists()


def test_a_cluster_whose_venv_is_not_on_path_runs_the_job_with_its_workers_python(bare_cluster, token, tmp_path):
    submitted = _cli(token, "submit", str(_spec(tmp_path, "bare", {"max_trials": 2})), "--address", bare_cluster)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    final = _wait_status(token, job_id, bare_cluster, TERMINAL)
    reason = _cli(token, "status", job_id, "--address", bare_cluster).stderr
    assert final == "SUCCEEDED", (reason, _cli(token, "logs", job_id, "--address", bare_cluster).stdout[-3000:])
    run_dir = tmp_path / "run-bare"
    assert load_model(run_dir / "model").task == "binary"
    assert yaml.safe_load((run_dir / "summary.json").read_text())["n_trials"] == 2


def test_a_failed_entrypoint_reports_its_last_log_line(cluster, token):
    headers = {"Authorization": f"Bearer {token}"}
    job = {
        "entrypoint": "echo starting; echo 'it broke here' >&2; exit 3",
        "submission_id": f"automl-raw-{os.getpid()}",
    }
    assert httpx.post(f"{cluster}/api/jobs/", json=job, headers=headers, timeout=30).status_code == 200
    assert _wait_status(token, job["submission_id"], cluster, TERMINAL) == "FAILED"
    status = _cli(token, "status", job["submission_id"], "--address", cluster)
    assert status.stderr.strip() == "reason: it broke here (the entrypoint exited with code 3)"


def test_requests_without_the_token_are_refused(cluster, token):
    assert httpx.get(f"{cluster}/api/jobs/", timeout=10).status_code in (401, 403)
    wrong = _cli("0" * 64, "status", "automl-any-1", "--address", cluster)
    assert wrong.returncode == 2 and "refused our token" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["status", "stop", "logs"])
def test_unknown_job_ids(cluster, token, command):
    result = _cli(token, command, "automl-nope-123", "--address", cluster)
    assert result.returncode == 2 and "no job 'automl-nope-123'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_bad_submissions_exit_2_and_submit_nothing(cluster, token, tmp_path):
    raw = yaml.safe_load(_spec(tmp_path, "bad", {"time_s": 30}).read_text())
    (tmp_path / "relative.yaml").write_text(yaml.safe_dump({**raw, "output": "runs/x"}))
    (tmp_path / "nodata.yaml").write_text(yaml.safe_dump({**raw, "data": {"train": "/nope.csv", "target": "t"}}))
    free = _free_ports(1)[0]
    before = _cli(token, "list-jobs-probe", "--address", cluster)  # argparse error: exit 2 as well
    assert before.returncode == 2
    for args, fragment in [
        (["submit", str(tmp_path / "relative.yaml"), "--address", cluster], "output: set an absolute path"),
        (["submit", str(tmp_path / "nodata.yaml"), "--address", cluster], "is not a file here"),
        (["submit", str(tmp_path / "bad.yaml"), "--address", f"http://127.0.0.1:{free}"], "cannot reach"),
    ]:
        result = _cli(token, *args)
        assert result.returncode == 2, result.stderr
        assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    jobs = httpx.get(f"{cluster}/api/jobs/", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert not [j for j in jobs if str(j.get("submission_id", "")).startswith("automl-bad-")]


def test_a_watch_submits_its_retrain_as_a_ray_job_on_the_cluster(cluster, token, tmp_path):
    """The watcher submits `automl retrain` to the Jobs API; the job runs it on the cluster.
    This model was registered without its job, so the retrain there stops at once and
    says so: the job's outcome shows it ran the command the watcher sent."""
    import numpy as np
    import pandas as pd

    from automl.artifacts import save_model
    from automl.data import coerce_features, infer_schema
    from automl.models import get_family
    from automl.monitoring import feature_reference
    from automl.pipeline.model import Member, TabularModel
    from automl.pipeline.trial import build_pipeline
    from automl.registry import ModelRegistry
    from serve.request_log import RequestLog

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400), "z": rng.normal(size=400)})
    frame["target"] = np.where(frame["x"] > 0, "yes", "no")
    schema = infer_schema(frame, "target")
    X = coerce_features(frame, schema)
    pipeline = build_pipeline(get_family("linear"), {"C": 1.0}, schema, 0, 1).fit(X, frame["target"] == "yes")
    reference = {"features": feature_reference(X, {c.name: c.kind for c in schema.columns})}
    model = TabularModel(schema, "roc_auc", [Member("t", "linear", {}, [pipeline])], reference=reference)
    registry_root = str(tmp_path / "registry")
    ModelRegistry(registry_root).register(save_model(model, tmp_path / "model"), "remote")
    log = RequestLog(tmp_path / "log", max_rows=1000, max_files=10, flush_interval_s=3600)
    for i, row in enumerate(frame.assign(x=frame["x"] + 1.0).drop(columns=["target"]).to_dict(orient="records")):
        log.append("predict", f"r{i}", {"rows": [row], "predictions": ["yes"]})
    log.flush()
    watched = _cli(token, "monitor", "remote", "--registry", registry_root, "--log-dir", str(tmp_path / "log"),
                   "--watch", "--max-checks", "1", "--retrain", "--address", cluster,
                   "--output", str(tmp_path / "watch"))  # fmt: skip
    assert watched.returncode == 0, watched.stderr
    assert "feature drift: x" in watched.stdout and "retrain submitted: automl-retrain-remote-" in watched.stdout
    job_id = watched.stdout.strip().rsplit("retrain submitted: ", 1)[1]
    assert _wait_status(token, job_id, cluster, TERMINAL) == "FAILED"
    assert "registered without its job" in _cli(token, "logs", job_id, "--address", cluster).stdout
