"""Feature engineering as search choices: sampled per trial with the model's own
hyperparameters, applied inside the trial's pipeline (fit on training folds only).

A choice is a parameter of the family's configuration named `fe_*`, so it travels where
every parameter does: Optuna's space, Tune's config, the journal, the leaderboard and the
artifact. A configuration without one (a default, a portfolio entry, an older artifact)
gets the default, which is the fixed preprocessing every family had before the choices.

Which choices a family is offered is its `feature_choices`; which of those a table is
offered follows from its columns (`TableTraits`): no encoding choice without categories,
no imputation choice without missing numbers, no class weights for regression.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl.data.schema import TableSchema
from automl.models.base import ModelFamily, Suggester

PREFIX = "fe_"
IMPUTE = "fe_impute"
SCALE = "fe_scale"
ENCODING = "fe_encoding"
DATETIME = "fe_datetime"
SELECT = "fe_select"
SELECT_SHARE = "fe_select_share"
PCA = "fe_pca"
CLASS_WEIGHT = "fe_class_weight"

#: every choice's options, the default first
OPTIONS: dict[str, tuple[str, ...]] = {
    IMPUTE: ("median", "mean"),  # numbers; missing-value indicators either way
    SCALE: ("standard", "robust", "none"),  # families that scale (linear models, k-NN)
    ENCODING: ("onehot", "ordinal", "target"),  # one-hot below 16 values; ordinal codes; out-of-fold target means
    DATETIME: ("parts", "days"),  # calendar parts and days since 1970, or the days alone
    SELECT: ("none", "variance", "mutual_info", "model"),
    PCA: ("none", "pca"),  # components keeping 95% of the variance
    CLASS_WEIGHT: ("none", "balanced"),
}
#: the share of the preprocessed columns a top-k selection keeps
SELECT_SHARE_RANGE = (0.2, 1.0)
#: `SELECT_SHARE` when a configuration selects without saying how many
DEFAULT_SELECT_SHARE = 0.5


@dataclass(frozen=True)
class TableTraits:
    """What of a table the feature choices depend on."""

    numeric_missing: bool
    categorical: bool
    datetime: bool
    classification: bool

    @classmethod
    def of(cls, schema: TableSchema) -> TableTraits:
        numeric = schema.names_of("numeric")
        return cls(
            numeric_missing=any(schema.allows_missing.get(name, False) for name in numeric),
            categorical=bool(schema.names_of("categorical", "boolean")),
            datetime=bool(schema.names_of("datetime")),
            classification=schema.task != "regression",
        )

    def offered(self, family: ModelFamily) -> list[str]:
        """The choices `family` is offered on this table, in `OPTIONS` order."""
        applies = {
            IMPUTE: self.numeric_missing,
            SCALE: True,
            ENCODING: self.categorical and not family.native_categories,
            DATETIME: self.datetime,
            SELECT: True,
            PCA: True,
            CLASS_WEIGHT: self.classification and family.accepts_weights,
        }
        return [name for name in OPTIONS if name in family.feature_choices and applies[name]]


def declare_choices(trial: Suggester, family: ModelFamily, traits: TableTraits) -> None:
    """Declare the family's feature choices on this table (names unprefixed: the caller's
    `trial` adds the family's key, as for its hyperparameters)."""
    for name in traits.offered(family):
        choice = trial.suggest_categorical(name, list(OPTIONS[name]))
        if name == SELECT and choice in ("mutual_info", "model"):
            trial.suggest_float(SELECT_SHARE, *SELECT_SHARE_RANGE)


def choice_defaults(family: ModelFamily, traits: TableTraits) -> dict[str, Any]:
    """The default of every choice `family` is offered on this table: a configuration
    given with these samples exactly the preprocessing it had before the choices."""
    return {name: OPTIONS[name][0] for name in traits.offered(family)}


def with_choice_defaults(family: ModelFamily, params: Mapping[str, Any], traits: TableTraits) -> dict[str, Any]:
    """`params` with the defaults of the choices it does not make."""
    return {**choice_defaults(family, traits), **params}


@dataclass(frozen=True)
class FeatureChoices:
    """One configuration's feature choices, read from its parameters (defaults where absent)."""

    impute: str = OPTIONS[IMPUTE][0]
    scale: str | None = None  # None: the family's own (standard where it scales, else none)
    encoding: str = OPTIONS[ENCODING][0]
    datetime: str = OPTIONS[DATETIME][0]
    select: str = OPTIONS[SELECT][0]
    select_share: float = DEFAULT_SELECT_SHARE
    pca: bool = False
    class_weight: str = OPTIONS[CLASS_WEIGHT][0]

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> FeatureChoices:
        """The choices of a configuration's parameters.

        Raises:
            ValueError: a choice with a value it does not have.
        """
        for name, options in OPTIONS.items():
            if name in params and params[name] not in options:
                raise ValueError(f"{name} must be one of {', '.join(options)}; got {params[name]!r}")
        share = float(params.get(SELECT_SHARE, DEFAULT_SELECT_SHARE))
        if not 0 < share <= 1:
            raise ValueError(f"{SELECT_SHARE} must be in (0, 1]; got {share}")
        return cls(
            impute=str(params.get(IMPUTE, OPTIONS[IMPUTE][0])),
            scale=None if SCALE not in params else str(params[SCALE]),
            encoding=str(params.get(ENCODING, OPTIONS[ENCODING][0])),
            datetime=str(params.get(DATETIME, OPTIONS[DATETIME][0])),
            select=str(params.get(SELECT, OPTIONS[SELECT][0])),
            select_share=share,
            pca=params.get(PCA, "none") == "pca",
            class_weight=str(params.get(CLASS_WEIGHT, OPTIONS[CLASS_WEIGHT][0])),
        )

    def scaler(self, family_scales: bool) -> str:
        """ "standard", "robust" or "none"."""
        if self.scale is None:
            return "standard" if family_scales else "none"
        return self.scale


def model_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters the family's estimator takes: all but the feature choices."""
    return {k: v for k, v in params.items() if not k.startswith(PREFIX)}


def feature_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Only the feature choices of a configuration's parameters."""
    return {k: v for k, v in params.items() if k.startswith(PREFIX)}


def describe_choices(params: Mapping[str, Any]) -> str:
    """A configuration's feature choices in one line (the leaderboard's `features`):
    `scale=robust, select=mutual_info` and so on; empty when it makes none."""
    return ", ".join(
        f"{k.removeprefix(PREFIX)}={round(v, 2) if isinstance(v, float) else v}"
        for k, v in sorted(feature_params(params).items())
    )


def training_weights(
    params: Mapping[str, Any], y: np.ndarray, weights: np.ndarray | None, classification: bool
) -> np.ndarray | None:
    """The sample weights of one fit: the spec's weight column's (None: none), times
    balanced class weights (n / (k * rows of the class), on these rows) when the
    configuration chose them. None when every row weighs the same."""
    balanced = classification and params.get(CLASS_WEIGHT) == "balanced"
    if not balanced:
        return None if weights is None else np.asarray(weights, dtype=np.float64)
    labels, inverse, counts = np.unique(np.asarray(y), return_inverse=True, return_counts=True)
    per_class = len(y) / (len(labels) * counts.astype(np.float64))
    out = per_class[inverse]
    return out if weights is None else out * np.asarray(weights, dtype=np.float64)


__all__ = [
    "CLASS_WEIGHT",
    "DATETIME",
    "ENCODING",
    "IMPUTE",
    "OPTIONS",
    "PCA",
    "PREFIX",
    "SCALE",
    "SELECT",
    "SELECT_SHARE",
    "SELECT_SHARE_RANGE",
    "FeatureChoices",
    "TableTraits",
    "choice_defaults",
    "describe_choices",
    "declare_choices",
    "feature_params",
    "model_params",
    "training_weights",
    "with_choice_defaults",
]
