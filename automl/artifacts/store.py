"""Model artifacts: a directory with the pickled model and a checksummed manifest.

Pickle can run code when loaded, so a model directory is trusted only after every file
matches the sha256 recorded in its manifest; anything missing, extra in the manifest or
altered is refused before unpickling; with a signing key, so is an unsigned or wrongly
signed manifest (`artifacts.signing`). Artifacts are written to a temporary directory and
renamed into place, so a crash never leaves a half-written model under the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import shutil
import time
import uuid
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

from automl.artifacts.signing import KEY_ENV, KEY_FILE_ENV, check_signature, signed, signing_key
from automl.errors import ArtifactError, SpecError
from automl.files import json_text
from automl.pipeline import pickles
from automl.pipeline.model import TabularModel

FORMAT = "automl-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODEL_FILE = "model.pkl"
_TRACKED_LIBRARIES = ("automl-ray", "scikit-learn", "xgboost", "lightgbm", "numpy", "pandas", "pyarrow")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def save_model(model: TabularModel, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write `model` to `directory` (replacing an earlier artifact there) and return it.

    Args:
        model: the trained model.
        directory: where the artifact goes; its parent is created if needed.
        extra: more JSON-able manifest entries (scores, training summary).
    """
    directory = Path(directory)
    key = signing_key()  # a bad key setting is refused before anything is written
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f".{directory.name}.tmp-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        with open(staging / MODEL_FILE, "wb") as handle:
            pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model_version": uuid.uuid4().hex[:12],
            "task": model.task,
            "metric": model.metric,
            "target": model.schema.target,
            "classes": model.schema.to_dict()["classes"],
            "input_schema": model.schema.to_dict(),
            "members": [
                {
                    "trial_id": m.trial_id,
                    "family": m.family,
                    "params": m.params,
                    "weight": w,
                    "folds": len(m.fold_models),
                }
                for m, w in zip(model.members, model.weights, strict=True)
            ],
            # a second layer's members read these first-layer members' predictions too
            "base_members": [
                {"trial_id": m.trial_id, "family": m.family, "params": m.params, "folds": len(m.fold_models)}
                for m in model.base or []
            ],
            "versions": library_versions(),
            **(extra or {}),
            "files": {MODEL_FILE: sha256_of(staging / MODEL_FILE)},
        }
        if key is not None:
            manifest = signed(manifest, key)
        (staging / MANIFEST).write_text(json_text(manifest))  # the whole directory is renamed into place
        _swap_into_place(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a model directory, checked for shape but not yet for checksums."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: model directory not found")
    path = directory / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{directory}: not a model directory (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not an automl model manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: artifact format version {manifest.get('format_version')} is not supported "
            f"(this automl reads version {FORMAT_VERSION})"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or MODEL_FILE not in files:
        raise ArtifactError(f"{path}: the manifest lists no model file")
    return manifest


def verify(directory: str | Path) -> dict[str, Any]:
    """Check the manifest's signature (when a signing key is configured, `artifacts.signing`)
    and every file against the manifest's sha256; return the manifest.

    Raises:
        ArtifactError: unsigned or wrongly signed while a key is set, or a listed file is
            missing or its content differs.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    check_signature(manifest, signing_key(), str(directory))
    _check_files(directory, manifest)
    return manifest


def sign_model(directory: str | Path) -> Path:
    """Sign an artifact's manifest with the configured key, once its files match their
    checksums (an artifact written before a key was set, or signed with another key).

    Raises:
        SpecError: no signing key is configured.
        ArtifactError: the artifact is missing, unreadable or its files were changed.
    """
    directory = Path(directory)
    key = signing_key()
    if key is None:
        raise SpecError(f"no signing key: set {KEY_ENV} or {KEY_FILE_ENV} to sign {directory}")
    manifest = read_manifest(directory)
    _check_files(directory, manifest)
    staging = directory / f".{MANIFEST}.tmp-{uuid.uuid4().hex[:8]}"
    staging.write_text(json_text(signed(manifest, key)))
    os.replace(staging, directory / MANIFEST)  # atomic: the old manifest or the new, never half of one
    return directory


def _check_files(directory: Path, manifest: dict[str, Any]) -> None:
    for name, expected in manifest["files"].items():
        path = directory / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ArtifactError(f"{directory}: manifest names a file outside the artifact: {name}")
        if not path.is_file():
            raise ArtifactError(f"{directory}: incomplete artifact, {name} is missing")
        if sha256_of(path) != expected:
            raise ArtifactError(f"{directory}: {name} does not match its checksum; refusing to load it")


def load_model(directory: str | Path) -> TabularModel:
    """Verify a model directory's checksums, then load its model.

    Raises:
        ArtifactError: missing, incomplete, tampered or unsupported artifact.
    """
    directory = Path(directory)
    manifest = verify(directory)
    _warn_on_version_drift(manifest.get("versions", {}))
    try:
        with open(directory / MODEL_FILE, "rb") as handle:
            model = pickles.load(handle)  # checksum verified above
    except Exception as exc:  # an unpicklable file despite a matching checksum
        raise ArtifactError(f"{directory}: cannot load the model ({type(exc).__name__}: {exc})") from None
    if not isinstance(model, TabularModel):
        raise ArtifactError(f"{directory}: {MODEL_FILE} does not hold an automl model")
    return model


def _swap_into_place(staging: Path, directory: Path) -> None:
    old = None
    if directory.exists():
        old = directory.with_name(f".{directory.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(directory, old)
    os.replace(staging, directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _warn_on_version_drift(saved: dict[str, str]) -> None:
    current = library_versions()
    drift = [f"{k} {v} -> {current[k]}" for k, v in saved.items() if k in current and current[k] != v and k != "python"]
    if drift:
        warnings.warn(f"model was saved with other library versions ({', '.join(drift)})", stacklevel=3)
