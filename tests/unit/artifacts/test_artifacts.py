from __future__ import annotations

import json

import numpy as np
import pytest

from automl.artifacts import load_model, save_model, verify
from automl.data import coerce_features, infer_schema
from automl.errors import ArtifactError
from automl.models import get_family
from automl.pipeline.model import Member, TabularModel
from automl.pipeline.trial import build_pipeline


@pytest.fixture
def model(binary_table):
    schema = infer_schema(binary_table, "target")
    X = coerce_features(binary_table, schema)
    y = (binary_table["target"] == "yes").to_numpy(dtype=int)
    family = get_family("linear")
    fold_models = [
        build_pipeline(family, {"C": 1.0}, schema, 0, 1).fit(X.iloc[part], y[part])
        for part in (np.arange(0, 150), np.arange(50, 200))
    ]
    return TabularModel(schema=schema, metric="roc_auc", members=[Member("t1", "linear", {"C": 1.0}, fold_models)])


def test_round_trip_predicts_the_same(model, binary_table, tmp_path):
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(binary_table), model.predict_proba(binary_table))
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["task"] == "binary" and manifest["classes"] == ["no", "yes"]
    assert manifest["input_schema"]["target"] == "target"
    assert "scikit-learn" in manifest["versions"]
    assert len(manifest["files"]["model.pkl"]) == 64


def test_tampered_model_file_is_refused(model, tmp_path):
    directory = save_model(model, tmp_path / "m")
    with open(directory / "model.pkl", "ab") as handle:
        handle.write(b"x")
    with pytest.raises(ArtifactError, match="does not match its checksum"):
        load_model(directory)


def test_incomplete_artifact_is_refused(model, tmp_path):
    directory = save_model(model, tmp_path / "m")
    (directory / "model.pkl").unlink()
    with pytest.raises(ArtifactError, match="incomplete artifact, model.pkl is missing"):
        load_model(directory)


def test_missing_manifest_and_missing_directory(model, tmp_path):
    directory = save_model(model, tmp_path / "m")
    (directory / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="no manifest.json"):
        load_model(directory)
    with pytest.raises(ArtifactError, match="not found"):
        load_model(tmp_path / "elsewhere")


def test_manifest_cannot_point_outside_the_artifact(model, tmp_path):
    directory = save_model(model, tmp_path / "m")
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["files"]["../secret"] = "0" * 64
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="outside the artifact"):
        verify(directory)


def test_saving_over_an_artifact_replaces_it_whole(model, tmp_path):
    first = save_model(model, tmp_path / "m")
    version = json.loads((first / "manifest.json").read_text())["model_version"]
    save_model(model, tmp_path / "m")
    assert json.loads((first / "manifest.json").read_text())["model_version"] != version
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no staging left behind


def test_predicting_from_an_artifact_imports_no_search_machinery(model, binary_table, tmp_path):
    """`automl predict` in a fresh interpreter loads neither Ray, nor Optuna, nor the search."""
    import subprocess
    import sys

    schema = model.schema
    X = coerce_features(binary_table, schema)
    y = (binary_table["target"] == "yes").to_numpy(dtype=int)
    boosted = build_pipeline(get_family("lightgbm"), {"num_leaves": 4}, schema, 0, 1).fit(X, y)
    model.members.append(Member("t2", "lightgbm", {"num_leaves": 4}, [boosted]))
    model.weights = [0.5, 0.5]
    directory = save_model(model, tmp_path / "m")
    binary_table.drop(columns=["target"]).to_csv(tmp_path / "rows.csv", index=False)
    code = (
        "import sys\n"
        "from automl.cli import main\n"
        f"code = main(['predict', {str(directory)!r}, {str(tmp_path / 'rows.csv')!r},"
        f" '--output', {str(tmp_path / 'out.csv')!r}])\n"
        "loaded = [m for m in ('ray', 'optuna', 'automl.search', 'automl.job') if m in sys.modules]\n"
        "print(code, ','.join(loaded) or '-')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["0", "-"], done.stdout
    assert (tmp_path / "out.csv").read_text().count("\n") == len(binary_table) + 1
