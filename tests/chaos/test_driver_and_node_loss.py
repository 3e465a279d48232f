"""Lost nodes and a lost driver: every planned trial is accounted for, none runs twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml
from tables import make_mixed_table

from automl.artifacts import load_model
from automl.search.journal import SearchJournal

CLI = [sys.executable, "-m", "automl.cli"]
PLANNED = 24


def _spec(tmp_path: Path, address: str) -> Path:
    make_mixed_table(n_rows=600, seed=21).to_csv(tmp_path / "train.csv", index=False)
    spec = {
        "name": "chaos",
        "data": {"train": str(tmp_path / "train.csv"), "target": "target"},
        "budget": {"max_trials": PLANNED},
        "search": {"models": ["random_forest", "extra_trees"], "cv_folds": 3, "seed": 5},
        "resources": {"address": address},
        "output": str(tmp_path / "run"),
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _start_driver(*args: str, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen([*CLI, *args, "--quiet"], stdout=out, stderr=subprocess.STDOUT)


def _wait_for_trials(run_dir: Path, driver: subprocess.Popen, at_least: int, timeout: float = 300) -> int:
    """Trials the journal holds, once it holds `at_least` (the driver must still be running)."""
    journal = SearchJournal(str(run_dir / "search"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert driver.poll() is None, "the job ended before the fault could be injected"
        if journal.exists():
            done = len(journal.load().outcomes)
            if done >= at_least:
                return done
        time.sleep(0.2)
    raise AssertionError(f"fewer than {at_least} trials after {timeout}s")


def _check_run(run_dir: Path) -> pd.DataFrame:
    board = pd.read_csv(run_dir / "leaderboard.csv")
    trials = board[board["trial_id"] != "ensemble"]
    assert len(trials) == PLANNED, trials
    assert trials["trial_id"].is_unique
    assert set(trials["status"]) <= {"done", "failed"}  # no trial lost or left unfinished
    assert load_model(run_dir / "model").task == "binary"
    return trials


def test_worker_node_removed_mid_search(cluster, tmp_path):
    driver = _start_driver("run", str(_spec(tmp_path, cluster.address)), log=tmp_path / "driver.log")
    try:
        _wait_for_trials(tmp_path / "run", driver, PLANNED // 2)
        cluster.remove_node(next(iter(cluster.worker_nodes)))
        assert driver.wait(timeout=600) == 0, (tmp_path / "driver.log").read_text()[-3000:]
    finally:
        if driver.poll() is None:
            driver.kill()
    trials = _check_run(tmp_path / "run")
    assert (trials["status"] == "done").sum() >= PLANNED - 2


def test_driver_killed_then_resumed(cluster, tmp_path):
    run_dir = tmp_path / "run"
    driver = _start_driver("run", str(_spec(tmp_path, cluster.address)), log=tmp_path / "driver.log")
    try:
        before = _wait_for_trials(run_dir, driver, PLANNED // 2)
    finally:
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=60)
    assert before < PLANNED and not (run_dir / "model").exists()
    resumed = subprocess.run(
        [*CLI, "resume", str(run_dir), "--address", cluster.address, "--quiet"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = _check_run(run_dir)
    journal = SearchJournal(str(run_dir / "search")).load()
    assert journal.n_records == len(journal.outcomes) == PLANNED  # every trial evaluated exactly once
    assert set(trials["trial_id"].astype(str)) == set(journal.outcomes)
    summary = yaml.safe_load((run_dir / "summary.json").read_text())
    assert summary["resumed"] is True and summary["n_trials"] == PLANNED
