"""The model registry on a real MLflow store (SQLite, in a temporary directory)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from automl.artifacts import load_model, save_model
from automl.artifacts.signing import KEY_ENV
from automl.artifacts.store import sha256_of
from automl.cli import main
from automl.data import coerce_features, infer_schema
from automl.errors import ArtifactError, SpecError
from automl.models import get_family
from automl.pipeline.model import Member, TabularModel
from automl.pipeline.trial import build_pipeline
from automl.registry import BETTER_TAG, ModelRegistry


def _model(seed: int) -> tuple[TabularModel, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=200), "z": rng.normal(size=200)})
    frame["target"] = np.where(frame["x"] > 0, "yes", "no")
    schema = infer_schema(frame, "target")
    X, y = coerce_features(frame, schema), (frame["target"] == "yes").to_numpy(dtype=int)
    pipeline = build_pipeline(get_family("linear"), {"C": 0.1 * (seed + 1)}, schema, 0, 1).fit(X, y)
    return TabularModel(schema, "roc_auc", [Member(f"t{seed}", "linear", {"C": 1.0}, [pipeline])]), frame


@pytest.fixture
def runs(tmp_path):
    """Two run directories as a job writes them (model, summary, leaderboard, report)."""
    made = []
    for seed in (0, 1):
        model, frame = _model(seed)
        run = tmp_path / f"run{seed}"
        save_model(model, run / "model")
        (run / "summary.json").write_text(json.dumps({"task": "binary", "metric": "roc_auc", "ensemble_cv_score": 0.9}))
        (run / "leaderboard.csv").write_text("rank,trial_id\n1,t\n")
        (run / "report.html").write_text("<html></html>")
        made.append((run, model, frame))
    return made


def test_register_promote_and_roll_back(runs, tmp_path):
    registry = ModelRegistry(str(tmp_path / "registry"))
    (run0, model0, frame), (run1, model1, _) = runs
    from automl.job.registration import register_run

    first = register_run(registry, run0, "churn")
    second = register_run(registry, run1, "churn")
    assert (first.version, first.aliases) == (1, ["champion"])
    assert (second.version, second.aliases) == (2, ["challenger"])
    assert registry.names() == ["churn"]
    run = registry.client.get_run(first.run_id)
    assert run.data.params["metric"] == "roc_auc" and run.data.metrics["ensemble_cv_score"] == 0.9
    artifacts = {a.path for a in registry.client.list_artifacts(first.run_id)}
    assert {"model", "leaderboard.csv", "report.html", "summary.json"} <= artifacts
    features = frame.drop(columns=["target"])
    champion = load_model(registry.model_dir("churn"))
    np.testing.assert_allclose(champion.predict_proba(features), model0.predict_proba(features))
    assert registry.promote("churn").version == 2
    assert registry.version("churn", "champion").version == 2
    assert registry.version("churn", 2).aliases == ["champion"]
    np.testing.assert_allclose(
        load_model(registry.model_dir("churn")).predict_proba(features), model1.predict_proba(features)
    )
    assert registry.rollback("churn").version == 1
    assert registry.version("churn").version == 1
    with pytest.raises(SpecError, match="no earlier champion"):
        registry.rollback("churn")
    with pytest.raises(SpecError, match="no challenger"):
        registry.promote("churn")


def test_a_version_whose_files_changed_is_refused(runs, tmp_path):
    registry = ModelRegistry(str(tmp_path / "registry"))
    registry.register(runs[0][0] / "model", "churn")
    copy = registry.model_dir("churn")
    with open(copy / "model.pkl", "ab") as handle:  # a rewritten model and checksum: the manifest changed
        handle.write(b"x")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["model.pkl"] = sha256_of(copy / "model.pkl")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="no longer matches the registry's record"):
        registry.model_dir("churn")


def test_with_a_signing_key_an_unsigned_model_is_not_registered(runs, tmp_path, monkeypatch):
    registry = ModelRegistry(str(tmp_path / "registry"))
    monkeypatch.setenv(KEY_ENV, "a-signing-key-of-32-characters!!")
    with pytest.raises(ArtifactError, match="unsigned"):
        registry.register(runs[0][0] / "model", "churn")
    assert registry.names() == []


@pytest.mark.parametrize("delay_s", [0.0, 0.05, 0.3])
def test_a_crash_during_a_registry_write_leaves_it_readable(runs, tmp_path, delay_s):
    root = tmp_path / "registry"
    ModelRegistry(str(root)).register(runs[0][0] / "model", "churn")  # the version that must survive
    script = textwrap.dedent(
        f"""
        from automl.registry import ModelRegistry
        registry = ModelRegistry({str(root)!r})
        print("writing", flush=True)
        registry.register({str(runs[1][0] / "model")!r}, "churn")
        print("done", flush=True)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    try:
        process.wait(timeout=delay_s) if delay_s else None
    except subprocess.TimeoutExpired:
        pass
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    registry = ModelRegistry(str(root))
    versions = registry.versions("churn")
    assert versions[0].version == 1 and registry.version("churn").version == 1
    assert isinstance(load_model(registry.model_dir("churn")), TabularModel)
    again = registry.register(runs[1][0] / "model", "churn")  # and it takes new writes
    assert again.version == len(versions) + 1


def test_the_models_command(runs, tmp_path, capsys):
    root = str(tmp_path / "registry")
    assert main(["models", "--registry", root, "register", str(runs[0][0]), "--name", "churn"]) == 0
    assert main(["models", "--registry", root, "register", str(runs[1][0] / "model"), "--name", "churn"]) == 0
    assert main(["models", "--registry", root, "list"]) == 0
    assert "churn: 2 version(s), champion v1" in capsys.readouterr().out
    assert main(["models", "--registry", root, "promote", "churn"]) == 0
    assert "champion: churn v2 [champion]" in capsys.readouterr().out
    assert main(["models", "--registry", root, "path", "churn"]) == 0
    path = capsys.readouterr().out.strip()
    assert (tmp_path / "registry").as_posix() in path and load_model(path).members[0].trial_id == "t1"
    assert main(["models", "--registry", root, "rollback", "churn"]) == 0
    assert main(["models", "--registry", root, "show", "churn"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("champion: churn v1") and "churn v1 [champion]" in lines[1] and "churn v2" in lines[2]
    assert main(["models", "--registry", root, "show", "nope"]) == 2
    assert "no registered model 'nope'" in capsys.readouterr().err
    assert main(["models", "--registry", root, "register", str(runs[0][0]), "--name", "bad name!"]) == 2


def test_a_rollout_plan_follows_rollout_promotion_and_a_new_challenger(runs, tmp_path, capsys):
    root = str(tmp_path / "registry")
    registry = ModelRegistry(root)
    registry.register(runs[0][0] / "model", "churn")
    with pytest.raises(SpecError, match="no challenger to roll out"):
        registry.set_rollout("churn", "canary", 0.2)
    registry.register(runs[1][0] / "model", "churn")
    plan = registry.rollout_plan("churn")
    assert (plan.champion, plan.challenger, plan.mode) == (1, None, "off")  # registered is not rolled out
    for mode, share in (("canary", 0.0), ("canary", 1.5), ("blue-green", 0.1)):
        with pytest.raises(SpecError):
            registry.set_rollout("churn", mode, share)
    assert main(["models", "--registry", root, "rollout", "churn", "--canary", "0.2"]) == 0
    assert "serving: churn v1, v2 as canary 20%" in capsys.readouterr().out
    plan = registry.rollout_plan("churn")
    assert (plan.challenger, plan.mode, plan.share) == (2, "canary", 0.2)
    assert plan.challenger_dir == registry.model_dir("churn", 2)
    assert main(["models", "--registry", root, "rollout", "churn", "--shadow"]) == 0
    assert registry.rollout_plan("churn").describe() == "churn v1, v2 as shadow"
    registry.promote("churn")  # the challenger's rollout ends with its promotion
    after = replace(plan, champion=2, champion_dir=plan.challenger_dir, challenger=None, challenger_dir=None)
    assert registry.rollout_plan("churn") == replace(after, mode="off", share=0.0)
    registry.rollback("churn")
    registry.register(runs[1][0] / "model", "churn")  # v3, the challenger
    registry.set_rollout("churn", "canary", 0.5)
    registry.register(runs[0][0] / "model", "churn")  # v4: v3's canary is not carried over to it
    assert registry.rollout_plan("churn").describe() == "churn v1"


def test_a_challenger_a_retrain_found_no_better_is_promoted_only_when_forced(runs, tmp_path, capsys):
    root = str(tmp_path / "registry")
    registry = ModelRegistry(root)
    registry.register(runs[0][0] / "model", "churn")
    registry.register(runs[1][0] / "model", "churn")
    registry.client.set_model_version_tag("churn", "2", BETTER_TAG, "false")  # as a retrain records it
    with pytest.raises(SpecError, match="no better than the champion"):
        registry.promote("churn")
    assert main(["models", "--registry", root, "promote", "churn"]) == 2
    assert "--force promotes it anyway" in capsys.readouterr().err
    assert registry.version("churn").version == 1
    assert main(["models", "--registry", root, "promote", "churn", "--force"]) == 0
    assert registry.version("churn").version == 2


def test_each_version_is_an_mlflow_pyfunc_model_that_mlflow_loads(runs, tmp_path, monkeypatch):
    import mlflow.pyfunc

    registry = ModelRegistry(str(tmp_path / "registry"))
    (run0, model0, frame), _ = runs
    registry.register(run0 / "model", "churn")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", registry.uri)
    loaded = mlflow.pyfunc.load_model("models:/churn@champion")
    features = frame.drop(columns=["target"]).head(20)
    pd.testing.assert_frame_equal(loaded.predict(features), model0.prediction_frame(features))
    assert load_model(registry.model_dir("churn")).members[0].trial_id == "t0"  # our own loader finds it inside
