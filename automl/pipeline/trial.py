"""One trial: fit a configuration on every fold and score its out-of-fold predictions.

This is the hot path of the search. It runs inside Ray workers, so it takes everything
it needs from one `TrialData` object that the driver puts into the object store once.
It never raises for a bad configuration: the error becomes part of the outcome, so one
broken family cannot stop the search.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.feature_selection import VarianceThreshold
from sklearn.pipeline import Pipeline

from automl.data.schema import TableSchema
from automl.data.splits import Folds
from automl.errors import first_line
from automl.evaluation.metrics import get_metric
from automl.features.choices import FeatureChoices, TableTraits, model_params, training_weights
from automl.features.compiled import CompiledPipeline, fast_pipeline
from automl.features.preprocessing import build_preprocessor, native_category_count
from automl.features.selection import TopShare
from automl.models.base import (
    FitTimeout,
    ModelFamily,
    check_fit_time,
    fit_time_limit,
    round_time_limit,
    rounds_time_up,
)
from automl.pipeline.probabilities import full_probabilities

MODEL_KEY = "model"
#: a trial's error is kept up to this many characters (the leaderboard shows it in one cell)
ERROR_CHARS = 500
PARAM_SEPARATOR = "__"


@dataclass
class TrialData:
    """Everything a trial reads; shipped to the object store once per job."""

    X: pd.DataFrame
    y: np.ndarray  # encoded labels 0..k-1, or regression values
    schema: TableSchema
    folds: Folds
    metric: str
    families: dict[str, ModelFamily]
    seed: int
    n_threads: int
    deadline: float | None = None  # time.time() by which trials must have finished
    max_trial_s: float | None = None  # a trial projected to take longer stops early
    #: a configuration still running this long past its limit has its worker ended
    watchdog_grace_s: float = 30.0
    #: the job's fallback configuration: only the budget's end stops it, not the per-trial
    #: share (the job checked that the budget fits it)
    floor_config: dict[str, Any] | None = None
    #: each row's sample weight (the spec's `data.weight_column`), or None: all alike
    weights: np.ndarray | None = None
    #: the feature choices the search may make on this table (`features.choices`); None: none
    traits: TableTraits | None = None

    @property
    def n_classes(self) -> int:
        return len(self.schema.classes or [])


class TrialStatus(str, Enum):
    """What became of one configuration; the one vocabulary of the search, its progress
    line, the leaderboard and the summary."""

    RUNNING = "running"
    DONE = "done"  # scored on every split
    FAILED = "failed"  # the model raised, or its worker or node died
    STOPPED = "stopped"  # ended by the time limits: not a failure of the model


@dataclass
class TrialOutcome:
    """What one configuration achieved; `fold_models` may be dropped to save memory."""

    family: str
    params: dict[str, Any]
    score: float = float("nan")  # mean of the fold scores
    score_std: float = float("nan")
    fold_scores: list[float] = field(default_factory=list)
    out_of_fold: np.ndarray | None = None  # float32; NaN on rows never validated
    fit_s: float = 0.0
    predict_s_per_row: float = 0.0
    error: str | None = None
    stopped: bool = False  # ended early by the time limits: not a failure of the model
    error_traceback: str | None = None
    fold_models: list[Pipeline] | None = None
    #: an early-stopping family's best round count per fold (empty for the others): the
    #: fidelity it reached, and what a refit on all rows takes (their mean)
    rounds: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None and bool(np.isfinite(self.score))

    @property
    def status(self) -> TrialStatus:
        if self.ok:
            return TrialStatus.DONE
        return TrialStatus.STOPPED if self.stopped else TrialStatus.FAILED


@dataclass
class TrialRow:
    """One configuration as the leaderboard and the ensemble see it, whatever became of it."""

    trial_id: str
    family: str
    params: dict[str, Any]
    status: TrialStatus
    outcome: TrialOutcome | None = None
    error: str | None = None
    #: seconds into the search when its result arrived (None: unknown, or a resumed search's earlier run)
    finished_s: float | None = None

    @classmethod
    def of(cls, trial_id: str, outcome: TrialOutcome) -> TrialRow:
        return cls(trial_id, outcome.family, outcome.params, outcome.status, outcome, outcome.error)


def split_config(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Turn Tune's flat config {"model": k, "k__p": v} into (k, {"p": v})."""
    family = config[MODEL_KEY]
    prefix = family + PARAM_SEPARATOR
    return family, {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}


def join_config(family: str, params: dict[str, Any]) -> dict[str, Any]:
    """The flat config of a family and its parameters (`split_config`'s inverse)."""
    return {MODEL_KEY: family, **{family + PARAM_SEPARATOR + k: v for k, v in params.items()}}


def build_pipeline(
    family: ModelFamily, params: dict[str, Any], schema: TableSchema, seed: int, n_threads: int
) -> Pipeline:
    """Preprocessing, the feature choices' selection and projection, and the estimator as
    one pipeline, so each fold fits them all on its own rows.

    Raises:
        ValueError: a feature choice (`fe_*` parameter) with a value it does not have.
    """
    choices = FeatureChoices.of(params)
    preprocessor = build_preprocessor(
        schema,
        scale=family.scale,
        high_cardinality=family.high_cardinality,  # type: ignore[arg-type]
        seed=seed,
        accepts_sparse=family.accepts_sparse and not choices.pca,  # PCA takes dense rows
        native_categories=family.native_categories,
        choices=choices,
    )
    steps: list[tuple[str, Any]] = [("preprocess", preprocessor)]
    classification = schema.task != "regression"
    if choices.select == "variance":
        steps.append(("select", VarianceThreshold(VARIANCE_THRESHOLD)))
    elif choices.select != "none":
        steps.append(("select", TopShare(choices.select, choices.select_share, classification, seed)))
    if choices.pca:
        steps.append(("pca", PCA(n_components=PCA_VARIANCE, svd_solver="full", random_state=seed)))
    estimator = family.make_estimator(model_params(params), schema.task, seed, n_threads)
    if family.native_categories and native_category_count(schema) and choices.select == "none":
        estimator.set_params(cat_features=list(range(native_category_count(schema))))
    return Pipeline([*steps, ("model", estimator)])


#: a variance selection drops the columns whose variance on the training rows is at most
#: this: constants, and one-hot codes of a category held by fewer than 1 row in 1,000
VARIANCE_THRESHOLD = 1e-3
#: the share of the variance a PCA projection keeps
PCA_VARIANCE = 0.95


#: the share of a fold's training rows an early-stopping fit holds out to stop on
EARLY_STOPPING_SHARE = 0.15
#: ... at most this many rows: beyond them the stopping point is as sure, and rows are data
EARLY_STOPPING_MAX_ROWS = 10_000


def early_stopping_split(y: np.ndarray, classification: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the rows to fit on and of the rows to stop on, among `y`'s.

    Stratified for classes, and every class keeps at least one row to fit on: a model
    must know every class its stopping rows hold.
    """
    rng = np.random.default_rng(seed)
    n_valid = int(min(EARLY_STOPPING_MAX_ROWS, round(EARLY_STOPPING_SHARE * len(y))))
    if n_valid < 1 or len(y) < 4:
        return np.arange(len(y)), np.arange(0)
    if not classification:
        order = rng.permutation(len(y))
        return np.sort(order[n_valid:]), np.sort(order[:n_valid])
    valid = []
    share = n_valid / len(y)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        take = min(len(members) - 1, int(round(share * len(members))))
        valid.append(members[:take])
    held = np.sort(np.concatenate(valid)) if valid else np.arange(0)
    return np.setdiff1d(np.arange(len(y)), held), held


def fit_pipeline(
    pipeline: Pipeline,
    family: ModelFamily,
    X: pd.DataFrame,
    y: np.ndarray,
    task: str,
    seed: int,
    weights: np.ndarray | None = None,
) -> int | None:
    """Fit `pipeline` on these rows (with these sample weights, if any); return the best
    round count of an early-stopping family (None for the others).

    An early-stopping family fits its preprocessing and model on part of the rows and
    stops on the rest (`early_stopping_split`), all of them from the rows given: a fold's
    validation rows, whose predictions become out-of-fold predictions, are never seen.
    """
    keywords = {} if weights is None else {"model__sample_weight": weights}
    if not family.early_stopping:
        pipeline.fit(X, y, **keywords)
        return None
    fit_rows, stop_rows = early_stopping_split(y, task != "regression", seed)
    if not len(stop_rows):
        pipeline.fit(X, y, **keywords)
        return None
    preprocess = pipeline[:-1]  # the same step objects: fitting it fits the pipeline's
    X_fit = preprocess.fit_transform(X.iloc[fit_rows], y[fit_rows])
    X_stop = preprocess.transform(X.iloc[stop_rows])
    model = pipeline.named_steps["model"]
    return family.fit_early_stopping(
        model, X_fit, y[fit_rows], X_stop, y[stop_rows], patience=family.stopping_patience(model),
        sample_weight=None if weights is None else weights[fit_rows],
    )  # fmt: skip


def fold_weights(data: TrialData, params: dict[str, Any], rows: np.ndarray | slice) -> np.ndarray | None:
    """The sample weights of a fit on `rows`: the spec's weight column's and the
    configuration's class weights (`features.choices.training_weights`)."""
    base = None if data.weights is None else data.weights[rows]
    return training_weights(params, data.y[rows], base, data.schema.task != "regression")


#: called after each fold with the fold number (1-based) and the fold scores so far
FoldCallback = Callable[[int, list[float]], None]


def evaluate_config(config: dict[str, Any], data: TrialData, on_fold: FoldCallback | None = None) -> TrialOutcome:
    """Cross-validate one configuration; failures are captured in the outcome.

    `on_fold` hears of each fold as it ends (a scheduler's fidelity); when the scheduler
    stops the trial there, Tune ends the trial's thread inside that call.
    """
    family_key, params = split_config(config)
    outcome = TrialOutcome(family=family_key, params=params)
    try:
        _cross_validate(outcome, data, on_fold)
    except TrialStopped as exc:
        outcome.error, outcome.stopped = str(exc), True
        outcome.fold_models = outcome.out_of_fold = None
    except Exception as exc:  # a trial's failure is a result, not a crash of the search
        kind = "out of memory" if isinstance(exc, MemoryError) else type(exc).__name__
        outcome.error = first_line(f"{kind}: {exc}", ERROR_CHARS)
        outcome.fold_models = None
        outcome.out_of_fold = None
        outcome.error_traceback = traceback.format_exc()
    return outcome


class TrialStopped(Exception):
    """The trial would not finish within its time limits: projected between folds, or
    reached inside one (its fit clock ran out)."""


#: a validation fold is predicted this many rows at a time, the fit clock checked between
#: them: a k-NN model predicting a large holdout takes longer than its fit
PREDICT_CHUNK_ROWS = 10_000


def _trial_deadline(data: TrialData, started: float) -> tuple[float | None, str]:
    """When a trial started at `started` must end (the sooner of its own limit and the
    job's budget; None: no limit), and the reason a trial stopped there is given."""
    own = None if data.max_trial_s is None else started + data.max_trial_s
    if own is not None and (data.deadline is None or own <= data.deadline):
        return own, f"the per-trial limit of {data.max_trial_s:.1f}s was reached"
    return data.deadline, "the time budget ended"


def _predict_fold(
    predictor: Pipeline | CompiledPipeline, X_valid: pd.DataFrame, regression: bool, n_classes: int
) -> np.ndarray:
    """A validation fold's predictions, chunk by chunk, checking the fit clock before each."""
    parts = []
    for start in range(0, max(len(X_valid), 1), PREDICT_CHUNK_ROWS):
        check_fit_time()
        rows = X_valid.iloc[start : start + PREDICT_CHUNK_ROWS]
        if regression:
            parts.append(np.asarray(predictor.predict(rows), dtype=np.float64))
        else:
            parts.append(full_probabilities(predictor, rows, n_classes))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _check_time(data: TrialData, started: float, folds_done: int) -> None:
    """Stop a trial whose remaining folds, at the pace of the finished ones, would overrun."""
    if folds_done == len(data.folds):
        return
    now = time.time()
    elapsed = now - started
    projected = elapsed / folds_done * len(data.folds)
    if data.deadline is not None and started + projected > data.deadline:
        raise TrialStopped(
            f"stopped after {folds_done} fold(s): projected {projected:.1f}s would end past the time budget"
        )
    if data.max_trial_s is not None and projected > data.max_trial_s:
        raise TrialStopped(
            f"stopped after {folds_done} fold(s): projected {projected:.1f}s exceeds the "
            f"per-trial limit of {data.max_trial_s:.1f}s"
        )


#: a fold's boosting rounds end at this share of its even part of the trial's time left,
#: leaving the rest for the library to finish its model and for the fold's prediction
#: (measured once a fold has met its round clock, and then kept back as well)
ROUND_TIME_SHARE = 0.7


def _fold_round_deadline(deadline: float | None, fold: int, n_folds: int, after_s: float) -> float | None:
    """When fold `fold` (1-based) of `n_folds` stops adding boosting rounds: within an even
    share of the trial's time left, less what a fold was seen to take after its round clock
    ran out (`after_s`: the library finishing its model, the fold's prediction), so a costly
    table ends its trial with fewer rounds, not stopped with none."""
    if deadline is None:
        return None
    now = time.time()
    share = max(0.0, deadline - now) / (n_folds - fold + 1)
    return now + max(0.0, ROUND_TIME_SHARE * share - after_s)


def _cross_validate(outcome: TrialOutcome, data: TrialData, on_fold: FoldCallback | None = None) -> None:
    family = data.families[outcome.family]
    metric = get_metric(data.metric)
    regression = data.schema.task == "regression"
    width = () if regression else (data.n_classes,)
    oof = np.full((data.folds.n_rows, *width), np.nan, dtype=np.float32)
    models, scores, rounds = [], [], []
    fit_s = predict_s = 0.0
    predicted_rows = 0
    started = time.time()
    deadline, limit_reached = _trial_deadline(data, started)
    after_s = 0.0  # the most a fold took after its round clock ran out
    for fold, (train_index, valid_index) in enumerate(data.folds.splits, start=1):
        pipeline = build_pipeline(family, outcome.params, data.schema, data.seed, data.n_threads)
        round_deadline = _fold_round_deadline(deadline, fold, len(data.folds), after_s)
        try:
            with fit_time_limit(deadline), round_time_limit(round_deadline):
                check_fit_time()
                start = time.perf_counter()
                reached = fit_pipeline(
                    pipeline, family, data.X.iloc[train_index], data.y[train_index], data.schema.task, data.seed + fold,
                    fold_weights(data, outcome.params, train_index),
                )  # fmt: skip
                clocked = rounds_time_up()
                fitted = time.perf_counter()
                predictor = fast_pipeline(pipeline)  # as it will predict when served: timed the same way
                prediction = _predict_fold(predictor, data.X.iloc[valid_index], regression, data.n_classes)
        except FitTimeout:
            raise TrialStopped(f"stopped inside fold {fold} of {len(data.folds)}: {limit_reached}") from None
        if clocked and round_deadline is not None:
            after_s = max(after_s, time.time() - round_deadline)
        predict_s += time.perf_counter() - fitted
        fit_s += fitted - start
        predicted_rows += len(valid_index)
        if not np.all(np.isfinite(prediction)):
            raise ValueError("the model produced non-finite predictions")
        oof[valid_index] = prediction
        scores.append(metric(data.y[valid_index], prediction, data.n_classes))
        models.append(pipeline)
        if reached is not None:
            rounds.append(reached)
        if on_fold is not None:
            on_fold(fold, list(scores))
        if not family.early_stopping:  # the round clock shortens its later folds instead
            _check_time(data, started, len(models))
    outcome.rounds = tuple(rounds)
    outcome.fold_scores = scores
    outcome.score = float(np.mean(scores))
    outcome.score_std = float(np.std(scores))
    outcome.out_of_fold = oof
    outcome.fit_s = fit_s
    outcome.predict_s_per_row = predict_s / max(predicted_rows, 1)
    outcome.fold_models = models
