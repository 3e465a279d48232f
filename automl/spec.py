"""The job specification: the problem definition of one AutoML run.

A `JobSpec` is built from a YAML file (`automl run`), from CLI flags (`automl fit`) or
from Python arguments (`AutoML(...)`). It is validated once, here, so that everything
downstream can trust it; the key names are a public contract (DESIGN.md section 4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from automl.errors import SpecError

Task = Literal["auto", "binary", "multiclass", "regression"]
STRATEGIES = ("tpe", "random", "qmc", "cmaes")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSpec(_Strict):
    train: str
    test: str | None = None
    target: str


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

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; choose one of {', '.join(STRATEGIES)}")
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
    final_members: Literal["auto", "bagging", "refit"] = Field(
        default="auto", description="Fold models (bagging), refit on all rows, or chosen by the time left."
    )
    max_inference_ms_per_row: float | None = Field(
        default=None, gt=0, description="Prune members until batched prediction costs at most this."
    )
    save_best_single: bool = Field(
        default=False, description="Also save the best single trial's model as best_single_model/."
    )


class EvaluationSpec(_Strict):
    sensitive_features: list[str] = Field(default_factory=list)


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
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
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
            raise SpecError(_one_line(exc)) from None

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
            raise SpecError(f"spec file {path} is not valid YAML: {exc}".splitlines()[0]) from None
        if not isinstance(raw, dict):
            raise SpecError(f"spec file {path} must hold a mapping of keys, got {type(raw).__name__}")
        return cls.from_dict(raw)


def _one_line(exc: ValidationError) -> str:
    """Summarise pydantic errors as `field.path: message; ...` without the URL noise."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "spec"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "invalid job spec: " + "; ".join(parts)
