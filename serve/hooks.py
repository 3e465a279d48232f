"""Monitor hooks: plug your own monitoring into every replica.

Name a hook in `ServeConfig.hooks` as "package.module:ClassName"; each replica builds one
instance with no arguments and calls it after every prediction and feedback. A hook
that raises is logged and skipped: monitoring never fails a request.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd


class MonitorHook:
    """Base class of a monitor hook; override what you need."""

    def on_predict(self, request_id: str, rows: pd.DataFrame, raw: np.ndarray) -> None:
        """After a prediction: the request's validated rows and raw outputs (probabilities or values)."""

    def on_feedback(self, records: list[dict[str, Any]]) -> None:
        """After ground truth arrives: records of request_id and actual values."""


def load_hooks(paths: list[str]) -> list[MonitorHook]:
    """One instance of each "package.module:ClassName" in `paths`, built with no arguments."""
    hooks = []
    for path in paths:
        module_name, _, class_name = path.partition(":")
        if not module_name or not class_name:
            raise ValueError(f"hook {path!r} must look like 'package.module:ClassName'")
        hooks.append(getattr(importlib.import_module(module_name), class_name)())
    return hooks
