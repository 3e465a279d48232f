"""Model families that fail on purpose, to show one broken family cannot stop a search."""

from __future__ import annotations

import os
from typing import Any

from sklearn.base import BaseEstimator, ClassifierMixin

from automl.models.base import ModelFamily


class _RaisesInFit(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> _RaisesInFit:
        raise RuntimeError("this family always fails to fit")


class _KillsItsWorker(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> _KillsItsWorker:
        os._exit(3)  # a hard crash: the trial's worker process dies


class AlwaysFails(ModelFamily):
    key = "always_fails"

    def search_space(self, trial, n_rows, task):
        trial.suggest_int("depth", 1, 3)

    def default_params(self, n_rows, task):
        return {"depth": 1}

    def make_estimator(self, params, task, seed, n_threads):
        return _RaisesInFit()


class CrashesWorker(AlwaysFails):
    key = "crashes_worker"

    def make_estimator(self, params, task, seed, n_threads):
        return _KillsItsWorker()
