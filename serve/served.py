"""A model as a replica serves it: the verified artifact and what each request reads from
it, made once when the model is loaded (a replica holds its champion, and a challenger
while one is rolled out)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl.artifacts.store import load_model, read_manifest
from automl.monitoring.drift import DriftTracker
from serve.config import ServeConfig
from serve.openapi import openapi_document, swagger_page


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass
class ServedModel:
    """One loaded model, its drift since it was loaded, and its documents."""

    directory: str
    model: Any  # automl.pipeline.model.TabularModel (serve imports only the artifacts layer)
    manifest: dict[str, Any]
    version: str
    drift: DriftTracker
    example: Any
    labels: list[Any]
    label_tags: list[dict[str, str]]
    openapi_json: bytes
    docs_html: str
    shadow_rows: int = 0  # rows it answered in the shadow of the champion
    shadow_agreed: int = 0  # of them, those given the champion's label (classification)
    shadow_difference: float = 0.0  # the sum of |its value - the champion's| over them (regression)


def load_served(model_dir: str, config: ServeConfig, *, auth: bool) -> ServedModel:
    """Load `model_dir` (its checksums, and its signature with a key, checked first).

    Raises:
        ArtifactError: the artifact is missing, incomplete or tampered with.
    """
    model = load_model(model_dir)
    manifest = read_manifest(model_dir)
    version = str(manifest.get("model_version"))
    reference = model.reference or {}
    document = openapi_document(
        model.schema,
        model_version=version,
        max_rows=config.max_rows,
        reject_extra_columns=config.reject_extra_columns,
        auth=auth,
        route_prefix=config.route_prefix,
        metric=manifest.get("metric"),
    )
    labels = [_plain(c) for c in model.classes or []]
    return ServedModel(
        directory=model_dir,
        model=model,
        manifest=manifest,
        version=version,
        drift=DriftTracker(reference.get("features", {}), reference.get("target")),
        example=reference.get("example"),
        labels=labels,
        label_tags=[{"label": str(c)} for c in labels],
        openapi_json=json.dumps(document).encode(),
        docs_html=swagger_page(document),
    )
