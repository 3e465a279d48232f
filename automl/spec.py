"""The job specification: the problem definition of one AutoML run.

A `JobSpec` is built from a YAML file (`automl run`), from CLI flags (`automl fit`) or
from Python arguments (`AutoML(...)`). It is validated once, here, so that everything
downstream can trust it; the key names are a public contract (DESIGN.md section 4).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from automl.errors import SpecError, first_line, validation_message

Task = Literal["auto", "binary", "multiclass", "regression"]
#: the built-in search strategies (`search.strategies` holds what each one is)
STRATEGIES = ("tpe", "random", "qmc", "cmaes", "gp", "cmaes-family", "gp-family", "tpe-asha", "tpe-hyperband")
#: a strategy that needs a module beyond the core: the module and the install that provides it
STRATEGY_NEEDS = {"gp": ("torch", 'pip install -e ".[gp]" --extra-index-url https://download.pytorch.org/whl/cpu')}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSpec(_Strict):
    train: str
    test: str | None = None
    target: str
    positive_class: str | int | float | bool | None = Field(
        default=None,
        description="Binary: the class that threshold metrics (f1) score. Null: the minority class "
        "(on a tie, the label that sorts last).",
    )
    weight_column: str | None = Field(
        default=None,
        description="A column of non-negative sample weights: every fit is weighted by it (scores are not); "
        "it is not a feature.",
    )


class BudgetSpec(_Strict):
    time_s: float | None = Field(default=None, description="Wall-clock budget of the whole job.")
    max_trials: int | None = Field(default=None, description="Stop after this many trials.")

    @field_validator("time_s")
    @classmethod
    def _positive_time(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError(f"must be positive, got {value}")
        return value

    @field_validator("max_trials")
    @classmethod
    def _positive_trials(cls, value: int | None) -> int | None:
        if value is not None and value <= 0:
            raise ValueError(f"must be positive, got {value}")
        return value

    @model_validator(mode="after")
    def _default_time(self) -> BudgetSpec:
        # With neither limit a search would never end; one minute is a useful first look.
        if self.time_s is None and self.max_trials is None:
            self.time_s = 60.0
        return self


class SearchSpec(_Strict):
    strategy: str = "tpe"
    models: list[str] | None = Field(default=None, description="Families to search; all if null.")
    cv_folds: int = Field(default=5, ge=2, le=20)
    seed: int = 0
    trial_timeout_s: float | None = Field(
        default=None, gt=0, description="A trial projected to take longer is stopped between folds."
    )
    max_retries: int = Field(default=1, ge=0, description="Retries of a trial whose worker or node died.")
    portfolio: str = Field(
        default="default",
        description="Configurations tried first: default (the shipped portfolio), none (each family's "
        "default only), or a portfolio JSON file.",
    )
    fixed_features: bool = Field(
        default=False,
        description="Each family's fixed preprocessing: no feature-engineering choices (imputation, scaling, "
        "encoding, dates, selection, PCA, class weights) are searched.",
    )

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; choose one of {', '.join(STRATEGIES)}")
        needs = STRATEGY_NEEDS.get(value.removesuffix("-family"))
        if needs is not None and importlib.util.find_spec(needs[0]) is None:
            module, install = needs
            raise ValueError(f"strategy {value!r} needs {module}, which is not installed: {install}")
        return value

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        from automl.models import registry

        if not value:
            raise ValueError("search.models is empty; leave it out to search every family")
        for key in value:
            registry.get_family(key)  # raises with the list of known families
        return list(dict.fromkeys(value))


class EnsembleSpec(_Strict):
    method: Literal["selection", "stacking", "best"] = "selection"
    top_k: int = Field(default=20, ge=1, description="Top trials that are candidates (plus each family's best).")
    final_members: Literal["auto", "bagging", "refit", "refit_full"] = Field(
        default="auto",
        description="Fold models (bagging), each member refit once on all rows (refit_full; refit is the same), "
        "or chosen by the time left.",
    )
    for_serving: bool = Field(
        default=False,
        description="Save the fastest final model (single-row prediction) whose score is within score_tolerance "
        "of the best: the ensemble or the best single trial, bagged or refit on all rows.",
    )
    score_tolerance: float = Field(
        default=0.001, ge=0, description="for_serving: the score a faster model may give up, relative to the best."
    )
    max_inference_ms_per_row: float | None = Field(
        default=None, gt=0, description="Prune members until batched prediction costs at most this."
    )
    save_best_single: bool = Field(
        default=False, description="Also save the best single trial's model as best_single_model/."
    )


class DataQualitySpec(_Strict):
    allow_personal_data: bool = Field(
        default=False,
        description="Model columns that look like personal data (e-mail, phone, card, IP, people's names); "
        "by default they are flagged and left out.",
    )
    drop: list[str] = Field(default_factory=list, description="Columns never used as features nor logged.")
    hash: list[str] = Field(
        default_factory=list,
        description="Columns used only as salted hashes (the salt is made per job and kept in the artifact).",
    )
    clip_outliers: bool = Field(
        default=False, description="Clip numeric features to the training table's outlier fences (3 IQR)."
    )

    @model_validator(mode="after")
    def _drop_or_hash(self) -> DataQualitySpec:
        both = sorted(set(self.drop) & set(self.hash))
        if both:
            raise ValueError(f"column(s) {', '.join(both)} are both dropped and hashed; choose one")
        return self


class RobustnessSpec(_Strict):
    noise: list[float] = Field(default=[0.1, 0.3], description="Noise rates: a share of each column's spread.")
    missing: list[float] = Field(default=[0.1, 0.3], description="Shares of cells set missing.")

    @field_validator("noise", "missing")
    @classmethod
    def _rates(cls, value: list[float]) -> list[float]:
        bad = [r for r in value if not 0 <= r <= 1]
        if bad:
            raise ValueError(f"rates must be between 0 and 1, got {bad}")
        return value


class EvaluationSpec(_Strict):
    enabled: bool = Field(default=True, description="Evaluate the final model (metrics, importance, robustness).")
    sensitive_features: list[str] = Field(
        default_factory=list, description="Fairness: the final model's metrics per group of these columns."
    )
    robustness: RobustnessSpec = Field(default_factory=RobustnessSpec)
    max_rows: int = Field(
        default=5_000, ge=100, description="Permutation importance and robustness run on at most this many rows."
    )


class MonitoringSpec(_Strict):
    """When a served model counts as degraded: what `automl monitor` flags and what makes
    `automl monitor --watch --retrain` submit a retrain."""

    p_value: float = Field(
        default=0.01, gt=0, lt=1, description="The drift tests' level over all features (Bonferroni-corrected)."
    )
    min_rows: int = Field(default=200, ge=1, description="Logged rows needed before drift counts.")
    drifted_features: int = Field(default=1, ge=1, description="Drifted features that trip a retrain.")
    prediction_drift: bool = Field(default=True, description="Whether drift in the predictions alone trips one.")
    metric_drop: float | None = Field(
        default=0.05,
        gt=0,
        description="A live-metric window worse than the first by this share trips one (accuracy lower, RMSE "
        "higher); null: the live metric never does.",
    )
    window: int = Field(default=200, ge=1, description="Labelled rows per point of the live metric.")
    retrain_cooldown_s: float = Field(default=3600.0, ge=0, description="Seconds between two retrains.")


class ResourcesSpec(_Strict):
    address: str | None = None
    cpus_per_trial: float = Field(default=1, gt=0)
    max_cpus: float | None = Field(
        default=None, gt=0, description="The job's share of the cluster: at most this many CPUs at once."
    )


class JobSpec(_Strict):
    """A validated AutoML job. See DESIGN.md section 4 for the YAML form."""

    name: str = "automl"
    data: DataSpec
    task: Task = "auto"
    metric: str | None = None
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    search: SearchSpec = Field(default_factory=SearchSpec)
    ensemble: EnsembleSpec = Field(default_factory=EnsembleSpec)
    data_quality: DataQualitySpec = Field(default_factory=DataQualitySpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    output: str | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from automl.evaluation.metrics import get_metric

        get_metric(value)  # raises with the list of known metrics
        return value

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> JobSpec:
        """Validate a plain mapping, turning pydantic's report into one `SpecError` line."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise SpecError(validation_message(exc, "invalid job spec")) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> JobSpec:
        """Read a spec file; relative data paths are taken relative to the current directory."""
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise SpecError(f"spec file not found: {path}") from None
        except OSError as exc:
            raise SpecError(f"cannot read spec file {path}: {exc.strerror or exc}") from None
        return cls.from_yaml_text(text, where=str(path))

    @classmethod
    def from_yaml_text(cls, text: str, where: str = "spec") -> JobSpec:
        """Validate a spec given as YAML text (`where` names it in errors)."""
        path = where
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(first_line(f"spec file {path} is not valid YAML: {exc}")) from None
        if not isinstance(raw, dict):
            raise SpecError(f"spec file {path} must hold a mapping of keys, got {type(raw).__name__}")
        return cls.from_dict(raw)


@dataclass(frozen=True)
class Option:
    """One job setting that a flag of `automl fit` and a keyword of `AutoML` (and of the
    scikit-learn estimators) both set: the single list the three faces are built from, so
    that no face can drop a setting the others pass on."""

    name: str  # the Python keyword; the flag is --name-with-dashes unless `flag` says otherwise
    path: tuple[str, ...]  # where the value goes in the JobSpec
    help: str
    type: Callable[[str], Any] = str  # the flag's parser
    flag: str | None = None
    choices: tuple[str, ...] | None = None
    is_list: bool = False  # a comma-separated flag, a list keyword
    is_switch: bool = False  # a flag without a value
    estimators: bool = True  # also a keyword of AutoMLClassifier / AutoMLRegressor

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option(
        "task",
        ("task",),
        "auto, binary, multiclass or regression",
        choices=("auto", "binary", "multiclass", "regression"),
        estimators=False,
    ),
    Option("metric", ("metric",), "roc_auc, log_loss, accuracy, balanced_accuracy, f1, rmse, mae, r2"),
    Option("positive_class", ("data", "positive_class"), "binary: the class f1 scores (default: the minority)"),
    Option(
        "time_budget_s",
        ("budget", "time_s"),
        "wall-clock budget of the whole job (default 60)",
        float,
        flag="--time-budget",
    ),
    Option("max_trials", ("budget", "max_trials"), "stop after this many trials", int),
    Option("strategy", ("search", "strategy"), "search strategy (sampler, and scheduler)", choices=STRATEGIES),
    Option("models", ("search", "models"), "model families to search (default: all)", is_list=True),
    Option("cv_folds", ("search", "cv_folds"), "folds of the cross-validation", int),
    Option("seed", ("search", "seed"), "seeds folds, sampler and models", int),
    Option("trial_timeout_s", ("search", "trial_timeout_s"), "per-trial time limit in seconds", float),
    Option("max_retries", ("search", "max_retries"), "retries of a trial whose worker died", int),
    Option("portfolio", ("search", "portfolio"), "configurations tried first: default, none, or a JSON file"),
    Option(
        "ensemble", ("ensemble", "method"), "selection, stacking or best", choices=("selection", "stacking", "best")
    ),
    Option("top_k", ("ensemble", "top_k"), "top trials that are ensemble candidates", int),
    Option(
        "final_members",
        ("ensemble", "final_members"),
        "fold models (bagging), each member refit on all rows (refit_full), or auto",
        choices=("auto", "bagging", "refit", "refit_full"),
    ),
    Option(
        "for_serving",
        ("ensemble", "for_serving"),
        "save the fastest final model within --score-tolerance of the best",
        is_switch=True,
    ),
    Option(
        "score_tolerance",
        ("ensemble", "score_tolerance"),
        "--for-serving: score a faster model may give up, relative (default 0.001)",
        float,
    ),
    Option("max_inference_ms_per_row", ("ensemble", "max_inference_ms_per_row"), "prune members to this cost", float),
    Option(
        "save_best_single",
        ("ensemble", "save_best_single"),
        "also save the best single trial's model",
        is_switch=True,
        estimators=False,
    ),
    Option("drop_columns", ("data_quality", "drop"), "columns never used nor logged", is_list=True, estimators=False),
    Option(
        "hash_columns",
        ("data_quality", "hash"),
        "columns used only as salted hashes",
        is_list=True,
        estimators=False,
    ),
    Option(
        "allow_personal_data",
        ("data_quality", "allow_personal_data"),
        "model columns that look like personal data",
        is_switch=True,
        estimators=False,
    ),
    Option(
        "clip_outliers",
        ("data_quality", "clip_outliers"),
        "clip numbers to 3 IQR fences",
        is_switch=True,
        estimators=False,
    ),
    Option(
        "sensitive_features",
        ("evaluation", "sensitive_features"),
        "fairness: metrics per group of these columns",
        is_list=True,
        estimators=False,
    ),
    Option(
        "fixed_features",
        ("search", "fixed_features"),
        "search no feature-engineering choices (each family's fixed preprocessing)",
        is_switch=True,
    ),
    Option("weight_column", ("data", "weight_column"), "a column of sample weights every fit uses", estimators=False),
    Option("cpus_per_trial", ("resources", "cpus_per_trial"), "CPUs each trial holds", float),
    Option("max_cpus", ("resources", "max_cpus"), "the job's share of the cluster, in CPUs", float),
    Option("address", ("resources", "address"), "Ray cluster address (default: a new local Ray)"),
)


def spec_from_options(
    *,
    train: str,
    target: str,
    test: str | None = None,
    name: str | None = None,
    output: str | None = None,
    **options: Any,
) -> JobSpec:
    """The `JobSpec` of a job given as `OPTIONS` keywords (None: the spec's default).

    Raises:
        SpecError: an unknown keyword, or a value the spec refuses.
    """
    unknown = sorted(set(options) - {o.name for o in OPTIONS})
    if unknown:
        raise SpecError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(o.name for o in OPTIONS)}")
    raw: dict[str, Any] = {"data": {"train": train, "target": target, "test": test}, "name": name, "output": output}
    for option in OPTIONS:
        value = options.get(option.name)
        if value is None:
            continue
        node = raw
        for key in option.path[:-1]:
            node = node.setdefault(key, {})
        node[option.path[-1]] = list(value) if option.is_list else value
    raw = {k: v for k, v in raw.items() if v is not None}
    raw["data"] = {k: v for k, v in raw["data"].items() if v is not None}
    return JobSpec.from_dict(raw)
