"""`automl monitor NAME --watch`: check a served model's log on an interval, and when the
spec's monitoring thresholds trip, submit `automl retrain NAME` (as a Ray job on a
cluster's Jobs API, or as a local process), at most once per cooldown.

The cooldown is kept in the registry, not in the watcher: a registered model's
`automl.retrain_requested` tag holds when a retrain was last submitted, and its
`automl.last_retrain` when one last ran, so a restarted watcher, or two of them, cannot
submit a loop of retrains for an alarm that keeps firing.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.artifacts.run_directory import JOB_FILE
from automl.job.monitor import MonitorResult
from automl.job.retraining import LAST_RETRAIN_TAG
from automl.registry import ModelRegistry
from automl.spec import JobSpec, MonitoringSpec

REQUESTED_TAG = "automl.retrain_requested"


def tripped(result: MonitorResult, thresholds: MonitoringSpec) -> list[str]:
    """Why `result` counts as degraded under `thresholds`: one reason per rule that trips
    (none: the model is fine, or the log holds too few rows to tell)."""
    report = result.report
    reasons = []
    if report["rows"] >= thresholds.min_rows:
        drifted = list(report["drifted"])
        if len(drifted) >= thresholds.drifted_features:
            reasons.append(f"feature drift: {', '.join(drifted)}")
        prediction = report.get("prediction")
        if thresholds.prediction_drift and prediction and prediction.get("drifted"):
            reasons.append("prediction drift")
    metric = result.metric
    if thresholds.metric_drop is not None and metric is not None:
        name = metric["metric"]
        full = [p for p in metric["points"] if p["rows"] == metric["window"]]
        if len(full) >= 2:
            first, last = full[0][name], full[-1][name]
            change = first - last if name == "accuracy" else last - first  # accuracy falls, RMSE rises
            worse = change / max(abs(first), 1e-12)
            if worse >= thresholds.metric_drop:
                reasons.append(f"live {name} {last:.4g}, {worse:.0%} worse than its first window ({first:.4g})")
    return reasons


def thresholds_of(registry: ModelRegistry | None, name: str | None) -> MonitoringSpec:
    """The monitoring thresholds of the job that made `name`'s champion (its `job.yaml`),
    or the defaults where there is no such job."""
    if registry is None or name is None:
        return MonitoringSpec()
    champion = registry.version(name)
    if champion.run_id is None:
        return MonitoringSpec()
    path = registry.run_directory(champion.run_id) / JOB_FILE
    if not path.is_file():
        return MonitoringSpec()
    return JobSpec.from_yaml_text(path.read_text(), where=str(path)).monitoring


def retrain_command(
    name: str,
    registry: ModelRegistry,
    log_dir: str | Path,
    thresholds: MonitoringSpec,
    *,
    output: Path,
    promote: bool,
    canary: float | None,
    python: str = sys.executable,
) -> list[str]:
    """The `automl retrain` command line a watcher submits (`python` runs it: on a
    cluster, the Python of the job's environment); its run directory is under `output`."""
    run_dir = Path(output).resolve() / f"retrain-{time.strftime('%Y%m%d-%H%M%S')}"
    command = [python, "-m", "automl.cli", "retrain", name, "--registry", registry.location,
               "--log-dir", str(Path(log_dir).resolve()), "--cooldown-s", str(thresholds.retrain_cooldown_s),
               "--output", str(run_dir), "--quiet"]  # fmt: skip
    if promote:
        command.append("--promote")
    if canary is not None:
        command += ["--canary", str(canary)]
    return command


def start_local_retrain(command: list[str], output: Path) -> str:
    """Start `command` as a local process, its output in a log file under `output`; return
    the log's path. (On a cluster, `automl.cluster.submit.submit_entrypoint` submits it
    as a Ray job instead.)"""
    output.mkdir(parents=True, exist_ok=True)
    log = output / f"retrain-{time.strftime('%Y%m%d-%H%M%S')}.log"
    with log.open("w") as handle:  # the child keeps its own copy of the descriptor
        subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    return str(log)


@dataclass
class WatchCheck:
    """One check of a watch: what tripped, and the retrain it submitted (or why not)."""

    checked_at: float
    rows: int
    reasons: list[str]
    submitted: str | None = None
    held_back: str | None = None


def check_and_retrain(
    registry: ModelRegistry,
    name: str,
    result: MonitorResult,
    thresholds: MonitoringSpec,
    submit: Callable[[], str] | None,
    *,
    now: float | None = None,
) -> WatchCheck:
    """Judge `result`; when it trips and `submit` is given, submit a retrain unless one was
    submitted or ran within the cooldown (recorded in the registry first, so a crash right
    after cannot submit twice)."""
    now = time.time() if now is None else now
    reasons = tripped(result, thresholds)
    check = WatchCheck(now, result.report["rows"], reasons)
    if not reasons or submit is None:
        return check
    tags: dict[str, Any] = registry.client.get_registered_model(name).tags or {}
    last = max(float(tags.get(REQUESTED_TAG, 0) or 0), float(tags.get(LAST_RETRAIN_TAG, 0) or 0))
    if now - last < thresholds.retrain_cooldown_s:
        wait = thresholds.retrain_cooldown_s - (now - last)
        check.held_back = f"a retrain was submitted or ran {now - last:.0f} s ago; the cooldown ends in {wait:.0f} s"
        return check
    registry.client.set_registered_model_tag(name, REQUESTED_TAG, str(now))
    check.submitted = submit()
    return check


__all__ = [
    "REQUESTED_TAG",
    "WatchCheck",
    "check_and_retrain",
    "retrain_command",
    "start_local_retrain",
    "thresholds_of",
    "tripped",
]
