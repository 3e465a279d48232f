"""What a replica's canary routing costs per request, with no canary and with one: the
routing decision alone (ModelServer._route), timed in-process, best of five.

    python benchmarks/route_cost.py
"""

from __future__ import annotations

import timeit
import types
from typing import Any, cast

from serve.app import ModelServer
from serve.config import Rollout

REQUESTS = 200_000


def route(rollout: Rollout) -> Any:
    server = types.SimpleNamespace(rollout=rollout, champion=object(), challenger=object(), _canary_credit=0.0)
    replica = cast(Any, ModelServer).func_or_class  # the class beneath Serve's deployment
    server._served = types.MethodType(replica._served, server)
    return types.MethodType(replica._route, server)


def main() -> None:
    for label, rollout in (
        ("no canary", Rollout(champion="a")),
        ("canary 20%", Rollout(champion="a", challenger="b", share=0.2)),
    ):
        best = min(timeit.repeat(route(rollout), number=REQUESTS, repeat=5)) / REQUESTS
        print(f"{label}: {best * 1e6:.3f} µs per request ({best * 1e3 / 0.5:.5%} of the 0.5 ms allowed)")


if __name__ == "__main__":
    main()
