"""Signed manifests: who wrote an artifact, not only whether its files are intact.

The manifest's sha256 checksums show integrity, but anyone who can write the directory
can rewrite a file and its checksum alike. With a signing key configured, the manifest
(checksums included) carries an HMAC-SHA256 over its canonical JSON, and an artifact is
refused before anything in it is unpickled when its signature is absent or wrong.

The key is the value of `AUTOML_SIGNING_KEY`, or the contents of the file named by
`AUTOML_SIGNING_KEY_FILE` (surrounding whitespace stripped). No key: artifacts are
written unsigned and a signature is not checked (it cannot be).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from automl.errors import ArtifactError, SpecError

KEY_ENV = "AUTOML_SIGNING_KEY"
KEY_FILE_ENV = "AUTOML_SIGNING_KEY_FILE"
SIGNATURE = "signature"
ALGORITHM = "hmac-sha256"
#: a key shorter than this is refused: HMAC is only as strong as its key
MIN_KEY_BYTES = 16


def signing_key() -> bytes | None:
    """The configured key, or None.

    Raises:
        SpecError: the key file cannot be read, or the key is shorter than `MIN_KEY_BYTES`.
    """
    value = os.environ.get(KEY_ENV)
    source = KEY_ENV
    if not value and os.environ.get(KEY_FILE_ENV):
        path = Path(os.environ[KEY_FILE_ENV]).expanduser()
        try:
            value = path.read_text()
        except OSError as exc:
            raise SpecError(f"{KEY_FILE_ENV}={path}: cannot read the signing key ({exc.strerror})") from None
        source = str(path)
    if not value:
        return None
    key = value.strip().encode()
    if len(key) < MIN_KEY_BYTES:
        raise SpecError(f"the signing key from {source} is {len(key)} bytes; use at least {MIN_KEY_BYTES}")
    return key


def canonical(manifest: dict[str, Any]) -> bytes:
    """The bytes a signature covers: the manifest without its signature, as sorted,
    compact JSON."""
    unsigned = {k: v for k, v in manifest.items() if k != SIGNATURE}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def signed(manifest: dict[str, Any], key: bytes) -> dict[str, Any]:
    """`manifest` with its signature."""
    value = hmac.new(key, canonical(manifest), hashlib.sha256).hexdigest()
    return {**manifest, SIGNATURE: {"algorithm": ALGORITHM, "value": value}}


def check_signature(manifest: dict[str, Any], key: bytes | None, where: str) -> None:
    """Refuse a manifest whose signature is absent or wrong when a key is configured.

    Raises:
        ArtifactError: with a key, the manifest is unsigned, signed another way, or its
            signature does not match (another key, or a changed manifest).
    """
    if key is None:
        return
    signature = manifest.get(SIGNATURE)
    if not isinstance(signature, dict) or not isinstance(signature.get("value"), str):
        raise ArtifactError(f"{where}: the artifact is unsigned and a signing key is configured; refusing to load it")
    if signature.get("algorithm") != ALGORITHM:
        raise ArtifactError(f"{where}: the artifact is signed with {signature.get('algorithm')!r}, not {ALGORITHM}")
    expected = hmac.new(key, canonical(manifest), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature["value"]):
        raise ArtifactError(f"{where}: the artifact's signature does not match the signing key; refusing to load it")


def manifest_digest(manifest: dict[str, Any]) -> str:
    """A sha256 of the manifest's canonical form (its files' checksums included): what a
    registry records to know later that a version's files are still the ones it saw."""
    return hashlib.sha256(canonical(manifest)).hexdigest()


__all__ = ["KEY_ENV", "KEY_FILE_ENV", "check_signature", "manifest_digest", "signed", "signing_key"]
