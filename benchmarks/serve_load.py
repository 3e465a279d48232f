"""Serving load: latency and throughput over real HTTP, next to the limits, in one run.

Deploys, on one local Ray, (a) the model with dynamic batching, (b) the same model with
batching off, and (c) a no-op endpoint (the HTTP proxy's own ceiling); measures the
model's in-process prediction of the same row, from a table (`automl predict`) and from
the JSON rows (what a replica does): the latency floor; then drives each
endpoint with N concurrent clients from a separate process for a bounded time.

    python benchmarks/serve_load.py [MODEL_DIR] [--clients 1,32] [--seconds 5] [--rounds 6] [--ingress haproxy]

Without MODEL_DIR it first fits a model on --data (examples/data/churn.csv, where the
job keeps a single linear member); give a model fitted on another table, with that
table as --data, to load a real ensemble.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _drive(url: str, body: bytes, clients: int, seconds: float, out: mp.Queue) -> None:
    """Load generator (own process): `clients` keep-alive connections for `seconds`."""
    import httpx

    async def client(latencies: list[float], errors: list[int], deadline: float) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(1_000_000):  # bounded; the deadline ends it first
                if time.perf_counter() >= deadline:
                    return
                start = time.perf_counter()
                response = await http.post(url, content=body, headers={"content-type": "application/json"})
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors.append(response.status_code)

    async def main() -> tuple[list[float], list[int], float]:
        latencies: list[float] = []
        errors: list[int] = []
        start = time.perf_counter()
        await asyncio.gather(*(client(latencies, errors, start + seconds) for _ in range(clients)))
        return latencies, errors, time.perf_counter() - start

    out.put(asyncio.run(main()))


def _median_ms(call: Callable[[], object], repeats: int = 200) -> float:
    """Median wall time of `call` in milliseconds, after a few warm-up calls."""
    for _ in range(5):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(url: str, body: bytes, clients: int, seconds: float) -> dict:
    context = mp.get_context("spawn")  # a fresh interpreter: no Ray state inherited from this one
    queue = context.Queue()
    worker = context.Process(target=_drive, args=(url, body, clients, seconds, queue))
    worker.start()
    latencies, errors, wall = queue.get(timeout=seconds + 120)
    worker.join(timeout=30)
    ms = np.asarray(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
        "req_per_s": round(len(latencies) / wall, 1),
    }


def fit_example(directory: Path, data: str, target: str) -> Path:
    from automl import AutoML
    from automl.data import read_table

    frame = read_table(data)
    AutoML(time_budget_s=40, verbose=False).fit(frame, target=target).save(directory / "model")
    return directory / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", nargs="?", type=Path)
    parser.add_argument("--clients", default="1,32")
    parser.add_argument("--seconds", type=float, default=5.0, help="per endpoint, client count and round")
    parser.add_argument(
        "--rounds",
        type=int,
        default=6,
        help="every endpoint measured this many times, in turn (short rounds: a slow spell hits them all)",
    )
    parser.add_argument(
        "--data", default="examples/data/churn.csv", help="the rows sent (and fitted on, without MODEL_DIR)"
    )
    parser.add_argument("--target", default="churn", help="the target column of --data")
    parser.add_argument(
        "--ingress", choices=["auto", "proxy", "haproxy"], default="auto", help="as `automl serve --ingress`"
    )
    args = parser.parse_args()
    import os

    from serve import HAPROXY_PRELOAD, ServeConfig, chosen_ingress, ingress_environment

    ingress = chosen_ingress(ServeConfig(ingress=args.ingress), joins_cluster=False).ingress  # a Ray of its own
    os.environ.update(ingress_environment(ServeConfig(ingress=ingress)))  # read when Ray starts

    from fastapi import FastAPI
    from ray import serve as ray_serve

    from automl.artifacts import load_model
    from automl.data import read_table
    from automl.data.coercion import feature_columns
    from automl.job import ray_session
    from serve import deploy
    from serve.deploy import REPLICA_ENV, replica_logging

    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    with ray_session("local", preload=HAPROXY_PRELOAD if ingress == "haproxy" else ()):
        model_dir = args.model_dir or fit_example(work, args.data, args.target)
        model = load_model(model_dir)
        frame = read_table(args.data).drop(columns=[model.schema.target], errors="ignore")
        row = json.loads(frame.head(1).to_json(orient="records", date_format="iso"))  # as a client sends dates
        body = json.dumps({"rows": row}).encode()

        single = frame.head(1)
        in_process_ms = _median_ms(lambda: model.predict_raw(single))  # a table, as `automl predict` reads it
        served_ms = _median_ms(lambda: model.predict_features(feature_columns(row, model.schema)))  # as a replica

        port = _free_port()
        # the three endpoints share the machine's CPUs: each is measured while the others idle
        common = {"port": port, "cpus_per_replica": 0.5, "ingress": ingress}
        base = deploy(model_dir, ServeConfig(name="batched", route_prefix="/batched", max_batch_size=32, **common))
        root = base.rsplit("/batched", 1)[0]
        deploy(model_dir, ServeConfig(name="unbatched", route_prefix="/unbatched", max_batch_size=1, **common))

        noop_app = FastAPI()

        # the same replica settings as ours (event loop, logging): the ceiling is Serve's,
        # not a handicapped one (with Serve's access log on, the no-op answered ~10% fewer)
        no_op_options = {"num_cpus": 0.5, "runtime_env": {"env_vars": REPLICA_ENV}}

        @ray_serve.deployment(
            max_ongoing_requests=256, ray_actor_options=no_op_options, logging_config=replica_logging(ServeConfig())
        )
        @ray_serve.ingress(noop_app)
        class NoOp:
            @noop_app.post("/predict")
            async def predict(self) -> dict:
                return {"predictions": []}

        ray_serve.run(NoOp.bind(), name="noop", route_prefix="/noop")

        results = []
        # rounds in turn, so that a slow spell of this shared machine hits every endpoint
        for round_ in range(1, args.rounds + 1):
            for clients in (int(c) for c in args.clients.split(",")):
                for name in ("noop", "batched", "unbatched"):
                    result = measure(f"{root}/{name}/predict", body, clients, args.seconds)
                    results.append({"round": round_, "endpoint": name, **result})
                    print(results[-1], flush=True)
        ray_serve.shutdown()

    import pandas as pd

    rounds = pd.DataFrame(results)
    table = (
        rounds.groupby(["clients", "endpoint"], sort=False)
        .agg(
            requests=("requests", "sum"),
            errors=("errors", "sum"),
            p50_ms=("p50_ms", "median"),
            p99_ms=("p99_ms", "median"),
            req_per_s=("req_per_s", "mean"),
        )
        .round(2)
        .reset_index()
    )
    table = table[["endpoint", "clients", "requests", "errors", "p50_ms", "p99_ms", "req_per_s"]]
    print(f"\ningress: {'HAProxy' if ingress == 'haproxy' else 'Serve HTTP proxy'}")
    print(f"in-process predict, one row: {in_process_ms:.2f} ms from a table, {served_ms:.2f} ms from JSON rows")
    print(f"over {args.rounds} round(s): requests and errors summed, p50 and p99 the rounds' median, req/s their mean")
    print(table.to_string(index=False))

    def get(endpoint: str, clients: int, key: str) -> float:
        row = table[(table.endpoint == endpoint) & (table.clients == clients)]
        return float(row[key].iloc[0]) if len(row) else float("nan")

    top = max(int(c) for c in args.clients.split(","))
    floor = min(in_process_ms, served_ms)  # the stricter of the two
    gap = get("batched", 1, "p50_ms") - floor
    print(f"\nsingle-row p50 over HTTP minus in-process ({floor:.2f} ms): {gap:.2f} ms (target <= 3)")
    batched, unbatched, noop = (get(e, top, "req_per_s") for e in ("batched", "unbatched", "noop"))
    print(f"{top} clients: batched / unbatched throughput = {batched / unbatched:.2f}x (target >= 5x)")
    print(f"{top} clients: batched / no-op throughput = {batched / noop:.2f} (target >= 0.8 where lower than 5x)")


if __name__ == "__main__":
    main()
