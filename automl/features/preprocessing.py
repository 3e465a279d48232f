"""Preprocessing built inside each trial's pipeline, so it is fit on training folds only.

Numbers are imputed (with missing-value indicators) and scaled where the model needs it;
low-cardinality categories are one-hot encoded; high-cardinality ones are ordinal codes
for tree models or target-encoded (cross-fitted) for the others; datetimes become their
calendar components. Unseen categories and missing values at predict time are absorbed.

Memory: the one-hot block is what grows on wide tables (rows x the sum of the columns'
cardinalities, up to 16 output columns per input column), so past `MAX_DENSE_ONEHOT_BYTES`
it is a sparse CSR matrix (or ordinal codes for a family that takes no sparse input).
The numeric block stays dense: with its missing-value indicators it is at most twice the
data's own float64 size, never a multiple of the column count as one-hot codes are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler, TargetEncoder

from automl.data.schema import ColumnInfo, TableSchema
from automl.features.choices import FeatureChoices

# Categorical columns with more distinct values than this are "high cardinality".
ONEHOT_MAX_CATEGORIES = 15
_MISSING = "__missing__"
# One-hot codes stay dense (as today: the NumPy replay and every model like them best) until
# the dense block of one fit's output would pass this many bytes; past it they are sparse.
# 50k rows x 1,000 columns of 15 values would be 6 GB of float64 dense, 0.6 GB as CSR.
MAX_DENSE_ONEHOT_BYTES = 32 * 2**20
# Output columns besides the one-hot block, per input column of each kind (an estimate:
# missing-value indicators and a multiclass target encoding's extra columns are left out).
_DATETIME_PARTS = 6

HighCardinality = Literal["ordinal", "target"]


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Turn datetime columns into year, month, day, weekday, hour and days since epoch
    (`days_only`: the days since epoch alone)."""

    _PARTS = ("year", "month", "day", "dayofweek", "hour")
    days_only = False  # a class default too: instances pickled before the option lack it

    def __init__(self, days_only: bool = False) -> None:
        self.days_only = days_only

    def fit(self, X: pd.DataFrame, y: object = None) -> DatetimeFeatures:
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        frame = pd.DataFrame(X)
        blocks = []
        for name in frame.columns:
            values = pd.to_datetime(frame[name], errors="coerce")
            for part in () if self.days_only else self._PARTS:
                blocks.append(getattr(values.dt, part).astype("float64").to_numpy())
            days = (values - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
            blocks.append(days.astype("float64").to_numpy())
        return np.column_stack(blocks) if blocks else np.empty((len(frame), 0))


class SwitchOnRows(TransformerMixin, BaseEstimator):
    """`small` fitted on fewer than `min_rows` training rows, `large` from there on.

    The choice is made at fit (the rows of a fold are not known when the pipeline is
    built) and kept as `chosen_`, which then transforms every input.
    """

    def __init__(self, small: BaseEstimator, large: BaseEstimator, min_rows: int) -> None:
        self.small = small
        self.large = large
        self.min_rows = min_rows

    def _choose(self, X: pd.DataFrame) -> BaseEstimator:
        self.n_features_in_ = X.shape[1]
        self.chosen_ = clone(self.large if X.shape[0] >= self.min_rows else self.small)
        return self.chosen_

    def fit(self, X: pd.DataFrame, y: object = None) -> SwitchOnRows:
        self._choose(X).fit(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: object = None) -> object:
        return self._choose(X).fit_transform(X, y)

    def transform(self, X: pd.DataFrame) -> object:
        return self.chosen_.transform(X)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return self.chosen_.get_feature_names_out(input_features)


def build_preprocessor(
    schema: TableSchema,
    *,
    scale: bool,
    high_cardinality: HighCardinality = "ordinal",
    seed: int = 0,
    accepts_sparse: bool = True,
    native_categories: bool = False,
    choices: FeatureChoices | None = None,
) -> ColumnTransformer:
    """A column transformer for `schema`'s features, configured for one model family.

    Args:
        schema: the training table's schema (the input columns are its features).
        scale: standardise numeric outputs (linear models, k-NN).
        high_cardinality: "ordinal" codes (trees split on them well) or "target"
            encoding (distance- and weight-based models need a meaningful number).
        seed: for target encoding's cross-fitting, which shuffles the rows: unseeded, the
            same configuration scored differently every time.
        accepts_sparse: the model takes a scipy CSR matrix. A wide one-hot block is then
            sparse (and so the whole output); for a model that does not, it is replaced by
            ordinal codes. Narrow or short tables get the dense one-hot codes either way.
        native_categories: the model handles categories itself (CatBoost): every
            categorical column becomes one ordinal code (-1: unseen), and they come first,
            in the order of `native_category_count`'s count, so their positions are known
            before the fit.
        choices: the trial's feature choices (`features.choices`): the numbers'
            imputation, the scaler, the categories' encoding and the dates' expansion.
            None: the defaults (median, the family's scaling, one-hot below 16 values,
            every calendar part).
    """
    choices = choices or FeatureChoices()
    scaler = choices.scaler(scale)
    numeric = schema.names_of("numeric")
    categorical = [c for c in schema.columns if c.kind in ("categorical", "boolean")]
    low_columns = [c for c in categorical if c.cardinality <= ONEHOT_MAX_CATEGORIES]
    low = [c.name for c in low_columns]
    high = [c.name for c in categorical if c.cardinality > ONEHOT_MAX_CATEGORIES]
    dates = schema.names_of("datetime")

    def finish(*steps: object) -> Pipeline:
        scaling = {"standard": [StandardScaler()], "robust": [RobustScaler()], "none": []}[scaler]
        return make_pipeline(*steps, *scaling)

    transformers = []
    if native_categories and categorical:
        codes = make_pipeline(SimpleImputer(strategy="constant", fill_value=_MISSING), _ordinal_encoder())
        transformers.append(("categories", codes, [c.name for c in categorical]))
        low, high = [], []
    elif choices.encoding != "onehot":  # every category column coded alike
        low_columns, low = [], []
        high = [c.name for c in categorical]
        high_cardinality = "ordinal" if choices.encoding == "ordinal" else "target"
    if numeric:
        # dense: rows x (numbers + indicators of those with missing values) x 8 bytes, the
        # data itself at most twice over; the one-hot block is what dominates a wide table
        imputer = SimpleImputer(strategy=choices.impute, add_indicator=True)
        transformers.append(("numeric", finish(imputer), numeric))
    if low:
        other_width = len(numeric) + len(high) + _DATETIME_PARTS * len(dates)
        transformers.append(("onehot", _one_hot(schema, low_columns, other_width, accepts_sparse, finish), low))
    if high:
        encoder = (
            _ordinal_encoder()
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
        parts = DatetimeFeatures(days_only=choices.datetime == "days")
        transformers.append(("datetime", finish(parts, SimpleImputer(strategy="median")), dates))
    # 1.0: the output is sparse whenever a part is (only a wide one-hot block is), else dense
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=1.0)


def native_category_count(schema: TableSchema) -> int:
    """How many leading columns of a `native_categories` preprocessor's output are codes."""
    return sum(1 for c in schema.columns if c.kind in ("categorical", "boolean"))


def _one_hot(
    schema: TableSchema,
    columns: list[ColumnInfo],
    other_width: int,
    accepts_sparse: bool,
    finish: Callable[..., Pipeline],
) -> BaseEstimator:
    """One-hot codes for the low-cardinality columns: dense while the dense block stays
    under `MAX_DENSE_ONEHOT_BYTES` (by the rows a fit sees), else sparse or ordinal codes.

    Dense, the block costs rows x width x itemsize bytes (float32 alone, float64 once
    stacked with other parts). Sparse, each row has one value per column, each costing
    itemsize + a 4-byte column index, but then the other parts are stored sparse too:
    where that would not be smaller than the dense output, it stays dense.
    """
    imputer = SimpleImputer(strategy="constant", fill_value=_MISSING)
    dense = make_pipeline(imputer, OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32))
    width = sum(c.cardinality + schema.allows_missing.get(c.name, False) for c in columns)  # missing: a category
    itemsize = 8 if other_width else 4
    min_rows = -(-MAX_DENSE_ONEHOT_BYTES // (max(width, 1) * itemsize))  # rows from which the dense block is too big
    if not accepts_sparse:
        return SwitchOnRows(dense, finish(clone(imputer), _ordinal_encoder()), min_rows=min_rows)
    if (other_width + len(columns)) * (itemsize + 4) >= (other_width + width) * itemsize:
        return dense  # the other parts dominate: sparse would save nothing
    wide = make_pipeline(clone(imputer), OneHotEncoder(handle_unknown="ignore", sparse_output=True, dtype=np.float32))
    return SwitchOnRows(dense, wide, min_rows=min_rows)


def _ordinal_encoder() -> OrdinalEncoder:
    return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.float64)


def _cross_fitting(schema: TableSchema, seed: int) -> KFold | StratifiedKFold:
    """Target encoding's own default folds (5, shuffled, stratified for classes), seeded."""
    folds = KFold if schema.task == "regression" else StratifiedKFold
    return folds(n_splits=5, shuffle=True, random_state=seed)


def _target_type(schema: TableSchema) -> str:
    # "auto" for classes: a training fold may lack a class, and the encoder must then
    # encode the classes it saw rather than fail.
    return "continuous" if schema.task == "regression" else "auto"
