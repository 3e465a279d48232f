"""Suites: YAML files and manifest directories, and the one-line refusals of malformed ones."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from automl.benchmark.suite import load_suite
from automl.errors import SpecError


def test_a_yaml_suite_resolves_paths_beside_it_and_reads_bundled_datasets(tmp_path):
    pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]}).to_parquet(tmp_path / "t.parquet")
    (tmp_path / "suite.yaml").write_text(
        "name: mine\ntables:\n"
        "  - {name: local, source: t.parquet, target: y, task: binary}\n"
        "  - {source: 'sklearn:iris', target: species}\n"
    )
    suite = load_suite(tmp_path / "suite.yaml")
    assert suite.name == "mine"
    local, iris = suite.tables
    assert local.source == str(tmp_path / "t.parquet") and local.read()["y"].tolist() == [0, 1, 0]
    frame = iris.read()
    assert "species" in frame.columns and len(frame) == 150
    assert iris.task == "auto" and iris.name == "sklearn:iris"


def test_a_manifest_directory_is_a_suite(tmp_path):
    pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]}).to_parquet(tmp_path / "a.parquet")
    manifest = [{"name": "a", "file": "a.parquet", "target": "c", "task": "binary", "metric": "roc_auc"}]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    suite = load_suite(tmp_path)
    assert [(t.name, t.metric, t.task) for t in suite.tables] == [("a", "roc_auc", "binary")]
    assert suite.select(["a"]).tables == suite.tables
    with pytest.raises(SpecError, match="has no table nope"):
        suite.select(["nope"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tables: []", "lists no tables"),
        ("name: x", "needs a `tables:` list"),
        ("tables:\n  - {source: a.csv}", "table 1 has no target"),
        ("tables:\n  - {source: a.csv, target: y, task: ranking}", "task 'ranking'"),
        ("tables:\n  - {source: 'sklearn:titanic', target: y}", "sklearn:titanic is not one of"),
        ("tables:\n  - {name: a, source: a.csv, target: y}\n  - {name: a, source: b.csv, target: y}", "two tables"),
        ("tables: [", "not valid YAML"),
    ],
)
def test_a_malformed_suite_is_refused_in_one_line(tmp_path, text, message):
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(SpecError, match=message) as caught:
        load_suite(tmp_path / "s.yaml")
    assert "\n" not in str(caught.value)


def test_a_missing_suite_or_manifest_is_refused(tmp_path):
    with pytest.raises(SpecError, match="no such suite"):
        load_suite(tmp_path / "none.yaml")
    with pytest.raises(SpecError, match="needs a manifest.json"):
        load_suite(tmp_path)
