"""Follows the search from the driver: a ledger of trials and a live progress line.

The ledger is a Tune callback, so it sees every Tune trial the Tuner starts, including
those that crash their worker or are stopped at the deadline and never reach the trial
store. A Tune trial carries a batch of configurations (see `batching`); progress counts
configurations, which are what users call trials.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from automl.evaluation.metrics import Metric
from automl.pipeline.trial import MODEL_KEY
from automl.search.batching_keys import BATCH_KEY, IDS_KEY

# Without a terminal, print a status line at most this often (logs stay readable).
PLAIN_INTERVAL_S = 5.0


@dataclass
class BatchRecord:
    """One Tune trial: its configurations and what became of each."""

    trial_id: str
    ids: list[str]
    configs: list[dict[str, Any]]
    status: str = "running"  # running | finished | crashed | stopped
    outcomes: list[tuple[str, float | None]] = field(default_factory=list)  # (done|failed|stopped, score)
    error: str | None = None


class SearchMonitor(Callback):
    """Records every Tune trial and shows trials done / failed / running and the best score."""

    def __init__(self, metric: Metric, budget_s: float | None, max_trials: int | None, show: bool) -> None:
        self.metric = metric
        self.budget_s = budget_s
        self.max_trials = max_trials
        self.records: dict[str, BatchRecord] = {}
        self.best_score = math.nan
        self.best_family: str | None = None
        self.first_done_at: float | None = None  # time.monotonic() of the first finished configuration
        self.retried = 0  # Tune trials run again after their worker or node died
        self._started = time.monotonic()
        self._console = Console(stderr=True)
        self._show = show
        self._progress: Progress | None = None
        self._task_id: Any = None
        self._last_plain = 0.0

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks with the experiment state; consoles don't pickle.
        state = dict(self.__dict__)
        state["_console"] = state["_progress"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._console = Console(stderr=True)

    # Tune callback hooks ---------------------------------------------------------
    def setup(self, **info: Any) -> None:
        self._started = time.monotonic()
        if self._show and self._console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]search[/bold]"),
                BarColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self._console,
                transient=False,
            )
            self._task_id = self._progress.add_task("", total=float(self.max_trials or self.budget_s or 1))
            self._progress.start()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        record = self._record(trial)
        record.outcomes = [(str(s), v) for s, v in result.get("outcomes", [])]
        for index, (status, score) in enumerate(record.outcomes):
            if status == "done" and score is not None:
                if self.first_done_at is None:
                    self.first_done_at = time.monotonic()
                if self.metric.is_better(score, self.best_score):
                    self.best_score = score
                    self.best_family = _family_of(record.configs[index])

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial).status = "finished"
        self._refresh()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record = self._record(trial)
        record.status = "crashed"
        record.error = _error_line(trial)
        self._refresh()

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """Tune retries a trial whose worker or node died (`FailureConfig`); say so in one line."""
        self.retried += 1
        if self._show:
            line = f"search: retrying a trial whose worker died: {_error_line(trial)}"
            if self._progress is not None:
                self._progress.console.print(line)
            else:
                print(line, file=sys.stderr, flush=True)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._refresh()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        for record in self.records.values():
            if record.status == "running":
                record.status = "stopped"
                record.error = "stopped at the time budget before it finished"
        self._refresh(force=True)
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # ------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Configurations by state: done, failed, stopped, running."""
        counts = {"done": 0, "failed": 0, "running": 0, "stopped": 0}
        for record in self.records.values():
            if record.status == "running":
                counts["running"] += len(record.configs)
            elif record.status == "crashed":
                if len(record.configs) == 1:  # a crashed batch is retried one by one
                    counts["failed"] += 1
            elif record.status == "stopped" and not record.outcomes:
                counts["stopped"] += len(record.configs)
            else:
                for status, _ in record.outcomes:
                    counts[status] += 1
        return counts

    def summary_line(self) -> str:
        c = self.counts()
        best = (
            f"best {self.metric.name} {self.best_score:.4f} ({self.best_family})"
            if self.best_family
            else "no model yet"
        )
        elapsed = time.monotonic() - self._started
        budget = f"/{self.budget_s:.0f}s" if self.budget_s else "s"
        stopped = f", {c['stopped']} stopped" if c["stopped"] else ""
        return (
            f"{c['done']} done, {c['failed']} failed{stopped}, {c['running']} running | {best} | {elapsed:.0f}{budget}"
        )

    def _record(self, trial: Any) -> BatchRecord:
        if trial.trial_id not in self.records:
            configs = list(trial.config[BATCH_KEY])
            self.records[trial.trial_id] = BatchRecord(trial.trial_id, list(trial.config[IDS_KEY]), configs)
        return self.records[trial.trial_id]

    def _refresh(self, force: bool = False) -> None:
        if not self._show:
            return
        if self._progress is not None:
            c = self.counts()
            done = c["done"] + c["failed"] + c["stopped"] if self.max_trials else time.monotonic() - self._started
            self._progress.update(self._task_id, completed=done, description=self.summary_line())
            return
        now = time.monotonic()
        if force or now - self._last_plain >= PLAIN_INTERVAL_S:
            self._last_plain = now
            print(f"search: {self.summary_line()}", file=sys.stderr, flush=True)


def _family_of(config: dict[str, Any]) -> str:
    return str(config.get(MODEL_KEY))


def _error_line(trial: Any) -> str:
    message = getattr(trial, "error_message", None) or ""
    if not message and getattr(trial, "error_file", None):
        try:
            with open(trial.error_file) as handle:
                message = handle.read()
        except OSError:
            message = ""
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "the trial's worker failed")[:500]
