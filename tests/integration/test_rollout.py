"""Rolling a challenger out on a real Serve over real HTTP: a canary's share, a shadow's
logged answers, and promotion and rollback through the registry that `automl serve NAME`
follows, under live traffic, with the replicas swapping models in place."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pandas as pd
import pytest
import ray
from ray import serve as ray_serve
from tables import wait_for

from automl.artifacts import save_model
from automl.artifacts.store import read_manifest
from automl.data import coerce_features, infer_schema
from automl.models import get_family
from automl.pipeline.model import Member, TabularModel
from automl.pipeline.trial import build_pipeline
from automl.registry import ModelRegistry
from serve import ServeConfig, deploy

pytestmark = pytest.mark.usefixtures("ray_instance")
CLIENTS = 8


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Two linear models of one table (a weaker and a stronger C) and the table's rows."""
    root = tmp_path_factory.mktemp("rollout")
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=300), "z": rng.normal(size=300)})
    frame["target"] = np.where(frame["x"] + 0.5 * frame["z"] > 0, "yes", "no")
    schema = infer_schema(frame, "target")
    X, y = coerce_features(frame, schema), (frame["target"] == "yes").to_numpy(dtype=int)
    directories = []
    for index, c in enumerate((0.01, 10.0)):
        pipeline = build_pipeline(get_family("linear"), {"C": c}, schema, 0, 1).fit(X, y)
        model = TabularModel(schema, "roc_auc", [Member(f"v{index}", "linear", {"C": c}, [pipeline])])
        directories.append(save_model(model, root / f"v{index + 1}"))
    rows = frame.drop(columns=["target"]).head(4).to_dict(orient="records")
    return root, directories, rows


def _version(directory) -> str:
    return str(read_manifest(directory)["model_version"])


def _replica_actors(app: str) -> list[str]:
    named = ray.util.list_named_actors(all_namespaces=True)
    return sorted(a["name"] for a in named if "REPLICA" in a["name"] and f"::{app}#" in a["name"])


def test_a_shadow_challenger_answers_every_request_in_the_log_and_never_to_the_client(versions, serve_port):
    # serve_port, not serve_url: the next test's `automl serve` stops Serve when it ends,
    # so each test here deletes what it deployed itself
    root, (v1, v2), rows = versions
    serve_url = f"http://127.0.0.1:{serve_port}"
    log_dir = root / "shadow-log"
    config = ServeConfig(name="shadowed", route_prefix="/shadowed", port=serve_port, cpus_per_replica=0.25,
                         log_dir=str(log_dir), log_flush_interval_s=0.05)  # fmt: skip
    deploy(v1, config, challenger=v2, mode="shadow")
    try:
        _check_shadow(serve_url, log_dir, v1, v2, rows)
    finally:
        ray_serve.delete("shadowed")


def _check_shadow(serve_url: str, log_dir, v1, v2, rows) -> None:
    with httpx.Client(base_url=serve_url, timeout=60) as client:
        answers = [client.post("/shadowed/predict", json={"rows": rows}).json() for _ in range(30)]
        assert {a["model_version"] for a in answers} == {_version(v1)}

        def shadowed() -> bool:
            return client.get("/shadowed/monitor").json()["rollout"]["shadow_rows"] == 30 * len(rows)

        wait_for(shadowed, what="the shadow's predictions")
        rollout = client.get("/shadowed/metadata").json()["rollout"]
        assert rollout["mode"] == "shadow" and rollout["challenger"] == _version(v2)
        assert 0 <= rollout["agreement"] <= 1

    def logged() -> pd.DataFrame:
        files = sorted(log_dir.glob("*.parquet"))
        return pd.concat([pd.read_parquet(f) for f in files]) if files else pd.DataFrame(columns=["kind"])

    wait_for(lambda: (logged()["kind"] == "shadow").sum() >= 30, what="shadow records in the log")
    records = logged()
    shadow_ids = set(records.loc[records["kind"] == "shadow", "request_id"])
    answered = {a["request_id"] for a in answers}
    assert answered <= shadow_ids  # each answered request also has the challenger's answer logged
    assert set(records.loc[records["kind"] == "predict", "request_id"]) >= answered
    assert all(f'"model_version": "{_version(v2)}"' in p for p in records.loc[records["kind"] == "shadow", "payload"])


def test_canary_promotion_and_rollback_follow_the_registry_under_live_traffic(
    versions, ray_instance, serve_port, tmp_path
):
    """`automl serve NAME` follows the registry: a 20% canary takes 20 ± 3% of 2,000
    requests; promoting the challenger and rolling back, while 8 clients send requests,
    switch the served version with no failed request and no replica restarted."""
    _, (v1, v2), rows = versions
    location = str(tmp_path / "registry")
    registry = ModelRegistry(location)
    registry.register(v1, "shop")
    registry.register(v2, "shop")  # the challenger
    first, second = _version(v1), _version(v2)
    serve_url = f"http://127.0.0.1:{serve_port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "automl.cli", "serve", "shop", "--registry", location, "--address", ray_instance,
         "--port", str(serve_port), "--follow-s", "0.3", "--cpus-per-replica", "0.25"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ},
    )  # fmt: skip
    client = httpx.Client(base_url=serve_url, timeout=60)
    try:

        def metadata() -> dict:
            try:
                response = client.get("/metadata")
            except httpx.HTTPError:
                return {}
            return response.json() if response.status_code == 200 else {}

        wait_for(lambda: metadata().get("model_version") == first, timeout=180, what="the champion served")
        replicas = _replica_actors("shop")
        assert len(replicas) == 1

        registry.set_rollout("shop", "canary", 0.2)
        wait_for(lambda: (metadata().get("rollout") or {}).get("share") == 0.2, what="the canary")

        def ask(n: int) -> list[str]:
            with httpx.Client(base_url=serve_url, timeout=60) as own:  # one connection per client
                return [own.post("/predict", json={"rows": rows}).json()["model_version"] for _ in range(n)]

        with ThreadPoolExecutor(4) as pool:
            served = Counter(v for answers in pool.map(ask, [500] * 4) for v in answers)
        assert set(served) == {first, second}
        assert 0.17 <= served[second] / 2000 <= 0.23, served

        statuses: list[int] = []
        answered: list[str] = []
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=serve_url, timeout=60) as own:
                for _ in range(20_000):  # bounded
                    if stop.is_set():
                        return
                    response = own.post("/predict", json={"rows": rows})
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        answered.append(response.json()["model_version"])

        def now_serving(version: str) -> bool:
            seen = len(answered)
            return seen > 50 and set(answered[seen - 50 :]) == {version}

        threads = [threading.Thread(target=load) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: len(answered) > 100, what="traffic")
            registry.promote("shop")
            wait_for(lambda: now_serving(second), what="the promoted version answering")
            promoted_at = len(answered)
            registry.rollback("shop")
            wait_for(lambda: len(answered) > promoted_at + 100 and now_serving(first), what="the rollback")
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert statuses and set(statuses) == {200}, Counter(statuses)
        assert second in answered[:promoted_at] and answered[-1] == first
        assert _replica_actors("shop") == replicas  # swapped in place by reconfigure, not restarted
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert "serving shop v1" in output and "now serving shop v1, v2 as canary 20%" in output
    assert "now serving shop v2" in output, output
