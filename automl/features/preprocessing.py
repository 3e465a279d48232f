"""Preprocessing built inside each trial's pipeline, so it is fit on training folds only.

Numbers are imputed (with missing-value indicators) and scaled where the model needs it;
low-cardinality categories are one-hot encoded; high-cardinality ones are ordinal codes
for tree models or target-encoded (cross-fitted) for the others; datetimes become their
calendar components. Unseen categories and missing values at predict time are absorbed.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

from automl.data.schema import TableSchema

# Categorical columns with more distinct values than this are "high cardinality".
ONEHOT_MAX_CATEGORIES = 15
_MISSING = "__missing__"

HighCardinality = Literal["ordinal", "target"]


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Turn datetime columns into year, month, day, weekday, hour and days since epoch."""

    _PARTS = ("year", "month", "day", "dayofweek", "hour")

    def fit(self, X: pd.DataFrame, y: object = None) -> DatetimeFeatures:
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        frame = pd.DataFrame(X)
        blocks = []
        for name in frame.columns:
            values = pd.to_datetime(frame[name], errors="coerce")
            for part in self._PARTS:
                blocks.append(getattr(values.dt, part).astype("float64").to_numpy())
            days = (values - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
            blocks.append(days.astype("float64").to_numpy())
        return np.column_stack(blocks) if blocks else np.empty((len(frame), 0))


def build_preprocessor(
    schema: TableSchema, *, scale: bool, high_cardinality: HighCardinality = "ordinal", seed: int = 0
) -> ColumnTransformer:
    """A column transformer for `schema`'s features, configured for one model family.

    Args:
        schema: the training table's schema (the input columns are its features).
        scale: standardise numeric outputs (linear models, k-NN).
        high_cardinality: "ordinal" codes (trees split on them well) or "target"
            encoding (distance- and weight-based models need a meaningful number).
        seed: for target encoding's cross-fitting, which shuffles the rows: unseeded, the
            same configuration scored differently every time.
    """
    numeric = schema.names_of("numeric")
    categorical = [c for c in schema.columns if c.kind in ("categorical", "boolean")]
    low = [c.name for c in categorical if c.cardinality <= ONEHOT_MAX_CATEGORIES]
    high = [c.name for c in categorical if c.cardinality > ONEHOT_MAX_CATEGORIES]
    dates = schema.names_of("datetime")

    def finish(*steps: object) -> Pipeline:
        return make_pipeline(*steps, *([StandardScaler()] if scale else []))

    transformers = []
    if numeric:
        transformers.append(("numeric", finish(SimpleImputer(strategy="median", add_indicator=True)), numeric))
    if low:
        transformers.append(
            (
                "onehot",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=_MISSING),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32),
                ),
                low,
            )
        )
    if high:
        encoder = (
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.float64)
            if high_cardinality == "ordinal"
            else TargetEncoder(target_type=_target_type(schema), cv=_cross_fitting(schema, seed))
        )
        transformers.append(
            (
                "high_cardinality",
                finish(SimpleImputer(strategy="constant", fill_value=_MISSING), encoder),
                high,
            )
        )
    if dates:
        transformers.append(("datetime", finish(DatetimeFeatures(), SimpleImputer(strategy="median")), dates))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


def _cross_fitting(schema: TableSchema, seed: int) -> KFold | StratifiedKFold:
    """Target encoding's own default folds (5, shuffled, stratified for classes), seeded."""
    folds = KFold if schema.task == "regression" else StratifiedKFold
    return folds(n_splits=5, shuffle=True, random_state=seed)


def _target_type(schema: TableSchema) -> str:
    # "auto" for classes: a training fold may lack a class, and the encoder must then
    # encode the classes it saw rather than fail.
    return "continuous" if schema.task == "regression" else "auto"
