"""Our artifact as an MLflow pyfunc model: each registered version's `model` is one, so
MLflow's own tools load it (`mlflow.pyfunc.load_model("models:/churn@champion")`, `mlflow
models serve`), and its predictions are `automl predict`'s columns (prediction, and
proba_<class> for a classifier).

The pyfunc wrapper holds nothing of its own: the artifact lies under its `artifacts/model`
and is verified (checksums, and the signature with a key) when MLflow loads it, as
`automl.artifacts.load_model` does everywhere else.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.pyfunc.model import PythonModel

REQUIREMENTS = ["automl-ray"]


class AutoMLPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        from automl.artifacts.store import load_model

        self.model = load_model(context.artifacts["model"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.model.prediction_frame(frame)


def save_pyfunc(model_dir: Path, destination: Path) -> Path:
    """Write a pyfunc model at `destination` (a path that does not exist yet) holding a
    copy of the artifact in `model_dir`; return `destination`."""
    quiet = logging.getLogger("mlflow.pyfunc")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its note on pickled python models: ours is a class of this package
    try:
        mlflow.pyfunc.save_model(
            str(destination),
            python_model=AutoMLPyfunc(),
            artifacts={"model": str(model_dir)},
            pip_requirements=REQUIREMENTS,  # named, not inferred: inference loads the model in a subprocess
        )
    finally:
        quiet.setLevel(level)
    return destination


def artifact_in(directory: Path) -> Path:
    """The artifact inside a version's `model` directory: under `artifacts/` in a pyfunc
    model (MLflow names the copy after the original directory), else the directory itself."""
    if (directory / "MLmodel").is_file():
        for manifest in sorted((directory / "artifacts").glob("*/manifest.json")):
            return manifest.parent
    return directory


__all__ = ["AutoMLPyfunc", "artifact_in", "save_pyfunc"]
