"""`automl serve` as a user runs it: a real process, a real port, stopped by a signal."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_serve_answers_then_stops_on_sigterm(ray_instance, serve_port, regression_artifact):
    """On the session's Ray and its Serve port, as on a cluster where Serve runs; stopping it stops Serve."""
    frame = regression_artifact.frame
    port = serve_port
    env = {**os.environ, "AUTOML_SERVE_TOKEN": "cli-token"}
    process = subprocess.Popen(
        [sys.executable, "-m", "automl.cli", "serve", str(regression_artifact.path), "--port", str(port),
         "--address", ray_instance, "--name", "cli", "--cpus-per-replica", "0.25"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        _wait_until_serving(process, f"http://127.0.0.1:{port}/healthz")
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


def _wait_until_serving(process: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200 and response.json().get("status") == "ok":
                return
        except (httpx.HTTPError, ValueError):
            pass
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in time")


def test_cli_serve_by_default_puts_haproxy_in_front_on_loopback_only(binary_artifact):
    """With no --ingress and no cluster, `automl serve` starts a Ray of its own with HAProxy
    in front of the replicas, and every port HAProxy opens listens on 127.0.0.1 only."""
    import psutil

    frame = binary_artifact.frame
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "AUTOML_SERVE_TOKEN")}
    env["RAY_SERVE_HAPROXY_STATS_PORT"] = str(_free_port())
    env["RAY_SERVE_HAPROXY_METRICS_PORT"] = str(_free_port())
    process = subprocess.Popen(
        [sys.executable, "-m", "automl.cli", "serve", str(binary_artifact.path), "--port", str(port),
         "--cpus-per-replica", "0.25"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        _wait_until_serving(process, f"http://127.0.0.1:{port}/healthz")
        rows = frame.drop(columns=["target"]).head(3).fillna(0).to_dict(orient="records")
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"rows": rows}, timeout=30)
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 3
        # HAProxy is what answers: its stats page is up on the port we chose
        stats = httpx.get(f"http://127.0.0.1:{env['RAY_SERVE_HAPROXY_STATS_PORT']}/stats", timeout=10)
        assert stats.status_code == 200 and "haproxy" in stats.text.lower()
        ours = {port, int(env["RAY_SERVE_HAPROXY_STATS_PORT"]), int(env["RAY_SERVE_HAPROXY_METRICS_PORT"])}
        listening = [
            c for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port in ours
        ]
        assert {c.laddr.port for c in listening} == ours
        assert {c.laddr.ip for c in listening} == {"127.0.0.1"}
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output
    assert re.search(r"ingress: HAProxy .*ports \d+ and \d+", output) and "stopped" in output
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)


def test_cli_serve_haproxy_refuses_a_cluster_address(ray_instance, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "automl.cli", "serve", str(tmp_path), "--ingress", "haproxy", "--address", ray_instance],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "RAY_SERVE_ENABLE_HA_PROXY=1 ray start" in result.stderr
    assert "Traceback" not in result.stderr


def test_with_a_signing_key_an_unsigned_artifact_is_neither_served_nor_predicted(
    ray_instance, serve_port, binary_artifact, tmp_path
):
    env = {**os.environ, "AUTOML_SIGNING_KEY": "a-signing-key-of-32-characters!!"}
    rows = tmp_path / "rows.csv"
    binary_artifact.frame.drop(columns=["target"]).head(3).to_csv(rows, index=False)
    commands = {
        "serve": ["serve", str(binary_artifact.path), "--port", str(serve_port), "--address", ray_instance,
                  "--name", "unsigned", "--ingress", "proxy"],
        "predict": ["predict", str(binary_artifact.path), str(rows), "--output", str(tmp_path / "out.csv")],
    }  # fmt: skip
    for name, args in commands.items():
        result = subprocess.run(
            [sys.executable, "-m", "automl.cli", *args], capture_output=True, text=True, timeout=300, env=env
        )
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert "unsigned and a signing key is configured" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.csv").exists()
