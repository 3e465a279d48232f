"""One benchmark run: a strategy searching one table with one seed, and its trace.

Every run of a benchmark sees the same table, folds (seeded with `FOLD_SEED`, whatever
the run's seed), model families, budget and CPU share; only the strategy and its
sampler's seed differ. A run writes `trace.parquet` (one row per configuration: when it
ended, what it was, its fold scores and time, its score and the best so far) and then
`meta.json`, which marks the run finished: a benchmark run again skips it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ray.tune import Callback
from ray.tune.experiment import Trial
from ray.tune.stopper import Stopper

from automl.benchmark.suite import SuiteTable
from automl.data.splits import Folds
from automl.evaluation.metrics import Metric
from automl.files import atomic_path, atomic_write, json_text
from automl.job.preparation import prepare, trial_memory_bytes
from automl.models.fixed_rounds import fixed_rounds
from automl.pipeline.trial import TrialStatus, split_config
from automl.search.batching_keys import BATCH_KEY, IDS_KEY
from automl.search.runner import SearchSettings, run_search
from automl.search.strategies import Strategy
from automl.spec import JobSpec

#: the folds' and models' seed in every run: runs differ only in the strategy's seed
FOLD_SEED = 0
TRACE = "trace.parquet"
META = "meta.json"
#: the trace's columns, in order
TRACE_COLUMNS = (
    "trial",
    "config_id",
    "family",
    "params",
    "status",
    "score",
    "folds_done",
    "fold_scores",
    "seconds",
    "time_s",
    "best_so_far",
)


@dataclass(frozen=True)
class RunSettings:
    """What every run of a benchmark shares."""

    time_budget_s: float | None = None
    max_trials: int | None = None
    cv_folds: int = 5
    cpus_per_run: float = 1.0
    cpus_per_trial: float = 1.0
    #: start from the portfolio and the families' defaults (off: each strategy starts cold)
    portfolio: bool = False
    #: boosting families stop early on an inner split (off: their rounds are searched)
    early_stopping: bool = False
    models: tuple[str, ...] | None = None

    def budget_text(self) -> str:
        return f"{self.time_budget_s:g} s" if self.time_budget_s is not None else f"{self.max_trials} trials"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunKey:
    table: str
    strategy: str
    seed: int

    def directory(self, root: Path) -> Path:
        return root / "runs" / _safe(self.table) / _safe(self.strategy) / f"seed-{self.seed}"

    def __str__(self) -> str:
        return f"{self.table} / {self.strategy} / seed {self.seed}"


def is_finished(key: RunKey, root: Path) -> bool:
    return (key.directory(root) / META).is_file()


def run_one(table: SuiteTable, strategy: Strategy, seed: int, settings: RunSettings, root: Path) -> dict[str, Any]:
    """Run `strategy` on `table` with `seed`; write its trace and metadata; return the metadata.

    Ray must be running. The run's own process holds no CPU: its trials hold
    `settings.cpus_per_trial` each, at most `settings.cpus_per_run` together.
    """
    key = RunKey(table.name, strategy.name, seed)
    directory = key.directory(root)
    directory.mkdir(parents=True, exist_ok=True)
    frame = table.read()
    spec = JobSpec.model_validate(
        {
            "name": table.name,
            "data": {"train": table.source, "target": table.target},
            "task": table.task,
            "metric": table.metric,
            "search": {
                "cv_folds": settings.cv_folds,
                "seed": FOLD_SEED,
                "models": list(settings.models) if settings.models else None,
                "portfolio": "default" if settings.portfolio else "none",
            },
            "resources": {"cpus_per_trial": settings.cpus_per_trial},
        }
    )
    prepared = prepare(frame, spec)
    data = prepared.data
    if not settings.early_stopping:
        data.families = {name: fixed_rounds(family) for name, family in data.families.items()}
    recorder = TraceRecorder()
    search = run_search(
        data,
        SearchSettings(
            strategy=strategy,
            seed=seed,
            max_trials=settings.max_trials,
            time_budget_s=settings.time_budget_s,
            cpus_per_trial=settings.cpus_per_trial,
            keep_models=1,
            show_progress=False,
            # a trial budget is run one configuration per Tune trial, each told before the
            # next is asked, so that a seeded strategy proposes the same sequence again
            target_batch_s=0.0 if settings.max_trials is not None else SearchSettings.target_batch_s,
            max_cpus=settings.cpus_per_run,
            trial_memory_bytes=trial_memory_bytes(data.X),
            portfolio=prepared.portfolio if settings.portfolio else [],
            start_points=settings.portfolio,
        ),
        callbacks=[recorder],
    )
    search.close()
    trace = recorder.trace(prepared.metric)
    with atomic_path(directory / TRACE) as tmp:
        trace.to_parquet(tmp, index=False)
    meta = {
        "table": table.name,
        "strategy": strategy.name,
        "seed": seed,
        "settings": settings.to_dict(),
        "task": prepared.schema.task,
        "metric": prepared.metric.name,
        "greater_is_better": prepared.metric.greater_is_better,
        "n_rows": prepared.n_rows,
        "n_columns": int(data.X.shape[1]),
        "n_classes": data.n_classes,
        "families": list(data.families),
        "traits": None if data.traits is None else asdict(data.traits),  # the feature choices searched
        "folds": len(data.folds),
        "dummy_score": dummy_score(data.y, data.folds, prepared.metric, data.schema.task, data.n_classes),
        "cpu_share": settings.cpus_per_run,
        "concurrency": search.concurrency,
        "sampled": search.sampled,
        "random_fallback": strategy.random_fallback,
        "scheduler": strategy.scheduler is not None,
        "space": strategy.space,
        "configurations": len(trace),
        "done": int((trace["status"] == TrialStatus.DONE.value).sum()),
        "best": _best(trace["score"], prepared.metric),
        "wall_s": search.wall_s,
        "finished_at": time.time(),
    }
    atomic_write(directory / META, json_text(meta))  # last: marks the run finished
    return meta


def read_run(key: RunKey, root: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """A finished run's metadata and trace."""
    directory = key.directory(root)
    return json.loads((directory / META).read_text()), pd.read_parquet(directory / TRACE)


def dummy_score(y: np.ndarray, folds: Folds, metric: Metric, task: str, n_classes: int) -> float:
    """The score a model that ignores the features gets on the same folds: the training
    part's class shares (classification) or mean (regression). The normalised score's 0."""
    scores = []
    for train, valid in folds.splits:
        if task == "regression":
            prediction = np.full(len(valid), float(np.mean(y[train])))
        else:
            shares = np.bincount(y[train].astype(int), minlength=n_classes) / len(train)
            prediction = np.tile(shares, (len(valid), 1))
        scores.append(metric(y[valid], prediction, n_classes))
    return float(np.mean(scores))


class TraceRecorder(Callback):
    """A Tune callback that notes when each configuration's result arrived (the search's
    own clock), with what its trial reported: the run's trace."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._trials: dict[str, dict[str, Any]] = {}  # Tune trial id -> its batch and last result

    def setup(
        self,
        stop: Stopper | None = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        self._started = time.monotonic()

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._entry(trial)

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        entry = self._entry(trial)
        entry["result"], entry["time_s"] = result, time.monotonic() - self._started

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        entry = self._entry(trial)
        entry["crashed"], entry["time_s"] = True, time.monotonic() - self._started

    def _entry(self, trial: Trial) -> dict[str, Any]:
        if trial.trial_id not in self._trials:
            self._trials[trial.trial_id] = {
                "ids": list(trial.config[IDS_KEY]),
                "configs": list(trial.config[BATCH_KEY]),
                "result": None,
                "crashed": False,
                "time_s": None,
            }
        return self._trials[trial.trial_id]

    def trace(self, metric: Metric) -> pd.DataFrame:
        """One row per configuration, in the order results arrived, with the best so far."""
        rows: list[dict[str, Any]] = []
        for entry in self._trials.values():
            rows.extend(_rows(entry))
        rows.sort(key=lambda row: (math.inf if row["time_s"] is None else row["time_s"], row["config_id"]))
        best = math.nan
        for position, row in enumerate(rows):
            row["trial"] = position
            if row["status"] == TrialStatus.DONE.value and metric.is_better(row["score"], best):
                best = row["score"]
            row["best_so_far"] = best
        frame = pd.DataFrame(rows, columns=list(TRACE_COLUMNS))
        return frame.astype({"score": "float64", "seconds": "float64", "time_s": "float64", "best_so_far": "float64"})


def _rows(entry: dict[str, Any]) -> Iterable[dict[str, Any]]:
    result = entry["result"] or {}
    outcomes = result.get("outcomes") or []
    seconds = result.get("seconds") or []
    fold_scores = result.get("fold_scores") or []
    for index, (config_id, config) in enumerate(zip(entry["ids"], entry["configs"], strict=True)):
        family, params = split_config(config)
        if index < len(outcomes):
            status, score = outcomes[index]
            status = TrialStatus(status).value
        else:  # never reported: its worker crashed, or the budget ended it first
            status, score = (TrialStatus.FAILED if entry["crashed"] else TrialStatus.STOPPED).value, None
        folds = list(fold_scores[index]) if index < len(fold_scores) and fold_scores[index] else []
        yield {
            "config_id": config_id,
            "family": family,
            "params": json.dumps(params, sort_keys=True, default=str),
            "status": status,
            "score": math.nan if score is None or status != TrialStatus.DONE.value else float(score),
            "folds_done": len(folds),
            "fold_scores": [float(s) for s in folds],
            "seconds": math.nan if index >= len(seconds) or seconds[index] is None else float(seconds[index]),
            "time_s": entry["time_s"],
        }


def _best(scores: pd.Series, metric: Metric) -> float | None:
    finite = scores.dropna()
    if finite.empty:
        return None
    return float(finite.max() if metric.greater_is_better else finite.min())


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
