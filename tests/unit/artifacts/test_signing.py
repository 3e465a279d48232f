"""Signed artifacts: with a key set, an unsigned, wrongly signed or rewritten artifact is
refused before anything in it is unpickled."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from automl.artifacts import load_model, save_model
from automl.artifacts.signing import KEY_ENV, KEY_FILE_ENV, manifest_digest, signing_key
from automl.artifacts.store import sha256_of
from automl.cli import main
from automl.data import coerce_features, infer_schema
from automl.errors import ArtifactError, SpecError
from automl.models import get_family
from automl.pipeline import pickles
from automl.pipeline.model import Member, TabularModel
from automl.pipeline.trial import build_pipeline

KEY = "a-signing-key-of-32-characters!!"


@pytest.fixture
def model(binary_table):
    schema = infer_schema(binary_table, "target")
    X = coerce_features(binary_table, schema)
    y = (binary_table["target"] == "yes").to_numpy(dtype=int)
    pipeline = build_pipeline(get_family("linear"), {"C": 1.0}, schema, 0, 1).fit(X, y)
    return TabularModel(schema=schema, metric="roc_auc", members=[Member("t1", "linear", {"C": 1.0}, [pipeline])])


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fails the test if the artifact's model file is unpickled."""

    def refuse(handle):
        raise AssertionError("the model was unpickled before the artifact was trusted")

    monkeypatch.setattr(pickles, "load", refuse)


def test_a_signed_artifact_loads_with_its_key(model, binary_table, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    directory = save_model(model, tmp_path / "m")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["signature"]["algorithm"] == "hmac-sha256" and len(manifest["signature"]["value"]) == 64
    np.testing.assert_array_equal(load_model(directory).predict_proba(binary_table), model.predict_proba(binary_table))


def test_an_unsigned_artifact_is_refused_when_a_key_is_set(model, tmp_path, monkeypatch, no_unpickling):
    directory = save_model(model, tmp_path / "m")  # no key yet: unsigned
    monkeypatch.setenv(KEY_ENV, KEY)
    with pytest.raises(ArtifactError, match="unsigned and a signing key is configured"):
        load_model(directory)


def test_another_key_or_a_rewritten_model_and_checksum_is_refused(model, tmp_path, monkeypatch, no_unpickling):
    monkeypatch.setenv(KEY_ENV, KEY)
    directory = save_model(model, tmp_path / "m")
    monkeypatch.setenv(KEY_ENV, "another-key-of-enough-length-0123")
    with pytest.raises(ArtifactError, match="signature does not match"):
        load_model(directory)
    monkeypatch.setenv(KEY_ENV, KEY)
    # someone who can write the directory swaps the model and rewrites its checksum
    (directory / "model.pkl").write_bytes(pickle.dumps({"evil": True}))
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["files"]["model.pkl"] = sha256_of(directory / "model.pkl")
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="signature does not match"):
        load_model(directory)


def test_without_a_key_a_signature_is_not_required(model, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    signed_dir = save_model(model, tmp_path / "signed")
    monkeypatch.delenv(KEY_ENV)
    assert isinstance(load_model(signed_dir), TabularModel)
    assert isinstance(load_model(save_model(model, tmp_path / "plain")), TabularModel)


def test_the_key_file_and_a_short_key(model, tmp_path, monkeypatch):
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    assert signing_key() == KEY.encode()
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(SpecError, match="at least 16"):
        save_model(model, tmp_path / "m")
    assert not (tmp_path / "m").exists()  # refused before anything was written
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "missing"))
    with pytest.raises(SpecError, match="cannot read the signing key"):
        signing_key()


def test_automl_sign_signs_an_existing_artifact(model, tmp_path, monkeypatch, capsys):
    directory = save_model(model, tmp_path / "m")
    before = json.loads((directory / "manifest.json").read_text())
    assert main(["sign", str(directory)]) == 2  # no key: a clear error, exit code 2
    assert "no signing key" in capsys.readouterr().err
    monkeypatch.setenv(KEY_ENV, KEY)
    assert main(["sign", str(directory)]) == 0
    after = json.loads((directory / "manifest.json").read_text())
    assert manifest_digest(after) == manifest_digest(before)  # the digest covers all but the signature
    assert isinstance(load_model(directory), TabularModel)
    with open(directory / "model.pkl", "ab") as handle:
        handle.write(b"x")
    assert main(["sign", str(directory)]) == 2  # changed files are never signed
    assert "does not match its checksum" in capsys.readouterr().err
