"""One AutoML job, end to end: data -> search -> final model -> run directory.

The CLI, the Python API and (later) Ray Jobs all come through here, so a job behaves
the same however it was started. Everything a user can get wrong is checked before any
output is written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.artifacts.run_directory import JOB_FILE, JOURNAL_DIR, RunDirectory
from automl.artifacts.store import save_model
from automl.budget import Budget
from automl.data.ingest import read_table
from automl.data.splits import HOLDOUT_FRACTION, Folds, make_folds
from automl.data.target import check_scorable, encode_known, positive_class
from automl.ensemble.builder import ENSEMBLE_MIN_S, ensemble_seconds, validated_rows
from automl.ensemble.final import build_final_model
from automl.errors import DataError, SpecError
from automl.evaluation.leaderboard import leaderboard_frame
from automl.evaluation.report import write_report
from automl.job.preparation import SEARCH_START_S, Prepared, choose_floor, finish_seconds, prepare, trial_memory_bytes
from automl.pipeline.model import TabularModel
from automl.spec import JobSpec

# The ensemble's share of the budget at most: beyond it, it works on fewer rows and rounds.
ENSEMBLE_MAX_SHARE = 0.15
# Without a time budget (max_trials only), a trial stops after this long, so that one
# hung fit cannot block the job forever.
DEFAULT_TRIAL_TIMEOUT_S = 600.0

# Modules a new local Ray's worker processes import as they start, before work arrives.
# Ray starts a worker per CPU as the driver connects; the trial store's actor and Tune's
# trial actors take them ready-made (see runner._trial_actors_on_idle_workers): in a
# scratch Tune run the first result came 0.14 s after fit() began, against 3.1 s on new
# workers. Ray reads the setting only when it starts, so only a Ray a job starts has it.
WORKER_PRELOAD = ("automl.search.worker",)


@dataclass
class FitResult:
    """What a job produced, in memory."""

    spec: JobSpec
    model: TabularModel
    leaderboard: pd.DataFrame
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    best_single: TabularModel | None = None
    budget: Budget = field(default_factory=lambda: Budget(None))


@contextlib.contextmanager
def ray_session(
    address: str | None = None, num_cpus: int | None = None, preload: tuple[str, ...] = ()
) -> Iterator[None]:
    """Use the running Ray, connect to `address`, or start an embedded local instance
    ("local": always a new one, never a cluster that `ray start` left running).

    A local instance's workers import `preload` as they start (a search passes
    `WORKER_PRELOAD`). Only a Ray instance started here is shut down here.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    if address == "local" or (address is None and not os.environ.get("RAY_ADDRESS")):  # in a Ray job: join its cluster
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
        if preload:
            kwargs["_system_config"] = {"preload_python_modules": list(preload)}
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = address or "a new local instance"
        raise SpecError(f"cannot start or reach Ray at {where}: {str(exc).strip().splitlines()[0]}") from None
    try:
        yield
    finally:
        ray.shutdown()


def fit_table(
    frame: pd.DataFrame,
    spec: JobSpec,
    *,
    show_progress: bool = True,
    budget: Budget | None = None,
    journal: str | None = None,
    resume: bool = False,
    before_search: Callable[[], None] | None = None,
    test: pd.DataFrame | None = None,
) -> FitResult:
    """Run the search on an in-memory table and build the final model.

    Args:
        frame: the training table, target column included.
        spec: the job.
        show_progress: draw the live progress line on stderr.
        budget: the job's budget, started when the command started (default: now).
        journal: where the search journals its trials (a path or URI), so it can resume.
        resume: continue the search in `journal` rather than start a new one.
        before_search: called once the input is checked, just before the search starts.
        test: a held-out table, checked before the search (scored by `run_job`).

    Raises:
        AutoMLError: bad input (spec, data), a budget too small for the table, or no
            trial produced a model.
    """
    budget = budget or Budget(spec.budget.time_s)
    with budget.step("prepare"):
        prepared = prepare(frame, spec, test)
    data, metric, notes = prepared.data, prepared.metric, prepared.notes

    from automl.search import SearchSettings, run_search  # Ray-heavy: import on use

    with contextlib.ExitStack() as ray_context:
        with budget.step("ray_start"):
            ray_context.enter_context(ray_session(spec.resources.address, preload=WORKER_PRELOAD))
        with budget.step("fallback_timing"):
            choose_floor(prepared, spec.budget.time_s)
            _holdout_when_folds_do_not_fit(
                budget, prepared, spec, 0 if test is None else len(test), _journaled_splits(journal) if resume else None
            )
        _plan_budget(budget, prepared, spec, 0 if test is None else len(test))
        if before_search is not None:
            before_search()
        with budget.step("search"):
            settings = SearchSettings(
                strategy=spec.search.strategy,
                seed=spec.search.seed,
                max_trials=spec.budget.max_trials,
                time_budget_s=budget.grant("search") if budget.limited else None,
                cpus_per_trial=spec.resources.cpus_per_trial,
                keep_models=max(spec.ensemble.top_k, 1),
                show_progress=show_progress,
                trial_timeout_s=_trial_timeout(spec),
                max_retries=spec.search.max_retries,
                max_cpus=spec.resources.max_cpus,
                journal=journal,
                resume=resume,
                fingerprint=prepared.fingerprint,
                trial_memory_bytes=trial_memory_bytes(data.X),
                floor_config=prepared.floor_config,
            )
            search = run_search(data, settings)
        try:
            with budget.step("ensemble"):
                final = build_final_model(
                    search.rows,
                    search.fold_models,
                    data,
                    metric,
                    method=spec.ensemble.method,
                    top_k=spec.ensemble.top_k,
                    final_members=spec.ensemble.final_members,
                    max_inference_ms_per_row=spec.ensemble.max_inference_ms_per_row,
                    budget=budget,
                    sample=prepared.sample,
                )
        finally:
            search.close()  # the store held the candidates' fold models: the members are fetched
    notes.extend(final.notes)
    best_row, plan = final.best_row, final.plan
    board = leaderboard_frame(search.rows, metric, ensemble=plan)
    finished = search.finished
    schema = prepared.schema
    summary = {
        "name": spec.name,
        "task": schema.task,
        "metric": metric.name,
        "target": schema.target,
        "classes": schema.to_dict()["classes"],
        "positive_class": positive_class(schema),
        "positive_class_reason": prepared.positive_class_reason,
        "n_rows": prepared.n_rows,
        "n_features": len(schema.features),
        "n_trials": len(finished),
        "n_failed": sum(r.status == "failed" for r in finished),
        "n_stopped": sum(r.status == "stopped" for r in search.rows),
        "n_retried": search.retried,
        "concurrent_trials": search.concurrency,
        "best_model": best_row.family,
        "best_trial": best_row.trial_id,
        "best_params": best_row.params,
        "best_cv_score": best_row.outcome.score,
        "ensemble_method": plan.method,
        "ensemble_requested": plan.requested,
        "ensemble_cv_score": plan.cv_score,
        "ensemble_score_kind": "nested cv" if plan.method != "best" else "cv",
        "ensemble_reason": plan.reason,
        "ensemble_nested_scores": plan.nested_scores,
        "ensemble_members": [
            {"trial_id": m.trial_id, "model": m.family, "weight": round(w, 4)}
            for m, w in zip(final.model.members, final.model.weights, strict=True)
        ],
        "final_members": final.final_members,
        "inference_ms": {k: round(v, 4) for k, v in final.inference.items()},
        "strategy": spec.search.strategy,
        "seed": spec.search.seed,
        "cv_folds": len(data.folds),
        "time_budget_s": spec.budget.time_s,
        "max_trials": spec.budget.max_trials,
        "search_wall_s": round(search.wall_s, 2),
        "first_result_s": None if search.first_result_s is None else round(search.first_result_s, 2),
        "ensemble_wall_s": round(budget.spent.get("ensemble", 0.0), 2),
        "notes": notes,
        "spec": spec.model_dump(mode="json"),
    }
    summary["budget"] = budget.report()
    summary["wall_s"] = round(budget.elapsed(), 2)
    return FitResult(spec, final.model, board, summary, notes, final.best_single, budget)


def _plan_budget(budget: Budget, prepared: Prepared, spec: JobSpec, test_rows: int) -> None:
    """Keep the ensemble's and the last steps' shares back from the search, and refuse up
    front a budget that cannot fit the cheapest model with them."""
    if not budget.limited:
        return
    ensemble_s = ensemble_seconds(
        n_rows=len(validated_rows(prepared.data.folds)),
        n_classes=prepared.data.n_classes,
        n_candidates=spec.ensemble.top_k + len(prepared.data.families),
        metric=prepared.metric,
        method=spec.ensemble.method,
        cap_s=ENSEMBLE_MAX_SHARE * float(spec.budget.time_s or 0.0),
    )
    finish_s = finish_seconds(prepared, test_rows)
    floor_s = prepared.floor_s
    family = prepared.floor_config["model"]
    # the ensemble can shrink to its least (fewer rows and rounds): only that is required;
    # and with no time to start the search, the fallback is fitted here instead
    budget.require(
        floor_s + ENSEMBLE_MIN_S + finish_s,
        f"{budget.elapsed():.1f}s spent so far starting Ray and reading the data, about {floor_s:.1f}s for the "
        f"cheapest model ({family}) on {len(prepared.data.folds)} fold(s), {ENSEMBLE_MIN_S + finish_s:.1f}s for "
        "the ensemble and saving",
    )
    spare = budget.left() - (SEARCH_START_S + floor_s + finish_s)
    budget.reserve("ensemble", max(ENSEMBLE_MIN_S, min(ensemble_s, spare)))
    budget.reserve("finish", finish_s)


def _journaled_splits(journal: str | None) -> int | None:
    """How many splits the journal's trials were validated on (None: no journal yet)."""
    from automl.search.journal import SearchJournal

    if journal is None or not SearchJournal(journal).exists():
        return None
    splits = SearchJournal(journal).meta().get("n_splits")
    return None if splits is None else int(splits)


def _holdout_when_folds_do_not_fit(
    budget: Budget, prepared: Prepared, spec: JobSpec, test_rows: int, journaled_splits: int | None = None
) -> None:
    """Validate on a holdout split when the cheapest model cannot be fitted on every fold
    in the budget but can be on one: a model scored on a holdout beats no model. A resumed
    search keeps the split its journal's trials were validated on."""
    folds = prepared.data.folds
    if len(folds) == 1 or journaled_splits == len(folds):
        return
    after = SEARCH_START_S + ENSEMBLE_MIN_S + finish_seconds(prepared, test_rows)
    if journaled_splits != 1 and (not budget.limited or after + prepared.floor_s <= budget.left()):
        return
    holdout = make_folds(
        prepared.data.y, classification=prepared.schema.task != "regression", n_folds=1, seed=spec.search.seed,
        holdout=True,
    )  # fmt: skip
    check_scorable(prepared.data.y, holdout, prepared.schema, prepared.metric.name, prepared.metric.needs_both_classes)
    holdout_s = prepared.floor_s * _fitted_rows(holdout) / _fitted_rows(folds)
    if journaled_splits != 1 and after + holdout_s > budget.left():
        return  # not even one split fits: _plan_budget refuses the budget
    prepared.notes.append(
        f"validation: a holdout of {HOLDOUT_FRACTION:.0%} of the rows instead of {len(folds)} folds, which would "
        f"take the cheapest model about {prepared.floor_s:.0f}s of the {budget.left():.0f}s left"
    )
    prepared.data.folds = holdout
    prepared.floor_s = holdout_s


def _fitted_rows(folds: Folds) -> int:
    """Rows a configuration fits and predicts over all the splits (its cost goes with them)."""
    return sum(len(train) + len(valid) for train, valid in folds.splits)


def _trial_timeout(spec: JobSpec) -> float | None:
    """The per-trial limit: the spec's, else a default when no time budget bounds the job."""
    if spec.search.trial_timeout_s is not None:
        return spec.search.trial_timeout_s
    return None if spec.budget.time_s is not None else DEFAULT_TRIAL_TIMEOUT_S


def run_job(
    spec: JobSpec,
    output: str | Path | None = None,
    *,
    show_progress: bool = True,
    resume: bool = False,
    budget: Budget | None = None,
) -> tuple[FitResult, str]:
    """Load the spec's data, fit, and write the run directory.

    The run directory (a path or a URI) gets `job.yaml` and the search's journal before
    the first trial, so a job whose driver is lost resumes with `resume_job`.

    Returns:
        The result and the run directory (model/, leaderboard.csv, summary.json, report.html).
    """
    budget = budget or Budget(spec.budget.time_s)
    frame = read_table(spec.data.train)
    test = read_table(spec.data.test) if spec.data.test else None
    location = str(output or spec.output or f"runs/{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir = RunDirectory(location)
    run_dir.check_writable()

    def write_job_file() -> None:  # once the input is known to be valid: bad input writes nothing
        run_dir.write_text(JOB_FILE, _resumable_spec(spec, location))

    result = fit_table(
        frame,
        spec,
        show_progress=show_progress,
        budget=budget,
        journal=run_dir.child(JOURNAL_DIR),
        resume=resume,
        before_search=None if resume else write_job_file,
        test=test,
    )
    with budget.step("finish"):
        if test is not None:
            _score_test(result, test)
        result.summary["resumed"] = resume
        with run_dir.local() as directory:
            write_run_dir(result, directory)
    return result, location


def _score_test(result: FitResult, test: pd.DataFrame) -> None:
    metric = result.model.metric
    result.summary["test_score"] = score_table(result.model, test).get(metric)
    if result.best_single is not None:
        result.summary["best_single_test_score"] = score_table(result.best_single, test).get(metric)
    if result.summary["test_score"] is None:
        result.notes.append(f"{metric} could not be computed on the test table")


def resume_job(
    location: str, *, address: str | None = None, show_progress: bool = True, budget: Budget | None = None
) -> tuple[FitResult, str]:
    """Finish the job of a run directory whose search was interrupted (a lost driver, a stop).

    Trials already in the journal are neither run again nor lost; the search goes on to
    the planned trial count (or what is left of the time budget), then the final model
    and the run directory are built as in an uninterrupted run.
    """
    run_dir = RunDirectory(location)
    spec = JobSpec.from_yaml_text(run_dir.read_text(JOB_FILE), where=run_dir.child(JOB_FILE))
    if address is not None:  # a job submitted to a cluster ran there without an address of its own
        spec = spec.model_copy(update={"resources": spec.resources.model_copy(update={"address": address})})
    return run_job(spec, location, show_progress=show_progress, resume=True, budget=budget)


def _resumable_spec(spec: JobSpec, location: str) -> str:
    """The spec with absolute data paths and its output, so a resume finds them from anywhere."""
    import yaml

    raw = spec.model_dump()
    for key in ("train", "test"):
        value = raw["data"].get(key)
        if value and "://" not in value:
            raw["data"][key] = str(Path(value).resolve())
    raw["output"] = location if "://" in location else str(Path(location).resolve())
    return yaml.safe_dump(raw, sort_keys=False)


def write_run_dir(result: FitResult, directory: Path) -> None:
    """Write the artifact first, then the tables: a crash leaves no summary without a model."""
    directory.mkdir(parents=True, exist_ok=True)
    save_model(
        result.model,
        directory / "model",
        extra={"cv_score": result.summary["ensemble_cv_score"], "trained_rows": result.summary["n_rows"]},
    )
    if result.spec.ensemble.save_best_single and result.best_single is not None:
        save_model(result.best_single, directory / "best_single_model")
    result.summary["budget"] = result.budget.report()
    result.summary["wall_s"] = round(result.budget.elapsed(), 2)
    _atomic_write(directory / "leaderboard.csv", result.leaderboard.to_csv(index=False))
    _atomic_write(directory / "summary.json", json.dumps(result.summary, indent=2, default=_json_default))
    write_report(directory, result.summary, result.leaderboard)


def score_table(model: TabularModel, frame: pd.DataFrame) -> dict[str, float]:
    """Every metric that fits the model's task, on a table that holds the target."""
    from automl.evaluation.metrics import METRICS

    target = model.schema.target
    if target not in frame.columns:
        raise DataError(f"the table has no target column {target!r}")
    frame = frame[frame[target].notna()]
    if frame.empty:
        raise DataError(f"every value of target column {target!r} is missing")
    if model.task == "regression":
        y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=float)
        if np.isnan(y).any():
            raise DataError(f"target column {target!r} holds non-numeric values")
    else:
        y = encode_known(frame[target], model.schema)
        frame = frame[y >= 0]
        y = y[y >= 0]
        if len(y) == 0:
            raise DataError(f"no row of the table has a class the model knows ({target!r})")
    raw = model.predict_raw(frame)
    n_classes = len(model.classes or [])
    scores = {}
    for name, metric in METRICS.items():
        if model.task in metric.tasks:
            with contextlib.suppress(ValueError):  # e.g. AUC on a table with one class
                scores[name] = metric(y, raw, n_classes)
    return scores


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


__all__ = ["FitResult", "fit_table", "ray_session", "resume_job", "run_job", "score_table", "write_run_dir"]
