"""Perturbed copies of feature rows: noisy values and missing cells.

What a column counts as is read from its dtype: numbers (not booleans) get Gaussian
noise; booleans, categories and text get values swapped for other values of the column;
other kinds (dates, durations) are left as they are under noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


def is_numeric(column: pd.Series) -> bool:
    """Numbers that noise can be added to (booleans are categories here)."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def is_categorical(column: pd.Series) -> bool:
    """Booleans, categories, objects and text: values that can only be swapped."""
    dtype = column.dtype
    return (
        pd.api.types.is_bool_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


@dataclass(frozen=True)
class Perturber:
    """Noise sized by the whole table: each numeric column's standard deviation and each
    categorical column's distinct values, measured once on the scored rows."""

    stds: dict[Any, float]
    values: dict[Any, np.ndarray]

    @classmethod
    def of(cls, X: pd.DataFrame) -> Perturber:
        stds: dict[Any, float] = {}
        values: dict[Any, np.ndarray] = {}
        for name in X.columns:
            column = X[name]
            if is_numeric(column):
                std = (
                    float(np.nanstd(column.to_numpy(dtype=np.float64, na_value=np.nan)))
                    if column.notna().any()
                    else 0.0
                )
                stds[name] = std if np.isfinite(std) else 0.0
            elif is_categorical(column):
                distinct = pd.unique(column.dropna())
                values[name] = np.asarray(distinct, dtype=object)
        return cls(stds=stds, values=values)

    def untouched_by_noise(self, X: pd.DataFrame) -> list[str]:
        """Columns noise leaves as they are: neither numbers nor categories, or a single value."""
        return [str(c) for c in X.columns if c not in self.stds and (c not in self.values or len(self.values[c]) < 2)]

    def noisy(self, frame: pd.DataFrame, rate: float, rng: np.random.Generator) -> pd.DataFrame:
        """Numbers plus Gaussian noise of `rate` times the column's standard deviation;
        `rate` of the present categorical values replaced by another of the column's values."""
        out = frame.copy()
        for name in frame.columns:
            column = frame[name]
            if name in self.stds:
                numbers = column.to_numpy(dtype=np.float64, na_value=np.nan)
                out[name] = pd.Series(
                    numbers + rng.normal(0.0, rate * self.stds[name], len(numbers)), index=frame.index
                )
            elif name in self.values and len(self.values[name]) >= 2:
                out[name] = _swapped(column, self.values[name], rate, rng)
        return out

    @staticmethod
    def with_missing(frame: pd.DataFrame, rate: float, rng: np.random.Generator) -> pd.DataFrame:
        """Each cell of every column missing with probability `rate` (NaN, NaT or None as
        the column's dtype holds a missing value)."""
        out = frame.copy()
        for name in frame.columns:
            out[name] = frame[name].mask(rng.random(len(frame)) < rate)
        return out


def _swapped(column: pd.Series, distinct: np.ndarray, rate: float, rng: np.random.Generator) -> pd.Series:
    """`rate` of the present values replaced by a different value drawn uniformly from `distinct`."""
    values = column.to_numpy(dtype=object, copy=True)
    codes = pd.Index(distinct).get_indexer(values)
    hit = np.flatnonzero((codes >= 0) & (rng.random(len(values)) < rate))
    drawn = rng.integers(0, len(distinct) - 1, size=len(hit))
    drawn += drawn >= codes[hit]  # skip the current value: always another one
    values[hit] = distinct[drawn]
    swapped = pd.Series(values, index=column.index, dtype=object)
    try:
        return swapped.astype(column.dtype)
    except (TypeError, ValueError):  # a dtype that cannot take the values back: keep them as objects
        return swapped


__all__ = ["Perturber", "is_categorical", "is_numeric"]
