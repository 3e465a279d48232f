"""One AutoML job as named steps, each timed by the job's `Budget`:

prepare -> fallback_timing -> (plan) -> search (ray_start) -> repeats -> ensemble -> evaluate
-> finish.

A new local Ray starts inside the search, while the driver fits the first configurations;
a running Ray or a cluster is joined before `fallback_timing`.

The CLI, the Python API and Ray Jobs all come through here, so a job behaves the same
however it was started. Everything a user can get wrong is checked in `prepare`, before
any output is written.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from automl.artifacts.run_directory import JOB_FILE, JOURNAL_DIR, RunDirectory
from automl.budget import Budget
from automl.data.ingest import read_table
from automl.ensemble.compiling import reserve_compile
from automl.ensemble.final import FinalModel, Repeated, build_final_model
from automl.ensemble.second_layer import reserve_second_layer
from automl.errors import first_line
from automl.evaluation.leaderboard import leaderboard_frame
from automl.job.assessing import assess, reserve_evaluation
from automl.job.outputs import resumable_spec, write_run_dir
from automl.job.planning import (
    holdout_when_folds_do_not_fit,
    journaled_splits,
    plan_budget,
    search_concurrency,
    search_settings,
)
from automl.job.preparation import Prepared, choose_floor, prepare
from automl.job.repeats import repeat_best, reserve_repeats
from automl.job.scoring import score_table
from automl.job.session import WORKER_PRELOAD, new_local_cpus, ray_session
from automl.job.summary import RunSummary, summarize
from automl.pipeline.model import TabularModel
from automl.spec import JobSpec

if TYPE_CHECKING:
    from automl.search.runner import SearchResult


@dataclass
class FitResult:
    """What a job produced, in memory."""

    spec: JobSpec
    model: TabularModel
    leaderboard: pd.DataFrame
    summary: RunSummary
    notes: list[str] = field(default_factory=list)
    best_single: TabularModel | None = None
    budget: Budget = field(default_factory=lambda: Budget(None))


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
    test_rows = 0 if test is None else len(test)
    with budget.step("prepare"):
        prepared = prepare(frame, spec, test)
    with contextlib.ExitStack() as ray_context:

        def start_ray() -> None:
            with budget.step("ray_start"):
                ray_context.enter_context(ray_session(spec.resources.address, preload=WORKER_PRELOAD))

        # A new local Ray takes seconds to start (5-7 s on 2 CPUs): the search starts it
        # while the driver fits its first configurations. A running Ray or a cluster is
        # joined first, as only it knows its CPUs.
        local_cpus = new_local_cpus(spec.resources.address)
        if local_cpus is None:
            start_ray()
        with budget.step("fallback_timing"):
            choose_floor(prepared, spec.budget.time_s)
            holdout_when_folds_do_not_fit(
                budget, prepared, spec, test_rows, journaled_splits(journal if resume else None),
                concurrency=search_concurrency(spec, local_cpus),
            )  # fmt: skip
        plan_budget(budget, prepared, spec, test_rows)
        reserve_repeats(budget, len(prepared.data.folds))
        reserve_compile(budget)
        reserve_evaluation(budget, spec)
        if spec.ensemble.final_members not in ("refit", "refit_full"):  # a second layer's members stay bagged
            reserve_second_layer(budget, len(prepared.data.folds))
        if before_search is not None:
            before_search()
        with budget.step("search"):  # its time includes Ray's start when the search started it
            search = _search(
                prepared, spec, budget, show_progress=show_progress, journal=journal, resume=resume,
                start_ray=None if local_cpus is None else start_ray,
            )  # fmt: skip
        try:
            with budget.step("repeats"):
                repeated = _repeats(search, prepared, spec, budget)
            with budget.step("ensemble"):
                final = _final_model(search, prepared, spec, budget, repeated)
            with budget.step("evaluate"):  # before the store closes: it holds the per-split models
                evaluation = _evaluate(final.model, search, prepared, spec, budget, test)
        finally:
            search.close()  # the store held the candidates' fold models: the members are fetched
    prepared.notes.extend(final.notes)
    board = leaderboard_frame(search.rows, prepared.metric, ensemble=final.plan)
    summary = summarize(spec, prepared, search, final, budget)
    summary.evaluation = evaluation
    return FitResult(spec, final.model, board, summary, summary.notes, final.best_single, budget)  # one notes list


def _search(
    prepared: Prepared,
    spec: JobSpec,
    budget: Budget,
    *,
    show_progress: bool,
    journal: str | None,
    resume: bool,
    start_ray: Callable[[], None] | None,
) -> SearchResult:
    from automl.search.runner import run_search  # Ray Tune and Optuna: imported when a search runs

    settings = search_settings(spec, prepared, budget, show_progress=show_progress, journal=journal, resume=resume)
    return run_search(prepared.data, settings, start_ray=start_ray)


def _repeats(search: SearchResult, prepared: Prepared, spec: JobSpec, budget: Budget) -> dict[str, Repeated]:
    """Repeated bagging of the best trials, when the budget set time aside for it."""
    return repeat_best(
        search.rows, search.fold_models, prepared.data, prepared.metric, budget, spec.resources.cpus_per_trial
    )


def _final_model(
    search: SearchResult, prepared: Prepared, spec: JobSpec, budget: Budget, repeated: dict[str, Repeated]
) -> FinalModel:
    return build_final_model(
        search.rows,
        search.fold_models,
        prepared.data,
        prepared.metric,
        method=spec.ensemble.method,
        top_k=spec.ensemble.top_k,
        final_members=spec.ensemble.final_members,
        max_inference_ms_per_row=spec.ensemble.max_inference_ms_per_row,
        budget=budget,
        sample=prepared.sample,
        repeated=repeated,
        for_serving=spec.ensemble.for_serving,
        score_tolerance=spec.ensemble.score_tolerance,
    )


def _evaluate(
    model: TabularModel,
    search: SearchResult,
    prepared: Prepared,
    spec: JobSpec,
    budget: Budget,
    test: pd.DataFrame | None,
) -> dict[str, Any] | None:
    """The final model's evaluation; a failure is a note in its record, never the job's end."""
    try:
        return assess(model, prepared, spec, budget, fold_models=search.fold_models, test=test)
    except Exception as error:  # the model is fitted and good: a report section must not lose it
        source = "test" if test is not None else "out_of_fold"
        return {"source": source, "notes": [f"the evaluation failed: {first_line(error, 300)}"]}


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
        run_dir.write_text(JOB_FILE, resumable_spec(spec, location))

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
        result.summary.resumed = resume
        with run_dir.local() as directory:
            save_single = result.best_single if spec.ensemble.save_best_single else None
            write_run_dir(directory, result.model, result.summary, result.leaderboard, save_single, budget=budget)
    return result, location


def _score_test(result: FitResult, test: pd.DataFrame) -> None:
    metric = result.model.metric
    result.summary.test_score = score_table(result.model, test).get(metric)
    if result.best_single is not None:
        result.summary.best_single_test_score = score_table(result.best_single, test).get(metric)
    if result.summary.test_score is None:
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
