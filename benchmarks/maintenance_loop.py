"""The maintenance loop on a real served model, end to end, with request counts and failures
at each step: a champion is trained, registered and served (`automl serve NAME`, following
the registry); traffic from the training distribution passes the monitor; drifted traffic
(a feature moved, and the target's relation to it reversed) with feedback labels trips it;
`automl monitor --watch --retrain --canary 0.2` retrains, and the better challenger takes
a 20% canary; it is promoted and then rolled back while 8 clients send requests.

    python benchmarks/maintenance_loop.py --output runs/maintenance-loop

Prints one line per step and writes `loop.json` under --output. Uses 2 CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import ray
import yaml

from automl.artifacts.store import read_manifest
from automl.job.registration import register_run
from automl.job.run import run_job
from automl.registry import ModelRegistry
from automl.spec import JobSpec

NAME = "loop"
CLI = [sys.executable, "-m", "automl.cli"]


def table(n: int, rng: np.random.Generator, low: float, high: float, flipped: bool = False) -> pd.DataFrame:
    x = rng.uniform(low, high, size=n)
    z = rng.normal(size=n)
    positive = (x + 0.3 * z < 4) if flipped else (x + 0.3 * z > 0)
    return pd.DataFrame({"x": x, "z": z, "target": np.where(positive, "yes", "no")})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def send(url: str, frame: pd.DataFrame, clients: int, feedback: bool) -> dict[str, Any]:
    """One request per row from `clients` threads (labels fed back when `feedback`)."""
    rows = frame.drop(columns=["target"]).to_dict(orient="records")
    labels = frame["target"].tolist()

    def one(i: int) -> tuple[int, str | None]:
        try:
            answer = httpx.post(f"{url}/predict", json={"rows": [rows[i]]}, timeout=60)
            if answer.status_code != 200:
                return answer.status_code, None
            body = answer.json()
            if feedback:
                record = {"request_id": body["request_id"], "actual": labels[i]}
                httpx.post(f"{url}/feedback", json={"feedback": [record]}, timeout=60)
            return 200, body["model_version"]
        except httpx.HTTPError:
            return -1, None

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(len(rows))))
    statuses = Counter(s for s, _ in results)
    return {
        "requests": len(rows),
        "failed": len(rows) - statuses[200],
        "versions": dict(Counter(v for _, v in results if v)),
    }


class Load:
    """`clients` threads sending requests until stopped; statuses and versions in order."""

    def __init__(self, url: str, rows: list[dict[str, Any]], clients: int) -> None:
        self.statuses: list[int] = []
        self.versions: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(url, rows)) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def _run(self, url: str, rows: list[dict[str, Any]]) -> None:
        with httpx.Client(timeout=60) as client:
            i = 0
            while not self.stop.is_set():
                try:
                    answer = client.post(f"{url}/predict", json={"rows": [rows[i % len(rows)]]})
                    self.statuses.append(answer.status_code)
                    if answer.status_code == 200:
                        self.versions.append(answer.json()["model_version"])
                except httpx.HTTPError:
                    self.statuses.append(-1)
                i += 1

    def serving(self, version: str, last: int = 50) -> bool:
        seen = len(self.versions)
        return seen > last and set(self.versions[seen - last :]) == {version}

    def finish(self) -> dict[str, Any]:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        return {"requests": len(self.statuses), "failed": sum(s != 200 for s in self.statuses),
                "versions": dict(Counter(self.versions))}  # fmt: skip


def monitor(registry_root: str, log_dir: Path, output: Path, *extra: str) -> str:
    done = subprocess.run([*CLI, "monitor", NAME, "--registry", registry_root, "--log-dir", str(log_dir),
                           "--output", str(output), *extra], capture_output=True, text=True, timeout=600)  # fmt: skip
    if done.returncode not in (0, 3):
        raise SystemExit(done.stderr)
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="runs/maintenance-loop")
    args = parser.parse_args()
    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    steps: dict[str, Any] = {}

    def step(name: str, result: dict[str, Any]) -> None:
        steps[name] = result
        print(f"{name}: {json.dumps(result)}", flush=True)

    rng = np.random.default_rng(0)
    table(600, rng, -2, 2).to_parquet(out / "train.parquet", index=False)
    spec = JobSpec.from_dict({
        "name": NAME,
        "data": {"train": str(out / "train.parquet"), "target": "target"},
        "budget": {"time_s": 30},
        "search": {"models": ["linear", "lightgbm"], "cv_folds": 3},
        "evaluation": {"enabled": False},
        "monitoring": {"retrain_cooldown_s": 600},
    })  # fmt: skip
    started = time.perf_counter()
    _, location = run_job(spec, out / "champion", show_progress=False)
    registry_root = str(out / "registry")
    registry = ModelRegistry(registry_root)
    champion = register_run(registry, location, NAME)
    step("train and register", {"version": champion.version, "seconds": round(time.perf_counter() - started, 1)})

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    port, log_dir = free_port(), out / "log"
    config = out / "serve.yaml"
    config.write_text(yaml.safe_dump({"log_dir": str(log_dir), "log_flush_interval_s": 0.5, "cpus_per_replica": 0.25}))
    server = subprocess.Popen(
        [*CLI, "serve", NAME, "--registry", registry_root, "--address", ray.get_runtime_context().gcs_address,
         "--port", str(port), "--config", str(config), "--follow-s", "0.5"],
        stdout=(out / "serve.out").open("w"), stderr=subprocess.STDOUT, env={**os.environ},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def version_served() -> str | None:
            try:
                return str(httpx.get(f"{url}/metadata", timeout=5).json()["model_version"])
            except (httpx.HTTPError, ValueError, KeyError):
                return None

        first = str(read_manifest(registry.model_dir(NAME))["model_version"])
        wait_for(lambda: version_served() == first, 300, "the champion served")
        step("traffic like training", send(url, table(300, rng, -2, 2), clients=4, feedback=True))
        time.sleep(1.5)  # the log's flush interval
        quiet = monitor(registry_root, log_dir, out / "monitor-before")
        step("monitor", {"drift": "drift:" in quiet, "summary": quiet.strip().splitlines()[0]})

        since = time.time()
        step("drifted traffic", send(url, table(400, rng, 2, 6, flipped=True), clients=4, feedback=True))
        time.sleep(1.5)
        watched = monitor(registry_root, log_dir, out / "watch", "--since", f"{time.time() - since + 1:.0f}s",
                          "--watch", "--max-checks", "1", "--retrain", "--canary", "0.2")  # fmt: skip
        line = watched.strip().splitlines()[-1]
        step("watch", {"line": line})
        retrain_log = Path(line.rsplit("retrain submitted: ", 1)[1])
        wait_for(lambda: "champion: " in retrain_log.read_text(), 900, "the retrain")
        step("retrain", {"output": [x for x in retrain_log.read_text().splitlines() if x.strip()][-5:]})
        plan = registry.rollout_plan(NAME)
        if plan.challenger is None:
            raise SystemExit(f"no canary: {retrain_log.read_text()}")
        assert plan.challenger_dir is not None
        second = str(read_manifest(plan.challenger_dir)["model_version"])
        wait_for(lambda: (httpx.get(f"{url}/metadata", timeout=5).json().get("rollout") or {}).get("share") == 0.2,
                 120, "the canary")  # fmt: skip
        canary = send(url, table(2000, rng, 2, 6, flipped=True), clients=4, feedback=False)
        canary["challenger_share"] = round(canary["versions"].get(second, 0) / canary["requests"], 4)
        step("canary 20%", canary)

        rows = table(200, rng, 2, 6, flipped=True).drop(columns=["target"]).to_dict(orient="records")
        load = Load(url, rows, clients=8)
        wait_for(lambda: len(load.versions) > 100, 120, "traffic")
        registry.promote(NAME)
        wait_for(lambda: load.serving(second), 120, "the promoted version")
        step("promote under 8 clients", load.finish())
        load = Load(url, rows, clients=8)
        wait_for(lambda: len(load.versions) > 100, 120, "traffic")
        registry.rollback(NAME)
        wait_for(lambda: load.serving(first), 120, "the rolled-back version")
        step("rollback under 8 clients", load.finish())
        step("versions", {"first": first, "challenger": second, "served now": version_served()})
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        ray.shutdown()
    (out / "loop.json").write_text(json.dumps(steps, indent=2))
    print(f"wrote {out / 'loop.json'}")


if __name__ == "__main__":
    main()
