"""A trial's BLAS / OpenMP pools are limited to its CPUs in whichever thread runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Runs in a fresh interpreter without OMP_NUM_THREADS, like a Ray worker that imported
# the libraries before Ray set it: the process default is then every core.
_PROBE = """
import json, threading
from threadpoolctl import threadpool_info
from automl.search.worker import pin_threads

def pools():
    return sorted({(p["internal_api"], p["num_threads"]) for p in threadpool_info()})

pin_threads(1)
seen = {"main": pools()}

def trial():  # Tune runs each trial in a new thread
    pin_threads(1)
    seen["thread"] = pools()

worker = threading.Thread(target=trial)
worker.start()
worker.join()
print(json.dumps(seen))
"""


def test_each_trial_thread_gets_the_trials_thread_count():
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    for where in ("main", "thread"):
        assert {api for api, _ in seen[where]} >= {"openmp"}, seen
        assert all(n == 1 for _, n in seen[where]), (where, seen)
