"""Shared fixtures: small, seeded tables. Tests never read ../shared."""

from __future__ import annotations

import pandas as pd
import pytest
from tables import make_mixed_table


@pytest.fixture
def binary_table() -> pd.DataFrame:
    return make_mixed_table(task="binary")


@pytest.fixture
def multiclass_table() -> pd.DataFrame:
    return make_mixed_table(task="multiclass")


@pytest.fixture
def regression_table() -> pd.DataFrame:
    return make_mixed_table(task="regression")
