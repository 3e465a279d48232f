"""Follows the search from the driver: feeds its ledger and shows a live progress line.

`SearchMonitor` is a Tune callback, so it sees every Tune trial the Tuner starts,
including those that crash their worker or are stopped at the deadline and never reach
the trial store, and tells the `TrialLedger`. A Tune trial carries a batch of
configurations (see `batching`); the progress line counts configurations, which are what
users call trials.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial
from ray.tune.stopper import Stopper
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from automl.evaluation.metrics import Metric
from automl.pipeline.trial import TrialStatus
from automl.search.batching_keys import BATCH_KEY, IDS_KEY, PARTIAL_KEY
from automl.search.ledger import TrialLedger

# Without a terminal, print a status line at most this often (logs stay readable).
PLAIN_INTERVAL_S = 5.0

#: a crashed trial's error is kept to its last line, at most this long: one leaderboard cell
MAX_ERROR_CHARS = 500


class SearchMonitor(Callback):
    """Tells `ledger` about every Tune trial; shows trials done / failed / running and the best score."""

    def __init__(
        self, ledger: TrialLedger, metric: Metric, *, budget_s: float | None, max_trials: int | None, show: bool
    ) -> None:
        self.ledger = ledger
        self.metric = metric
        self.budget_s = budget_s
        self.max_trials = max_trials
        self._started = time.monotonic()
        self._console: Console | None = Console(stderr=True)
        self._show = show
        self._progress: Progress | None = None
        self._task_id: TaskID | None = None
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
    def setup(
        self,
        stop: Stopper | None = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        self._started = time.monotonic()
        console = self._console or Console(stderr=True)
        if self._show and console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]search[/bold]"),
                BarColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            self._task_id = self._progress.add_task("", total=float(self.max_trials or self.budget_s or 1))
            self._progress.start()

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._batch_of(trial)

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        self.ledger.report(self._batch_of(trial), result.get("outcomes", []), result.get(PARTIAL_KEY))

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self.ledger.finish(self._batch_of(trial))
        self._refresh()

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self.ledger.crash(self._batch_of(trial), _error_line(trial))
        self._refresh()

    def on_trial_recover(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        """Tune retries a trial whose worker or node died (`FailureConfig`); say so in one line."""
        self.ledger.recover(self._batch_of(trial))
        if self._show:
            line = f"search: retrying a trial whose worker died: {_error_line(trial)}"
            if self._progress is not None:
                self._progress.console.print(line)
            else:
                print(line, file=sys.stderr, flush=True)

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        self._refresh()

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        self.ledger.end()
        self._refresh(force=True)
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # ------------------------------------------------------------------------------
    def summary_line(self) -> str:
        """Configurations done / failed / stopped / running, the best score and the time."""
        counts = self.ledger.counts()
        best = self.ledger.best(self.metric)
        shown = f"best {self.metric.name} {best[0]:.4f} ({best[1]})" if best else "no model yet"
        elapsed = time.monotonic() - self._started
        budget = f"/{self.budget_s:.0f}s" if self.budget_s else "s"
        stopped = counts[TrialStatus.STOPPED]
        stopped_part = f", {stopped} stopped" if stopped else ""
        return (
            f"{counts[TrialStatus.DONE]} done, {counts[TrialStatus.FAILED]} failed{stopped_part}, "
            f"{counts[TrialStatus.RUNNING]} running | {shown} | {elapsed:.0f}{budget}"
        )

    def _batch_of(self, trial: Trial) -> str:
        """The ledger's key for a Tune trial, its batch recorded the first time it is seen."""
        self.ledger.start(trial.trial_id, trial.config[IDS_KEY], trial.config[BATCH_KEY])
        return str(trial.trial_id)

    def _refresh(self, force: bool = False) -> None:
        if not self._show:
            return
        if self._progress is not None and self._task_id is not None:
            if self.max_trials:
                counts = self.ledger.counts()
                completed = float(sum(n for status, n in counts.items() if status is not TrialStatus.RUNNING))
            else:
                completed = time.monotonic() - self._started
            self._progress.update(self._task_id, completed=completed, description=self.summary_line())
            return
        now = time.monotonic()
        if force or now - self._last_plain >= PLAIN_INTERVAL_S:
            self._last_plain = now
            print(f"search: {self.summary_line()}", file=sys.stderr, flush=True)


def _error_line(trial: Trial) -> str:
    """The last line of a trial's error, which names the exception."""
    message = getattr(trial, "error_message", None) or ""
    if not message and getattr(trial, "error_file", None):
        try:
            with open(trial.error_file) as handle:
                message = handle.read()
        except OSError:
            message = ""
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "the trial's worker failed")[:MAX_ERROR_CHARS]
