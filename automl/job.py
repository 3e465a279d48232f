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
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.artifacts.run_directory import JOB_FILE, JOURNAL_DIR, RunDirectory
from automl.artifacts.store import save_model
from automl.data.ingest import read_table
from automl.data.schema import TableSchema, coerce_features, infer_schema
from automl.data.splits import make_folds
from automl.ensemble.final import build_final_model
from automl.ensemble.predictor import TabularModel
from automl.errors import DataError, SpecError
from automl.evaluation.leaderboard import leaderboard_frame
from automl.evaluation.metrics import resolve_metric
from automl.evaluation.report import write_report
from automl.models import registry
from automl.spec import JobSpec

# Time kept back from the search for the ensemble and saving the final model.
RESERVE_FRACTION = 0.1
RESERVE_MIN_S = 3.0
RESERVE_MAX_S = 30.0

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
    started: float | None = None,
    journal: str | None = None,
    resume: bool = False,
    before_search: Callable[[], None] | None = None,
) -> FitResult:
    """Run the search on an in-memory table and build the final model.

    Args:
        frame: the training table, target column included.
        spec: the job.
        show_progress: draw the live progress line on stderr.
        started: `time.monotonic()` at the job's start, when loading came before.
        journal: where the search journals its trials (a path or URI), so it can resume.
        resume: continue the search in `journal` rather than start a new one.
        before_search: called once the input is checked, just before the search starts.

    Raises:
        AutoMLError: bad input (spec, data) or no trial produced a model.
    """
    started = time.monotonic() if started is None else started
    notes: list[str] = []
    frame = _drop_missing_targets(frame, spec.data.target, notes)
    schema = infer_schema(frame, spec.data.target, spec.task)
    metric = resolve_metric(spec.metric, schema.task)
    notes.extend(schema.notes)
    families = _families(spec, len(frame), schema.task, notes)
    y = _encode_target(frame[spec.data.target], schema)
    _check_enough_rows(y, schema, spec.search.cv_folds)

    from automl.search import SearchSettings, TrialData, run_search  # Ray-heavy: import on use

    data = TrialData(
        X=coerce_features(frame, schema),
        y=y,
        schema=schema,
        folds=make_folds(
            y, classification=schema.task != "regression", n_folds=spec.search.cv_folds, seed=spec.search.seed
        ),
        metric=metric.name,
        families=families,
        seed=spec.search.seed,
        n_threads=max(1, int(spec.resources.cpus_per_trial)),
    )
    if before_search is not None:
        before_search()
    with ray_session(spec.resources.address, preload=WORKER_PRELOAD):
        settings = SearchSettings(
            strategy=spec.search.strategy,
            seed=spec.search.seed,
            max_trials=spec.budget.max_trials,
            time_budget_s=_search_budget(spec.budget.time_s, started),
            cpus_per_trial=spec.resources.cpus_per_trial,
            keep_models=max(spec.ensemble.top_k, 1),
            show_progress=show_progress,
            trial_timeout_s=spec.search.trial_timeout_s,
            max_retries=spec.search.max_retries,
            max_cpus=spec.resources.max_cpus,
            journal=journal,
            resume=resume,
        )
        search = run_search(data, settings)
        deadline = started + spec.budget.time_s if spec.budget.time_s else None
        ensemble_started = time.monotonic()
        try:
            final = build_final_model(
                search,
                data,
                metric,
                method=spec.ensemble.method,
                top_k=spec.ensemble.top_k,
                final_members=spec.ensemble.final_members,
                max_inference_ms_per_row=spec.ensemble.max_inference_ms_per_row,
                deadline=deadline,
                sample=frame.drop(columns=[schema.target]).head(1000),
            )
        finally:
            search.close()  # the store held the candidates' fold models: the members are fetched
    notes.extend(final.notes)
    best_row, plan = final.best_row, final.plan
    board = leaderboard_frame(search.rows, metric, ensemble=plan)
    finished = search.finished
    summary = {
        "name": spec.name,
        "task": schema.task,
        "metric": metric.name,
        "target": schema.target,
        "classes": schema.to_dict()["classes"],
        "n_rows": int(len(frame)),
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
        "ensemble_wall_s": round(time.monotonic() - ensemble_started, 2),
        "notes": notes,
    }
    model = final.model
    summary["wall_s"] = round(time.monotonic() - started, 2)
    return FitResult(spec, model, board, summary, notes, final.best_single)


def run_job(
    spec: JobSpec, output: str | Path | None = None, *, show_progress: bool = True, resume: bool = False
) -> tuple[FitResult, str]:
    """Load the spec's data, fit, and write the run directory.

    The run directory (a path or a URI) gets `job.yaml` and the search's journal before
    the first trial, so a job whose driver is lost resumes with `resume_job`.

    Returns:
        The result and the run directory (model/, leaderboard.csv, summary.json, report.html).
    """
    started = time.monotonic()
    frame = read_table(spec.data.train)
    test = read_table(spec.data.test) if spec.data.test else None
    if test is not None and spec.data.target not in test.columns:
        raise DataError(f"test table {spec.data.test} has no target column {spec.data.target!r}")
    location = str(output or spec.output or f"runs/{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir = RunDirectory(location)
    run_dir.check_writable()

    def write_job_file() -> None:  # once the input is known to be valid: bad input writes nothing
        run_dir.write_text(JOB_FILE, _resumable_spec(spec, location))

    result = fit_table(
        frame,
        spec,
        show_progress=show_progress,
        started=started,
        journal=run_dir.child(JOURNAL_DIR),
        resume=resume,
        before_search=None if resume else write_job_file,
    )
    if test is not None:
        result.summary["test_score"] = score_table(result.model, test)[result.model.metric]
        if result.best_single is not None:
            result.summary["best_single_test_score"] = score_table(result.best_single, test)[result.model.metric]
    result.summary["resumed"] = resume
    with run_dir.local() as directory:
        write_run_dir(result, directory, started)
    return result, location


def resume_job(location: str, *, address: str | None = None, show_progress: bool = True) -> tuple[FitResult, str]:
    """Finish the job of a run directory whose search was interrupted (a lost driver, a stop).

    Trials already in the journal are neither run again nor lost; the search goes on to
    the planned trial count (or what is left of the time budget), then the final model
    and the run directory are built as in an uninterrupted run.
    """
    run_dir = RunDirectory(location)
    spec = JobSpec.from_yaml_text(run_dir.read_text(JOB_FILE), where=run_dir.child(JOB_FILE))
    if address is not None:  # a job submitted to a cluster ran there without an address of its own
        spec = spec.model_copy(update={"resources": spec.resources.model_copy(update={"address": address})})
    return run_job(spec, location, show_progress=show_progress, resume=True)


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


def write_run_dir(result: FitResult, directory: Path, started: float) -> None:
    """Write the artifact first, then the tables: a crash leaves no summary without a model."""
    directory.mkdir(parents=True, exist_ok=True)
    save_model(
        result.model,
        directory / "model",
        extra={"cv_score": result.summary["ensemble_cv_score"], "trained_rows": result.summary["n_rows"]},
    )
    if result.spec.ensemble.save_best_single and result.best_single is not None:
        save_model(result.best_single, directory / "best_single_model")
    result.summary["wall_s"] = round(time.monotonic() - started, 2)
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
        y = _encode_known(frame[target], model.schema)
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


def _drop_missing_targets(frame: pd.DataFrame, target: str, notes: list[str]) -> pd.DataFrame:
    if target not in frame.columns:
        return frame  # infer_schema reports it with the list of columns
    missing = int(frame[target].isna().sum())
    if missing:
        message = f"dropped {missing} row(s) whose target {target!r} is missing"
        warnings.warn(message, stacklevel=3)
        notes.append(message)
        frame = frame[frame[target].notna()].reset_index(drop=True)
    return frame


def _encode_target(target: pd.Series, schema: TableSchema) -> np.ndarray:
    if schema.task == "regression":
        return pd.to_numeric(target, errors="raise").to_numpy(dtype=np.float64)
    return _encode_known(target, schema)


def _encode_known(target: pd.Series, schema: TableSchema) -> np.ndarray:
    """Class index of each label in `schema.classes`; -1 for labels the model never saw."""
    lookup = {_label_key(c): i for i, c in enumerate(schema.classes or [])}
    return np.array([lookup.get(_label_key(v), -1) for v in target], dtype=np.int64)


def _label_key(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _check_enough_rows(y: np.ndarray, schema: TableSchema, folds: int) -> None:
    if len(y) < 2 * folds:
        raise DataError(f"the table has {len(y)} usable rows; {folds}-fold validation needs at least {2 * folds}")
    if schema.task != "regression":
        counts = np.bincount(y, minlength=len(schema.classes or []))
        if counts.min() < 2:
            rare = [schema.classes[i] for i in np.flatnonzero(counts < 2)]  # type: ignore[index]
            raise DataError(f"class(es) {rare} of target {schema.target!r} have fewer than 2 rows")


def _families(spec: JobSpec, n_rows: int, task: str, notes: list[str]) -> dict[str, Any]:
    keys = spec.search.models or registry.family_keys()
    families = {}
    for key in keys:
        family = registry.get_family(key)
        reason = family.unsuitable_reason(n_rows, task)
        if reason:
            notes.append(reason)
        else:
            families[key] = family
    if not families:
        raise SpecError("no model family can be searched on this table: " + "; ".join(notes[-len(keys) :]))
    return families


def _search_budget(time_s: float | None, started: float) -> float | None:
    if time_s is None:
        return None
    reserve = min(RESERVE_MAX_S, max(RESERVE_MIN_S, RESERVE_FRACTION * time_s))
    return max(1.0, time_s - (time.monotonic() - started) - reserve)


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
