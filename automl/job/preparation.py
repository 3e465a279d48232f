"""A job's first step: check the input, prepare the data the trials read, and estimate
what the steps after the search will cost.

Everything a user can get wrong is found here, before Ray starts and before any output
is written: a refusal costs seconds, never the budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from automl.data.coercion import coerce_features
from automl.data.fingerprint import table_fingerprint
from automl.data.ingest import normalize_frame
from automl.data.schema import TableSchema, infer_schema
from automl.data.splits import make_folds
from automl.data.target import (
    check_enough_rows,
    check_scorable,
    drop_unusable_targets,
    encode_known,
    encode_target,
    order_classes,
)
from automl.errors import DataError, SpecError
from automl.evaluation.metrics import Metric, resolve_metric
from automl.features.choices import TableTraits
from automl.job.curation import curate, data_quality, mark_schema
from automl.models import registry
from automl.models.base import FitTimeout, ModelFamily, fit_time_limit
from automl.pipeline.trial import TrialData, build_pipeline, fit_pipeline, join_config, split_config
from automl.search.portfolio import load_portfolio
from automl.spec import JobSpec

# A trial holds its fold's rows, their transformed matrix and the fitted model beside the
# shared table: a few copies of the table, plus what the libraries take on their own.
TRIAL_MEMORY_TABLE_COPIES = 4.0
TRIAL_MEMORY_BASE_BYTES = 256 * 2**20
# The fallback configuration's cost is measured on this many training rows (and a quarter
# of it), then scaled; the first this many searched families are candidates.
FLOOR_SAMPLE_ROWS = 20_000
FLOOR_SAMPLE_CELLS = 1_000_000  # at most this many rows x columns in the larger sample
FLOOR_MIN_ROWS = 500
FLOOR_CANDIDATES = 2
FLOOR_GOOD_SHARE = 0.5  # a first candidate cheaper than this share of the budget is kept
FLOOR_TIMING_SHARE = 0.05  # no further candidate is timed once timing took this share of the budget
FLOOR_SAFETY = 1.1  # the scaled estimate is rough; the search and the fallback absorb the rest
# From the search's start to its first trial running (Tune's set-up); 2 CPUs are the slowest case we plan for.
SEARCH_START_S = 1.0
# After the ensemble: the drift reference, inference timing, the best single model,
# saving and the report, scoring a test table: a fixed part and a part per cell. The
# report's part is most of the fixed one: importing matplotlib and drawing its ten or so
# figures take about 2.5 s in a job's process on a 2-core machine.
FINISH_BASE_S = 3.0
FINISH_S_PER_CELL = 2e-7  # rows x columns of the training and test tables (fitted to benchmarks/scale.py)


@dataclass
class Prepared:
    """The checked input of a job and what the search reads."""

    data: TrialData
    schema: TableSchema
    metric: Metric
    sample: pd.DataFrame  # raw input rows, to time the final model's predictions
    fingerprint: str
    n_rows: int
    notes: list[str] = field(default_factory=list)
    positive_class_reason: str | None = None

    floor_config: dict[str, Any] = field(default_factory=dict)
    floor_s: float = 0.0  # its estimated cost on every fold
    #: the configurations tried first (`search.portfolio`), read before the search starts
    portfolio: list[dict[str, Any]] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)  # the data-quality report (`job.curation`)
    privacy: dict[str, Any] = field(default_factory=dict)
    sensitive: pd.DataFrame | None = None  # the sensitive columns' raw values, by training row (fairness)


def prepare(frame: pd.DataFrame, spec: JobSpec, test: pd.DataFrame | None = None) -> Prepared:
    """Check the table (and the test table) against the spec; build the trials' data.

    Raises:
        AutoMLError: with one line that says what to change.
    """
    notes: list[str] = []
    target = spec.data.target
    frame = normalize_frame(frame, where="the training table")
    frame = drop_unusable_targets(frame, target, notes)
    weights, frame = _sample_weights(frame, spec)
    curated = curate(frame, spec)
    frame = curated.frame
    schema = infer_schema(frame, target, spec.task)
    schema = mark_schema(schema, curated, frame, spec.data_quality.clip_outliers)
    schema = order_classes(schema, frame[target], spec.data.positive_class)
    reason = None
    if schema.task == "binary":
        given = spec.data.positive_class is not None
        reason = "given in the spec" if given else "the minority class (on a tie, the label that sorts last)"
    metric = resolve_metric(spec.metric, schema.task)
    notes.extend(schema.notes)
    families = _families(spec, len(frame), schema.task, notes, weighted=weights is not None)
    portfolio = load_portfolio(spec.search.portfolio)
    y = encode_target(frame[target], schema)
    check_enough_rows(y, schema, spec.search.cv_folds)
    folds = make_folds(
        y, classification=schema.task != "regression", n_folds=spec.search.cv_folds, seed=spec.search.seed
    )
    check_scorable(y, folds, schema, metric.name, metric.needs_both_classes)
    if test is not None:
        test = normalize_frame(test, where="the test table")
        _check_test(test, schema, metric)
        lacking = [c for c in spec.evaluation.sensitive_features if c not in test.columns]
        if lacking:
            raise DataError(f"the test table lacks the sensitive column(s) {', '.join(map(repr, lacking))}")
    quality = data_quality(frame, schema, curated, spec, test)
    data = TrialData(
        X=coerce_features(frame, schema),
        y=y,
        schema=schema,
        folds=folds,
        metric=metric.name,
        families=families,
        seed=spec.search.seed,
        n_threads=max(1, int(spec.resources.cpus_per_trial)),
        weights=weights,
        traits=None if spec.search.fixed_features else TableTraits.of(schema),
    )
    return Prepared(
        data=data,
        schema=schema,
        metric=metric,
        sample=frame.drop(columns=[target]).head(1000),
        fingerprint=table_fingerprint(frame, schema.to_dict()),
        n_rows=len(frame),
        notes=notes,
        positive_class_reason=reason,
        portfolio=portfolio,
        quality=quality,
        privacy=curated.privacy(spec),
        sensitive=frame[spec.evaluation.sensitive_features].reset_index(drop=True)
        if spec.evaluation.sensitive_features
        else None,
    )


def trial_memory_bytes(X: pd.DataFrame) -> int:
    """The memory one trial declares to Ray, from the table's size."""
    return int(TRIAL_MEMORY_TABLE_COPIES * frame_bytes(X) + TRIAL_MEMORY_BASE_BYTES)


def frame_bytes(frame: pd.DataFrame, sample_rows: int = 1_000) -> int:
    """A table's memory, with text columns sized from a sample (deep sizing of a
    million strings takes seconds)."""
    total = int(frame.memory_usage(index=False, deep=False).sum())
    n = len(frame)
    head = frame.head(sample_rows)
    for name in [c for c in frame.columns if frame[c].dtype == object]:
        per_value = head[name].memory_usage(index=False, deep=True) / max(len(head), 1)
        total += int(per_value * n)
    return total


def choose_floor(prepared: Prepared, budget_s: float | None = None) -> None:
    """Pick the configuration a job is sure to fit: the cheapest configuration of the first
    searched family (the registry lists them cheapest first), or of the next one when that
    is estimated to cost less and the first would take more than `FLOOR_GOOD_SHARE` of
    the budget. Sets `prepared.floor_config` and `prepared.floor_s`."""
    order = registry.family_keys()
    keys = sorted(prepared.data.families, key=lambda k: order.index(k) if k in order else len(order))
    best: tuple[float, dict[str, Any]] | None = None
    started = time.perf_counter()
    started_wall = time.time()
    for key in keys[:FLOOR_CANDIDATES]:
        if best is not None and budget_s is not None and time.perf_counter() - started > FLOOR_TIMING_SHARE * budget_s:
            break
        family = prepared.data.families[key]
        config = join_config(key, family.cheapest_params(prepared.n_rows, prepared.schema.task))
        # the first candidate is timed whatever it takes; the next ones within the allowance
        allowance = None if best is None or budget_s is None else started_wall + FLOOR_TIMING_SHARE * budget_s
        try:
            with fit_time_limit(allowance):
                seconds = floor_seconds(prepared.data, config)
        except FitTimeout:
            break
        if seconds is not None and (best is None or seconds < best[0]):
            best = (seconds, config)
        if best is not None and (budget_s is None or best[0] <= FLOOR_GOOD_SHARE * budget_s):
            break
    if best is None:  # every candidate failed on the sample: the search will say why
        key = keys[0]
        best = (
            0.0,
            join_config(key, prepared.data.families[key].cheapest_params(prepared.n_rows, prepared.schema.task)),
        )
    prepared.floor_s, prepared.floor_config = best


def floor_seconds(data: TrialData, config: dict[str, Any]) -> float | None:
    """What `config` costs on every fold, from fits of two samples of the first fold's rows.

    The two sizes give a fixed cost and a cost per row (a fit of a few thousand rows is
    mostly fixed cost, so scaling it by rows alone would overstate a large table's fit);
    folds no larger than the bigger sample cost what it cost. A first, untimed fit pays for
    imports and first-call set-up, which a fold's fit in a preloaded worker does not.
    Samples are smaller on wide tables, so that timing stays cheap. None: the fit failed.
    """
    family_key, params = split_config(config)
    family = data.families[family_key]
    train, valid = data.folds.splits[0]
    rng = np.random.default_rng(data.seed)
    large = min(len(train), max(FLOOR_MIN_ROWS, min(FLOOR_SAMPLE_ROWS, FLOOR_SAMPLE_CELLS // max(data.X.shape[1], 1))))
    sizes = [min(len(train), large // 4), min(len(train), large // 4), large]  # warm-up, small, large
    timed = []
    for size in sizes:
        sample = np.sort(rng.choice(train, size=size, replace=False))
        pipeline = build_pipeline(family, params, data.schema, data.seed, data.n_threads)
        start = time.perf_counter()
        try:
            fit_pipeline(pipeline, family, data.X.iloc[sample], data.y[sample], data.schema.task, data.seed)
            pipeline.predict(data.X.iloc[valid[:size]])
        except FitTimeout:
            raise
        except Exception:  # noqa: BLE001 - the search records why; the estimate just has no figure
            return None
        timed.append((size, time.perf_counter() - start))
    (small, t_small), (large, t_large) = timed[1], timed[2]
    # between no fixed cost (all of the time per row: the most it can be) and a third of that
    proportional = t_large / large
    per_row = (t_large - t_small) / (large - small) if large > small else proportional
    per_row = min(proportional, max(proportional / 3, per_row))
    fixed = max(0.0, t_large - per_row * large)
    total = 0.0
    for fold_train, fold_valid in data.folds.splits:
        rows = len(fold_train) + len(fold_valid)
        total += t_large if rows <= 2 * large else fixed + per_row * rows
    return FLOOR_SAFETY * total


def finish_seconds(prepared: Prepared, test_rows: int) -> float:
    """The share kept for the steps after the ensemble (see `FINISH_S_PER_CELL`)."""
    n_columns = max(1, len(prepared.schema.features))
    return FINISH_BASE_S + FINISH_S_PER_CELL * (prepared.n_rows + test_rows) * n_columns


def _sample_weights(frame: pd.DataFrame, spec: JobSpec) -> tuple[np.ndarray | None, pd.DataFrame]:
    """The spec's weight column as float64 weights, and the table without it (it is not a
    feature); (None, the table) when the spec names none.

    Raises:
        DataError: the column is absent, is the target, or holds a value that is not a
            finite number >= 0, or the weights add up to 0.
    """
    name = spec.data.weight_column
    if name is None:
        return None, frame
    where = f"weight column {name!r}"
    if name == spec.data.target:
        raise DataError(f"the {where} is the target; name another column in data.weight_column")
    if name not in frame.columns:
        raise DataError(f"the training table has no {where}; its columns are {', '.join(map(str, frame.columns[:20]))}")
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        first = frame[name].iloc[int(np.flatnonzero(bad)[0])]
        raise DataError(
            f"the {where} must hold finite numbers >= 0: {int(bad.sum())} row(s) do not (the first: {first!r})"
        )
    if values.sum() <= 0:
        raise DataError(f"the {where} weighs every row 0")
    return values, frame.drop(columns=[name])


def _families(
    spec: JobSpec, n_rows: int, task: str, notes: list[str], *, weighted: bool = False
) -> dict[str, ModelFamily]:
    keys = spec.search.models or registry.family_keys()
    families = {}
    for key in keys:
        family = registry.get_family(key)
        reason = family.unsuitable_reason(n_rows, task)
        if reason is None and weighted and not family.accepts_weights:
            reason = f"{key} fits no sample weights: not searched (the spec gives data.weight_column)"
        if reason:
            notes.append(reason)
        else:
            families[key] = family
    if not families:
        raise SpecError("no model family can be searched on this table: " + "; ".join(notes[-len(keys) :]))
    return families


def _check_test(test: pd.DataFrame, schema: TableSchema, metric: Metric) -> None:
    """A test table must have the target and the features, and be scorable by the metric."""
    if schema.target not in test.columns:
        raise DataError(f"the test table has no target column {schema.target!r}")
    coerce_features(test.head(100), schema)  # a missing feature column is named now, not after the search
    labels = test[schema.target].dropna()
    if labels.empty:
        raise DataError(f"every value of target column {schema.target!r} in the test table is missing")
    if schema.task == "regression":
        return
    known = encode_known(labels, schema)
    known = known[known >= 0]
    if len(known) == 0:
        raise DataError(f"no row of the test table has a class of target {schema.target!r} seen in training")
    if metric.needs_both_classes and len(np.unique(known)) < 2:
        only = (schema.classes or [])[int(known[0])]
        raise DataError(
            f"the test table holds only class {only!r} of target {schema.target!r}: {metric.name} cannot be "
            "computed on it; give a test table with both classes, or choose --metric accuracy"
        )


__all__ = [
    "Prepared",
    "choose_floor",
    "finish_seconds",
    "floor_seconds",
    "frame_bytes",
    "prepare",
    "trial_memory_bytes",
]
