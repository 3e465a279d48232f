"""Artifacts and journals pickled before classes moved between layers still load."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from automl.pipeline import pickles
from automl.pipeline.stacker import Stacker
from automl.pipeline.trial import TrialOutcome


def _as_if_pickled_from(obj: object, old: str, new: str) -> bytes:
    """Protocol 0 names classes as text lines, so the old module path can be written in."""
    payload = pickle.dumps(obj, protocol=0)
    assert new.encode() in payload
    return payload.replace(new.encode() + b"\n", old.encode() + b"\n")


def test_a_trial_outcome_from_the_search_package_loads_from_the_pipeline():
    outcome = TrialOutcome(family="linear", params={"C": 1.0}, score=0.5)
    payload = _as_if_pickled_from(outcome, "automl.search.trial", "automl.pipeline.trial")
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(payload)  # the old path is gone
    loaded = pickles.loads(payload)
    assert isinstance(loaded, TrialOutcome) and loaded.params == {"C": 1.0} and loaded.score == 0.5


def test_a_stacker_pickled_from_the_ensemble_package_loads_from_the_pipeline():
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    stacker = Stacker(task="binary", n_classes=2, estimator=LogisticRegression().fit(X, y))
    payload = _as_if_pickled_from(stacker, "automl.ensemble.stacking", "automl.pipeline.stacker")
    loaded = pickles.loads(payload)
    assert isinstance(loaded, Stacker) and loaded.n_classes == 2
