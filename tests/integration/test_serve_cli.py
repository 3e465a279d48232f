"""`automl serve` as a user runs it: a real process, a real port, stopped by a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from tables import make_mixed_table

from automl import AutoML


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.usefixtures("ray_instance")
def test_cli_serve_answers_then_stops_on_sigterm(ray_instance, tmp_path):
    frame = make_mixed_table(n_rows=150, seed=12, task="regression")
    AutoML(max_trials=2, time_budget_s=None, models=["linear"], cv_folds=3, verbose=False).fit(
        frame, target="target"
    ).save(tmp_path / "model")
    port = _free_port()
    env = {**os.environ, "AUTOML_SERVE_TOKEN": "cli-token"}
    process = subprocess.Popen(
        [sys.executable, "-m", "automl.cli", "serve", str(tmp_path / "model"), "--port", str(port),
         "--address", ray_instance, "--name", "cli", "--cpus-per-replica", "0.25"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.5)
        rows = frame.drop(columns=["target"]).head(2).fillna(0).to_dict(orient="records")
        url = f"http://127.0.0.1:{port}/predict"
        assert httpx.post(url, json={"rows": rows}, timeout=30).status_code == 401
        answer = httpx.post(url, json={"rows": rows}, headers={"authorization": "Bearer cli-token"}, timeout=30)
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 2
        assert answer.json()["probabilities"] is None  # regression
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert f"at http://127.0.0.1:{port} (bearer token required)" in output and "stopped" in output
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
