"""How a job spends its budget: the split it validates on, the steps' shares, the search's settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl.budget import Budget
from automl.data.splits import HOLDOUT_FRACTION, Folds, make_folds
from automl.data.target import check_scorable
from automl.ensemble.builder import ENSEMBLE_MIN_S, ensemble_seconds, validated_rows
from automl.job.preparation import SEARCH_START_S, Prepared, finish_seconds, trial_memory_bytes
from automl.models.base import ModelFamily
from automl.pipeline.trial import MODEL_KEY
from automl.search.journal import SearchJournal
from automl.search.portfolio import with_feature_defaults
from automl.spec import JobSpec

if TYPE_CHECKING:
    from automl.search.runner import SearchSettings

# The ensemble's share of the budget at most: beyond it, it works on fewer rows and rounds.
ENSEMBLE_MAX_SHARE = 0.15
# Without a time budget (max_trials only), a trial stops after this long, so that one
# hung fit cannot block the job forever.
DEFAULT_TRIAL_TIMEOUT_S = 600.0


def plan_budget(budget: Budget, prepared: Prepared, spec: JobSpec, test_rows: int) -> None:
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
        f"{budget.elapsed():.1f}s spent so far starting up and reading the data, about {floor_s:.1f}s for the "
        f"cheapest model ({family}) on {len(prepared.data.folds)} fold(s), {ENSEMBLE_MIN_S + finish_s:.1f}s for "
        "the ensemble and saving",
    )
    spare = budget.left() - (SEARCH_START_S + floor_s + finish_s)
    budget.reserve("ensemble", max(ENSEMBLE_MIN_S, min(ensemble_s, spare)))
    budget.reserve("finish", finish_s)


def journaled_splits(journal: str | None) -> int | None:
    """How many splits the journal's trials were validated on (None: no journal yet)."""
    found = None if journal is None else SearchJournal(journal)
    if found is None or not found.exists():
        return None
    splits = found.meta().get("n_splits")
    return None if splits is None else int(splits)


def holdout_when_folds_do_not_fit(
    budget: Budget,
    prepared: Prepared,
    spec: JobSpec,
    test_rows: int,
    journaled: int | None = None,
    concurrency: int = 1,
) -> None:
    """Validate on a holdout split when the search could not try enough configurations on
    every fold: when the cheapest model cannot be fitted on every fold in the budget but
    can be on one (a model scored on a holdout beats no model), or, on a table of
    `FEW_TRIALS_MIN_ROWS` or more whose spec does not set the folds, when fewer than
    `MIN_EXPECTED_TRIALS` of the first configurations would fit in the search's time on
    `concurrency` workers (a search of a few trials finds little, and one split costs
    about a fold's share of k). A resumed search keeps the split its journal's trials
    were validated on (`journaled` splits)."""
    folds = prepared.data.folds
    if len(folds) == 1 or journaled == len(folds) or (journaled is None and not budget.limited):
        return
    after = SEARCH_START_S + ENSEMBLE_MIN_S + finish_seconds(prepared, test_rows)
    search_s = budget.left() - after - prepared.floor_s
    if journaled == 1:
        why = "the journal's trials were validated on it"
    elif search_s < 0:
        why = f"they would take the cheapest model about {prepared.floor_s:.0f}s of the {budget.left():.0f}s left"
    else:
        expected = expected_trials(prepared, search_s, concurrency)
        chosen = "cv_folds" in spec.search.model_fields_set
        if chosen or len(prepared.data.y) < FEW_TRIALS_MIN_ROWS or expected is None or expected >= MIN_EXPECTED_TRIALS:
            return
        why = f"about {expected:.0f} of the first configurations would fit in the {search_s:.0f}s the search has"
    holdout = make_folds(
        prepared.data.y, classification=prepared.schema.task != "regression", n_folds=1, seed=spec.search.seed,
        holdout=True,
    )  # fmt: skip
    check_scorable(prepared.data.y, holdout, prepared.schema, prepared.metric.name, prepared.metric.needs_both_classes)
    holdout_s = prepared.floor_s * _fitted_rows(holdout) / _fitted_rows(folds)
    if journaled != 1 and after + holdout_s > budget.left():
        return  # not even one split fits: plan_budget refuses the budget
    prepared.notes.append(
        f"validation: a holdout of {HOLDOUT_FRACTION:.0%} of the rows instead of {len(folds)} folds: {why}"
    )
    prepared.data.folds = holdout
    prepared.floor_s = holdout_s


#: a search expected to try fewer configurations than this on every fold validates on a holdout
MIN_EXPECTED_TRIALS = 10
#: ... on a table of this many rows at least (on fewer, one split's score is too noisy to search on)
FEW_TRIALS_MIN_ROWS = 5_000
#: ... counting the cost of this many of the configurations it starts with
EXPECTED_OVER = 8


def expected_trials(prepared: Prepared, search_s: float, concurrency: int) -> float | None:
    """How many configurations the search is expected to try in `search_s` on
    `concurrency` workers: at the mean prior pace (`prior_pace`) of the first it starts
    with (the portfolio's, else each family's default). None when no pace is known."""
    pace = prior_pace(prepared)
    first = [pace[c[MODEL_KEY]] for c in prepared.portfolio if c[MODEL_KEY] in pace] or list(pace.values())
    first = first[:EXPECTED_OVER]
    if not first or sum(first) <= 0:
        return None
    return search_s * max(1, concurrency) / (sum(first) / len(first))


def _fitted_rows(folds: Folds) -> int:
    """Rows a configuration fits and predicts over all the splits (its cost goes with them)."""
    return sum(len(train) + len(valid) for train, valid in folds.splits)


def search_concurrency(spec: JobSpec, local_cpus: int | None = None) -> int:
    """Trials at once by CPUs alone: the job's share of the running Ray's CPUs, or of
    `local_cpus`, those of the local instance the job is about to start."""
    if local_cpus is not None:
        cpus = float(local_cpus)
    else:
        import ray

        cpus = float(ray.cluster_resources().get("CPU", 1))
    if spec.resources.max_cpus is not None:
        cpus = min(cpus, spec.resources.max_cpus)
    return max(1, int(cpus // spec.resources.cpus_per_trial))


def trial_timeout(spec: JobSpec) -> float | None:
    """The per-trial limit: the spec's, else a default when no time budget bounds the job."""
    if spec.search.trial_timeout_s is not None:
        return spec.search.trial_timeout_s
    return None if spec.budget.time_s is not None else DEFAULT_TRIAL_TIMEOUT_S


def search_settings(
    spec: JobSpec, prepared: Prepared, budget: Budget, *, show_progress: bool, journal: str | None, resume: bool
) -> SearchSettings:
    """The search's settings: the spec's, with the time the budget grants the search."""
    from automl.search.runner import SearchSettings  # Ray Tune and Optuna: imported when a search runs

    return SearchSettings(
        strategy=spec.search.strategy,
        seed=spec.search.seed,
        max_trials=spec.budget.max_trials,
        time_budget_s=budget.grant("search") if budget.limited else None,
        cpus_per_trial=spec.resources.cpus_per_trial,
        keep_models=max(spec.ensemble.top_k, 1),
        show_progress=show_progress,
        trial_timeout_s=trial_timeout(spec),
        max_retries=spec.search.max_retries,
        max_cpus=spec.resources.max_cpus,
        journal=journal,
        resume=resume,
        fingerprint=prepared.fingerprint,
        trial_memory_bytes=trial_memory_bytes(prepared.data.X),
        # with its feature choices' defaults, as the search's first points are: the same
        # configuration, not a second one the sampler would fill in
        floor_config=with_feature_defaults([prepared.floor_config], prepared.data.families, prepared.data.traits)[0]
        if prepared.floor_config
        else prepared.floor_config,
        portfolio=prepared.portfolio,
        prior_pace=prior_pace(prepared),
    )


#: an early-stopping family's first configuration is expected to take this share of its
#: default's cost: its rounds end on the round clock, so it fits whatever time is left
EARLY_STOPPING_PRIOR_SHARE = 0.25


def prior_pace(prepared: Prepared) -> dict[str, float]:
    """Seconds a configuration of each searched family is expected to take before one has
    been timed: the fallback's timed cost on this table (`floor_s`), scaled by each
    family's cost relative to the fallback's family (`portfolio.relative_costs`) and, for
    families that grow a tree per class, by the classes. Families without a relative
    cost get none (the search measures them)."""
    from automl.search.portfolio import relative_costs

    costs = relative_costs()
    floor_family = prepared.floor_config.get("model") if prepared.floor_config else None
    if not prepared.floor_s or floor_family not in costs:
        return {}
    classes = max(1, prepared.data.n_classes) if prepared.schema.task == "multiclass" else 1
    per_unit = prepared.floor_s / (costs[floor_family] * _class_factor(prepared.data.families[floor_family], classes))
    pace = {}
    for key, family in prepared.data.families.items():
        if key in costs:
            seconds = per_unit * costs[key] * _class_factor(family, classes)
            pace[key] = seconds * (EARLY_STOPPING_PRIOR_SHARE if family.early_stopping else 1.0)
    return pace


def _class_factor(family: ModelFamily, classes: int) -> float:
    return float(classes) if family.tree_per_class else float(classes) ** 0.5
