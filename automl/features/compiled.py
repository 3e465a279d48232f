"""Fitted preprocessing replayed in plain NumPy, for predicting a few rows at a time.

scikit-learn checks and converts its input at every step of a pipeline. For one row,
our column transformer's ten or so steps spend far longer doing that than a linear model
spends predicting: a served request would pay for validation, not for prediction.
`compile_pipeline` reads a fitted pipeline's learnt values (imputation statistics,
scaling, categories, target encodings) and applies them directly.

Only the steps `build_preprocessor` uses, with the settings it uses, and the feature
choices' selection and PCA steps after it, are replayed;
for anything else it returns None and scikit-learn predicts as before. A logistic
regression's probabilities are computed directly too. Tests hold the two outputs equal
on tables with missing values, unseen categories and dates. A wide table's sparse one-hot
codes are replayed too, as the same CSR matrix scikit-learn stacks.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit
from sklearn import get_config
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler, TargetEncoder
from sklearn.utils.extmath import softmax

from automl.compat import infrequent_enabled
from automl.data.coercion import FeatureTable, column_values, columns_frame
from automl.features.preprocessing import DatetimeFeatures, SwitchOnRows
from automl.features.selection import TopShare
from automl.models.inplace import inplace_probabilities, inplace_values

Step = Callable[[Any], Any]  # an array in, an array (or a sparse one-hot block) out
logger = logging.getLogger(__name__)


class FastEstimator:
    """A fitted model's predictions on preprocessed rows by its quickest exact path: a
    logistic regression's arithmetic, a booster's own prediction (`models.inplace`), or
    else the model's `predict` / `predict_proba`."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        self._probabilities = _linear_probabilities(estimator)
        self._inplace_probabilities = inplace_probabilities(estimator)
        self._inplace_values = inplace_values(estimator)

    @property
    def classes_(self) -> np.ndarray:
        return self.estimator.classes_

    def predict(self, Z: Any) -> np.ndarray:
        if self._inplace_values is not None:
            return self._inplace_values(Z)
        return self.estimator.predict(Z)

    def predict_proba(self, Z: Any) -> np.ndarray:
        if self._probabilities is not None and getattr(Z, "dtype", None) == np.float64:
            return self._probabilities(Z)
        if self._inplace_probabilities is not None:
            return self._inplace_probabilities(Z)
        return self.estimator.predict_proba(Z)


class CompiledPipeline:
    """A fitted preprocessing + estimator pipeline with the preprocessing replayed in NumPy.

    Should the replay ever fail on some input, it logs once and hands that call and all
    later ones to scikit-learn: a served model answers more slowly rather than not at all.
    """

    def __init__(
        self, transform: Callable[[FeatureTable], Any], preprocessor: ColumnTransformer, estimator: Any
    ) -> None:
        self._transform: Callable[[FeatureTable], Any] | None = transform
        self.preprocessor = preprocessor
        self.estimator = estimator
        self.on_transformed = FastEstimator(estimator)

    @property
    def classes_(self) -> np.ndarray:
        return self.estimator.classes_

    def transform(self, X: FeatureTable) -> Any:
        """The preprocessed rows: a NumPy array, or a CSR matrix where the table is wide."""
        if self._transform is not None:
            try:
                return self._transform(X)
            except Exception:
                logger.exception("compiled preprocessing failed; scikit-learn's is used from now on")
                self._transform = None
        return self.preprocessor.transform(X if isinstance(X, pd.DataFrame) else columns_frame(X))

    def predict(self, X: FeatureTable) -> np.ndarray:
        return self.on_transformed.predict(self.transform(X))

    def predict_proba(self, X: FeatureTable) -> np.ndarray:
        return self.on_transformed.predict_proba(self.transform(X))


def _linear_probabilities(estimator: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """`LogisticRegression.predict_proba` without its input checks, which cost a batch of
    rows more than the arithmetic: as scikit-learn 1.9 computes it, the logistic function
    of the decision for two classes and its softmax for more."""
    coef = getattr(estimator, "coef_", None)
    if type(estimator) is not LogisticRegression or not isinstance(coef, np.ndarray) or coef.ndim != 2:
        return None
    coef_t, intercept = coef.T, np.asarray(estimator.intercept_)
    if len(estimator.classes_) > 2:
        return lambda Z: softmax(Z @ coef_t + intercept, copy=False)

    def binary(Z: np.ndarray) -> np.ndarray:
        positive = expit((Z @ coef_t + intercept).reshape(-1))
        return np.stack([1 - positive, positive], axis=1)

    return binary


_compiled: weakref.WeakKeyDictionary[Pipeline, CompiledPipeline | None] = weakref.WeakKeyDictionary()


def fast_pipeline(pipeline: Pipeline) -> CompiledPipeline | Pipeline:
    """The pipeline's compiled form when it has one (built once per pipeline), else itself."""
    if pipeline not in _compiled:
        _compiled[pipeline] = compile_pipeline(pipeline)
    return _compiled[pipeline] or pipeline


def compile_pipeline(pipeline: Any) -> CompiledPipeline | None:
    """Compile a fitted `[("preprocess", ColumnTransformer), (selection or PCA)...,
    ("model", estimator)]` pipeline.

    Returns None when any step is not one this module replays exactly.
    """
    if type(pipeline) is not Pipeline or len(pipeline.steps) < 2:
        return None
    preprocessor, estimator = pipeline.steps[0][1], pipeline.steps[-1][1]
    transform = compile_preprocessor(preprocessor)
    after = [_compile_after(step) for _, step in pipeline.steps[1:-1]]
    if transform is None or any(step is None for step in after):
        return None
    if after:
        first, rest = transform, [step for step in after if step is not None]

        def transform(X: FeatureTable) -> Any:
            values = first(X)
            for step in rest:
                values = step(values)
            return values

        preprocessor = Pipeline(pipeline.steps[:-1])  # scikit-learn's own, should the replay fail
    return CompiledPipeline(transform, preprocessor, estimator)


def _compile_after(step: Any) -> Step | None:
    """A step between the column transformer and the model (`features.choices`): a column
    selection (its support mask) or a PCA projection; None for any other."""
    if type(step) in (VarianceThreshold, TopShare):
        keep = np.flatnonzero(step.get_support())
        return lambda Z: Z[:, keep]
    if type(step) is PCA and not step.whiten:
        mean, components_t = step.mean_, step.components_.T

        def project(Z: Any) -> np.ndarray:
            dense = Z.toarray() if sparse.issparse(Z) else np.asarray(Z, dtype=np.float64)
            return (dense - mean) @ components_t

        return project
    return None


def compile_preprocessor(transformer: Any) -> Callable[[FeatureTable], Any] | None:
    """A function equal to the fitted column transformer's `transform`, or None."""
    if type(transformer) is not ColumnTransformer or not hasattr(transformer, "transformers_"):
        return None
    blocks: list[tuple[list[str], Step]] = []
    for _name, part, columns in transformer.transformers_:
        if isinstance(part, str):
            if part == "drop":
                continue
            return None  # "passthrough"
        compiled = _compile_part(part)
        if compiled is None:
            return None
        blocks.append((list(columns), compiled))
    if not blocks:
        return None
    sparse_output = bool(transformer.sparse_output_)

    def transform(X: FeatureTable) -> Any:
        out = []
        for columns, step in blocks:
            out.append(step(np.column_stack([column_values(X[name]) for name in columns])))  # X[columns] costs more
        if sparse_output:  # as ColumnTransformer stacks: dense parts and CSR parts into one CSR matrix
            return sparse.hstack(out).tocsr()
        return np.hstack([block.toarray() if sparse.issparse(block) else block for block in out])

    return transform


def _compile_part(part: Any) -> Step | None:
    """A fitted transformer, or a pipeline of them, as one function; None if any step is unknown."""
    steps = [step for _, step in part.steps] if type(part) is Pipeline else [part]
    compiled = [_compile_step(step) for step in steps]
    if any(step is None for step in compiled):
        return None

    def chain(values: Any) -> Any:
        for step in compiled:
            values = step(values)  # type: ignore[misc]
        return values

    return compiled[0] if len(compiled) == 1 else chain


def _compile_step(step: Any) -> Step | None:
    kind = type(step)
    if kind is SwitchOnRows:
        return _compile_part(step.chosen_) if hasattr(step, "chosen_") else None
    if kind is SimpleImputer:
        return _imputer(step)
    if kind is StandardScaler:
        return _scaler(step)
    if kind is RobustScaler:
        return _robust_scaler(step)
    if kind is OneHotEncoder:
        return _one_hot(step)
    if kind is OrdinalEncoder:
        return _ordinal(step)
    if kind is TargetEncoder:
        return _target(step)
    if kind is DatetimeFeatures:
        return _datetime_days if step.days_only else _datetime_parts
    return None


def _imputer(step: SimpleImputer) -> Step | None:
    missing = step.missing_values
    if not (isinstance(missing, float) and np.isnan(missing)) or step.keep_empty_features:
        return None
    indicator = step.indicator_.features_ if step.add_indicator else None
    if step.statistics_.dtype == object:
        if step.strategy != "constant" or indicator is not None:
            return None
        fill = step.statistics_

        def impute_objects(X: Any) -> np.ndarray:
            values = np.asarray(X, dtype=object)
            return np.where(pd.isna(values), fill, values)

        return impute_objects
    statistics = step.statistics_.astype(np.float64)
    kept = ~np.isnan(statistics)  # a column with no value to learn from is dropped

    def impute_numbers(X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=np.float64)
        mask = np.isnan(values)
        out = np.where(mask, statistics, values)[:, kept]
        return out if indicator is None else np.hstack([out, mask[:, indicator]])

    return impute_numbers


def _robust_scaler(step: RobustScaler) -> Step:
    return _shift_and_scale(step.center_ if step.with_centering else None, step.scale_ if step.with_scaling else None)


def _scaler(step: StandardScaler) -> Step:
    return _shift_and_scale(step.mean_ if step.with_mean else None, step.scale_ if step.with_std else None)


def _shift_and_scale(center: np.ndarray | None, scale: np.ndarray | None) -> Step:
    """`(X - center) / scale`, either part left out when None: both scalers' transform."""

    def standardise(X: Any) -> np.ndarray:
        values = np.array(X, dtype=np.float64)
        if center is not None:
            values -= center
        if scale is not None:
            values /= scale
        return values

    return standardise


def _codes(categories: list[np.ndarray]) -> Callable[[Any], np.ndarray]:
    """Category index per value and column; -1 for a category not seen in training."""
    tables = [{value: index for index, value in enumerate(values)} for values in categories]

    def codes(X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=object)
        out = np.empty(values.shape, dtype=np.intp)
        for j, table in enumerate(tables):
            out[:, j] = [table.get(value, -1) for value in values[:, j]]
        return out

    return codes


def _one_hot(step: OneHotEncoder) -> Step | None:
    if step.handle_unknown != "ignore" or step.drop_idx_ is not None or infrequent_enabled(step):
        return None
    codes_of = _codes(step.categories_)
    offsets = np.cumsum([0] + [len(c) for c in step.categories_])
    dtype = step.dtype

    def sparse_one_hot(X: Any) -> Any:
        """OneHotEncoder's CSR matrix: a row's known categories in column order, int32 indices."""
        codes = codes_of(X)
        known = codes >= 0
        indices = (codes + offsets[:-1])[known].astype(np.int32)  # row by row, as ravel()[mask] takes them
        indptr = np.zeros(len(codes) + 1, dtype=np.int32)
        np.cumsum(known.sum(axis=1), out=indptr[1:])
        data = np.ones(len(indices), dtype=dtype)
        kind = sparse.csr_array if get_config().get("sparse_interface") == "sparray" else sparse.csr_matrix
        return kind((data, indices, indptr), shape=(len(codes), int(offsets[-1])))

    if step.sparse_output:
        return sparse_one_hot

    def one_hot(X: Any) -> np.ndarray:
        codes = codes_of(X)
        out = np.zeros((len(codes), offsets[-1]), dtype=dtype)
        for j in range(codes.shape[1]):
            rows = np.flatnonzero(codes[:, j] >= 0)
            out[rows, offsets[j] + codes[rows, j]] = 1
        return out

    return one_hot


def _ordinal(step: OrdinalEncoder) -> Step | None:
    if step.handle_unknown != "use_encoded_value" or infrequent_enabled(step):
        return None
    codes_of = _codes(step.categories_)
    unknown, dtype = step.unknown_value, step.dtype

    def ordinal(X: Any) -> np.ndarray:
        codes = codes_of(X)
        return np.where(codes >= 0, codes, unknown).astype(dtype)

    return ordinal


def _target(step: TargetEncoder) -> Step:
    codes_of = _codes(step.categories_)
    n_classes = len(step.classes_) if step.target_type_ == "multiclass" else 1
    means = np.atleast_1d(step.target_mean_)
    # one output column per (feature, class), feature-major, as scikit-learn lays them out
    tables = [np.append(encoding, means[index % n_classes]) for index, encoding in enumerate(step.encodings_)]

    def target(X: Any) -> np.ndarray:
        codes = codes_of(X)
        out = np.empty((len(codes), len(tables)), dtype=np.float64)
        for index, table in enumerate(tables):
            column = codes[:, index // n_classes]
            out[:, index] = table[column]  # -1 picks the appended mean: an unseen category
        return out

    return target


_EPOCH = np.datetime64("1970-01-01T00:00:00", "ns")


def _datetime_days(X: Any) -> np.ndarray:
    """`DatetimeFeatures(days_only=True).transform`: days since 1970 per column; NaN where missing."""
    moments = np.asarray(X, dtype="datetime64[ns]")
    days = (moments - _EPOCH) / np.timedelta64(1, "D")
    days[np.isnat(moments)] = np.nan
    return days.astype(np.float64)


def _datetime_parts(X: Any) -> np.ndarray:
    """`DatetimeFeatures.transform` for datetime64 columns (what `coerce_features` makes):
    year, month, day, weekday, hour and days since 1970 per column; NaN where missing."""
    values = np.asarray(X, dtype="datetime64[ns]")
    blocks = []
    for j in range(values.shape[1]):
        moment = values[:, j]
        day, month = moment.astype("datetime64[D]"), moment.astype("datetime64[M]")
        parts = [
            moment.astype("datetime64[Y]").astype(np.int64) + 1970,
            month.astype(np.int64) % 12 + 1,
            (day - month.astype("datetime64[D]")).astype(np.int64) + 1,
            (day.astype(np.int64) + 3) % 7,  # 1970-01-01 was a Thursday; Monday is 0
            (moment - day).astype("timedelta64[h]").astype(np.int64),
        ]
        block = np.column_stack([*(p.astype(np.float64) for p in parts), (moment - _EPOCH) / np.timedelta64(1, "D")])
        block[np.isnat(moment)] = np.nan
        blocks.append(block)
    return np.hstack(blocks)
