"""Unpickling our own files (artifacts, journals) across the modules' moves.

Pickle records each class by module path; classes that moved between layers are read
from where they live now, so models saved before the move still load. Callers verify
checksums before anything reaches here.
"""

from __future__ import annotations

import io
import pickle
from typing import IO

#: module a class was pickled from -> module it lives in now
MOVED_MODULES = {
    "automl.ensemble.predictor": "automl.pipeline.model",
    "automl.search.trial": "automl.pipeline.trial",
}
#: (old module, class) for classes that left a module which still exists
MOVED_CLASSES = {("automl.ensemble.stacking", "Stacker"): "automl.pipeline.stacker"}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        module = MOVED_CLASSES.get((module, name), MOVED_MODULES.get(module, module))
        return super().find_class(module, name)


def load(handle: IO[bytes]) -> object:
    """`pickle.load` that finds moved classes."""
    return _Unpickler(handle).load()


def loads(payload: bytes) -> object:
    """`pickle.loads` that finds moved classes."""
    return load(io.BytesIO(payload))
