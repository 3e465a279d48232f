"""`automl retrain NAME`: a challenger trained on the champion's training table plus the
recent labelled rows of its serving log, judged against the champion on the newest
labelled rows (which neither saw), registered, and promoted only when it is better there.

The champion's job comes from its registry run (`job.yaml`, logged by `models register`
from the run directory), so a retrain repeats the job that made the champion. A
registered model's `automl.last_retrain` tag holds when it was last retrained; within
the cooldown a retrain is refused, so an alarm that keeps firing cannot loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.artifacts.run_directory import JOB_FILE
from automl.artifacts.store import load_model
from automl.data.ingest import read_table
from automl.errors import SpecError
from automl.evaluation.metrics import get_metric
from automl.job.registration import register_run
from automl.job.run import run_job
from automl.job.scoring import score_table
from automl.monitoring.traffic import read_traffic
from automl.registry import BETTER_TAG, ModelRegistry, RegisteredVersion
from automl.spec import JobSpec

LAST_RETRAIN_TAG = "automl.last_retrain"
#: seconds after a retrain during which another is refused (without --force)
COOLDOWN_S = 3600.0
#: the newest share of the labelled rows held out to compare champion and challenger
HOLDOUT_SHARE = 0.3
#: the challenger's training table (the champion's plus the logged rows), in its run directory
TRAIN_FILE = "train.parquet"


@dataclass
class RetrainResult:
    """What a retrain did: the challenger, both models' scores on the held-out rows
    (None without any), and whether the challenger became the champion."""

    challenger: RegisteredVersion
    champion: RegisteredVersion
    metric: str
    champion_score: float | None
    challenger_score: float | None
    held_out_rows: int
    added_rows: int
    promoted: bool
    run_dir: str
    notes: list[str]


def retrain(
    registry: ModelRegistry,
    name: str,
    *,
    log_dir: str | Path | None = None,
    output: str | Path | None = None,
    promote: bool = False,
    canary: float | None = None,
    force: bool = False,
    cooldown_s: float = COOLDOWN_S,
    holdout_share: float = HOLDOUT_SHARE,
    time_budget_s: float | None = None,
    show_progress: bool = True,
) -> RetrainResult:
    """Retrain `name`'s champion as described in the module's note. A challenger better
    on the held-out rows is promoted (`promote`), or else rolled out as a canary taking
    `canary` of the requests (`automl serve NAME` follows it).

    Raises:
        SpecError: no such model, no job recorded for the champion, or within the cooldown.
        AutoMLError: anything the job itself refuses (its table gone, for one).
    """
    if canary is not None and not 0 < canary <= 1:  # refused before the job, not after it
        raise SpecError(f"--canary: a share in (0, 1], got {canary}")
    champion = registry.version(name)
    _check_cooldown(registry, name, cooldown_s, force)
    spec = _champion_spec(registry, champion)
    notes: list[str] = []
    model = load_model(registry.model_dir(name))
    frame = read_table(spec.data.train)
    added, held_out = _recent_rows(log_dir, model.schema, holdout_share, notes)
    weight = spec.data.weight_column
    if weight is not None and len(added):  # logged rows carry features only
        added = added.assign(**{weight: 1.0})
        notes.append(f"the logged rows added to training weigh 1 ({weight} is not in the serving log)")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(output or f"runs/{name}-retrain-{stamp}")
    run_dir.mkdir(parents=True, exist_ok=True)
    train_path = run_dir / TRAIN_FILE  # kept: the challenger's job.yaml names it, so a retrain of it adds to it
    pd.concat([frame, added], ignore_index=True).to_parquet(train_path, index=False)
    changes: dict[str, Any] = {"data": spec.data.model_copy(update={"train": str(train_path), "test": None})}
    if time_budget_s is not None:
        changes["budget"] = spec.budget.model_copy(update={"time_s": time_budget_s})
    retrained = spec.model_copy(update={**changes, "output": str(run_dir), "name": f"{name}-retrain"})
    _, location = run_job(retrained, run_dir, show_progress=show_progress)
    metric = get_metric(model.metric)
    champion_score = challenger_score = None
    if len(held_out):
        champion_score = score_table(model, held_out).get(metric.name)
        challenger_score = score_table(load_model(Path(location) / "model"), held_out).get(metric.name)
    else:
        notes.append("no labelled rows held out: the challenger is registered, not promoted")
    challenger = register_run(registry, location, name)
    registry.client.set_registered_model_tag(name, LAST_RETRAIN_TAG, str(time.time()))
    better = (
        champion_score is not None
        and challenger_score is not None
        and metric.is_better(challenger_score, champion_score)
    )
    if champion_score is not None:  # `models promote` refuses a challenger found no better here
        held = {BETTER_TAG: str(better).lower(), "automl.holdout_rows": str(len(held_out)),
                "automl.holdout_champion": f"v{champion.version} {champion_score}",
                "automl.holdout_challenger": str(challenger_score)}  # fmt: skip
        for key, value in held.items():
            registry.client.set_model_version_tag(name, str(challenger.version), key, value)
        challenger = registry.version(name, challenger.version)
    if promote and better:
        challenger = registry.promote(name, challenger.version)
    elif better and canary is not None:
        registry.set_rollout(name, "canary", canary)
        notes.append(f"v{challenger.version} takes {canary:.0%} of {name}'s requests as a canary")
    elif (promote or canary is not None) and champion_score is not None:
        notes.append(f"the challenger is not better on the held-out rows: {name} v{champion.version} stays champion")
    return RetrainResult(
        challenger=challenger,
        champion=registry.version(name),
        metric=metric.name,
        champion_score=champion_score,
        challenger_score=challenger_score,
        held_out_rows=len(held_out),
        added_rows=len(added),
        promoted=bool(promote and better),
        run_dir=str(location),
        notes=notes,
    )


def _check_cooldown(registry: ModelRegistry, name: str, cooldown_s: float, force: bool) -> None:
    tags = registry.client.get_registered_model(name).tags or {}
    last = float(tags.get(LAST_RETRAIN_TAG, "0") or 0)
    waited = time.time() - last
    if not force and waited < cooldown_s:
        raise SpecError(
            f"{name} was retrained {waited / 60:.0f} min ago; the cooldown is {cooldown_s / 60:.0f} min "
            "(--force retrains anyway)"
        )


def _champion_spec(registry: ModelRegistry, champion: RegisteredVersion) -> JobSpec:
    if champion.run_id is None:
        raise SpecError(f"{champion.name} v{champion.version} has no run: register it from its run directory")
    run_root = registry.run_directory(champion.run_id)
    path = run_root / JOB_FILE
    if not path.is_file():
        raise SpecError(
            f"{champion.name} v{champion.version} was registered without its job ({JOB_FILE}): "
            "register the run directory, not the model alone, to retrain it"
        )
    return JobSpec.from_yaml_text(path.read_text(), where=str(path))


def _recent_rows(
    log_dir: str | Path | None, schema: Any, holdout_share: float, notes: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The labelled rows of the serving log, oldest first, split by time into the rows
    added to training and the newest `holdout_share` held out; with the target column."""
    empty = pd.DataFrame()
    if log_dir is None:
        return empty, empty
    traffic = read_traffic(log_dir)
    times, _, actual = traffic.labelled()
    if not actual:
        notes.append("the serving log holds no labelled rows")
        return empty, empty
    if schema.hashed:
        notes.append("the model hashes columns, and the log holds them hashed: its rows are not reused")
        return empty, empty
    labelled = {r for r in traffic.feedback}
    counts = pd.Series(traffic.request_ids).value_counts()
    positions = [i for i, r in enumerate(traffic.request_ids) if r in labelled and counts[r] == 1]
    rows = traffic.rows.iloc[positions].reset_index(drop=True)
    rows[schema.target] = actual
    order = np.argsort(times, kind="stable")
    rows = rows.iloc[order].reset_index(drop=True)
    held = int(round(holdout_share * len(rows)))
    return rows.iloc[: len(rows) - held], rows.iloc[len(rows) - held :].reset_index(drop=True)


__all__ = ["COOLDOWN_S", "HOLDOUT_SHARE", "RetrainResult", "retrain"]
