"""Model families that fail on purpose, to show one broken family cannot stop a search."""

from __future__ import annotations

import os
import resource
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from automl.models.base import ModelFamily


class _RaisesInFit(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> _RaisesInFit:
        raise RuntimeError("this family always fails to fit")


class _KillsItsWorker(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> _KillsItsWorker:
        os._exit(3)  # a hard crash: the trial's worker process dies


class _RunsOutOfMemory(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> _RunsOutOfMemory:
        """Allocate past a memory limit on this process, as a trial in a small container would."""
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as handle:
            in_use = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (in_use + 256 * 2**20, hard))
        try:
            np.ones(2**31, dtype=np.uint8)  # 2 GiB
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        return self


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


class RunsOutOfMemory(AlwaysFails):
    key = "runs_out_of_memory"

    def make_estimator(self, params, task, seed, n_threads):
        return _RunsOutOfMemory()


class _HangsInFit(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> _HangsInFit:
        import time

        time.sleep(3600)  # never checks the fit clock, as a hung library would not
        return self


class HangsInFit(AlwaysFails):
    key = "hangs_in_fit"

    def make_estimator(self, params, task, seed, n_threads):
        return _HangsInFit()
