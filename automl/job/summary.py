"""`summary.json`: what a job did, one documented key at a time.

The model is the file's contract (DESIGN.md section 4 names the keys others rely on:
task, metric, n_trials, n_failed, best_model, best_cv_score, ensemble_cv_score, wall_s).
Scores that could not be computed are written as null, never as NaN (which is not JSON).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from automl.budget import Budget
from automl.data.target import positive_class
from automl.files import atomic_write, json_ready, json_text
from automl.job.preparation import Prepared
from automl.pipeline.trial import TrialStatus
from automl.spec import JobSpec

if TYPE_CHECKING:
    from automl.ensemble.final import FinalModel
    from automl.search.runner import SearchResult


class EnsembleMember(BaseModel):
    trial_id: str = Field(description="the member's trial, as in leaderboard.csv")
    model: str = Field(description="its model family")
    weight: float = Field(description="its weight in the final model (stacking: 1/n, the meta-learner combines)")


class RunSummary(BaseModel):
    """Every key of `summary.json`."""

    name: str = Field(description="the job's name")
    task: str = Field(description="binary | multiclass | regression")
    metric: str = Field(description="the metric every score below is in")
    target: str = Field(description="the target column")
    classes: list[Any] | None = Field(description="the classes in the order of the model's probability columns")
    positive_class: Any = Field(description="binary: the class threshold metrics score")
    positive_class_reason: str | None = Field(description="why that class (given, or the minority class)")
    n_rows: int = Field(description="training rows used (rows with a usable target)")
    n_features: int = Field(description="feature columns the models see")
    n_trials: int = Field(description="configurations that finished (scored or failed)")
    n_failed: int = Field(description="configurations whose model raised or whose worker died")
    n_stopped: int = Field(description="configurations ended by the time limits")
    n_retried: int = Field(description="trials run again after their worker or node died")
    concurrent_trials: int = Field(description="trials run at once, at most")
    best_model: str = Field(description="the best trial's model family")
    best_trial: str = Field(description="the best trial's id")
    best_params: dict[str, Any] = Field(description="the best trial's hyperparameters")
    best_cv_score: float | None = Field(description="the best trial's mean cross-validated score")
    ensemble_method: str = Field(description="what the final model does: selection | stacking | best")
    ensemble_requested: str = Field(description="the method the spec asked for")
    ensemble_cv_score: float | None = Field(description="the final model's score (see ensemble_score_kind)")
    ensemble_score_kind: str = Field(description="'nested cv' for an ensemble, 'cv' for the best trial alone")
    ensemble_reason: str = Field(description="why the final model is what it is")
    ensemble_nested_scores: dict[str, float] = Field(description="each method's nested-CV score")
    ensemble_members: list[EnsembleMember] = Field(description="the final model's members")
    final_members: str = Field(
        description="bagging (each member's fold models) | refit_full (each member refit once on all rows)"
    )
    serving_choice: str | None = Field(
        default=None, description="with for_serving: which final model was saved (the fastest within the tolerance)"
    )
    serving_alternatives: list[dict[str, Any]] = Field(
        default_factory=list,
        description="with for_serving: each final model considered, its score (a refit's is its bagged form's "
        "out-of-fold estimate: what the fold bag's averaging adds is not in it) and its measured cost",
    )
    inference_ms: dict[str, float] = Field(description="measured prediction cost: one row, and per row in a batch")
    strategy: str = Field(description="the search strategy")
    seed: int = Field(description="the search's seed")
    cv_folds: int = Field(description="validation splits: k folds, or 1 for a holdout")
    time_budget_s: float | None = Field(description="the job's time budget")
    max_trials: int | None = Field(description="the job's trial budget")
    search_wall_s: float = Field(description="seconds the search took")
    first_result_s: float | None = Field(description="seconds from the search's start to its first finished trial")
    ensemble_wall_s: float = Field(description="seconds the ensemble took")
    notes: list[str] = Field(description="what the job decided for the user: dropped columns, validation, pruning")
    spec: dict[str, Any] = Field(description="the whole job spec, defaults filled in")
    budget: dict[str, Any] = Field(description="the budget's account: total, seconds per step, elapsed")
    wall_s: float = Field(description="seconds from the command's start to the run directory's summary")
    resumed: bool = Field(default=False, description="whether the search continued an interrupted run")
    test_score: float | None = Field(default=None, description="the final model's score on the test table")
    best_single_test_score: float | None = Field(default=None, description="the best trial alone on the test table")
    data_quality: dict[str, Any] = Field(
        default_factory=dict, description="the data-quality report: per column, the checks that fired, actions"
    )
    privacy: dict[str, Any] = Field(
        default_factory=dict, description="columns that look like personal data, and what became of each"
    )
    evaluation: dict[str, Any] | None = Field(
        default=None,
        description="the final model on the test table or its out-of-fold predictions: metrics beside a dummy "
        "baseline, calibration, importance, fairness, robustness",
    )

    def to_json_dict(self) -> dict[str, Any]:
        """The summary as `summary.json` holds it (plain JSON values, NaN as None)."""
        return dict(json_ready(self.model_dump()))

    def account(self, budget: Budget) -> None:
        """Bring the budget's account and the wall time up to now."""
        self.budget = budget.report()
        self.wall_s = round(budget.elapsed(), 2)

    def write(self, path: Path) -> Path:
        return atomic_write(path, json_text(self.model_dump()))


def summarize(spec: JobSpec, prepared: Prepared, search: SearchResult, final: FinalModel, budget: Budget) -> RunSummary:
    """The summary of a finished fit (a test score and `resumed` are added by the job)."""
    schema, plan, best = prepared.schema, final.plan, final.best_row
    members = zip(final.model.members, final.model.weights, strict=True)
    return RunSummary(
        name=spec.name,
        task=schema.task,
        metric=prepared.metric.name,
        target=schema.target,
        classes=schema.to_dict().get("classes"),
        positive_class=positive_class(schema),
        positive_class_reason=prepared.positive_class_reason,
        n_rows=prepared.n_rows,
        n_features=len(schema.features),
        n_trials=len(search.finished),
        n_failed=sum(r.status is TrialStatus.FAILED for r in search.finished),
        n_stopped=sum(r.status is TrialStatus.STOPPED for r in search.rows),
        n_retried=search.retried,
        concurrent_trials=search.concurrency,
        best_model=best.family,
        best_trial=best.trial_id,
        best_params=best.params,
        best_cv_score=None if best.outcome is None else best.outcome.score,
        ensemble_method=plan.method,
        ensemble_requested=plan.requested,
        ensemble_cv_score=plan.cv_score,
        ensemble_score_kind="nested cv" if plan.method != "best" else "cv",
        ensemble_reason=plan.reason,
        ensemble_nested_scores=plan.nested_scores,
        ensemble_members=[EnsembleMember(trial_id=m.trial_id, model=m.family, weight=round(w, 4)) for m, w in members],
        final_members=final.final_members,
        serving_choice=final.serving_choice,
        serving_alternatives=final.serving,
        inference_ms={k: round(v, 4) for k, v in final.inference.items()},
        strategy=spec.search.strategy,
        seed=spec.search.seed,
        cv_folds=len(prepared.data.folds),
        time_budget_s=spec.budget.time_s,
        max_trials=spec.budget.max_trials,
        search_wall_s=round(search.wall_s, 2),
        first_result_s=None if search.first_result_s is None else round(search.first_result_s, 2),
        ensemble_wall_s=round(budget.spent.get("ensemble", 0.0), 2),
        notes=prepared.notes,
        data_quality=prepared.quality,
        privacy=prepared.privacy,
        spec=spec.model_dump(mode="json"),
        budget=budget.report(),
        wall_s=round(budget.elapsed(), 2),
    )
