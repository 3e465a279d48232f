"""Retraining a registered model from its serving log: a real job on the session's Ray, a
real MLflow store, a log written by the serving log writer."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl.artifacts import load_model
from automl.cli import main
from automl.errors import SpecError
from automl.job.registration import register_run
from automl.job.retraining import retrain
from automl.job.run import run_job
from automl.registry import BETTER_TAG, ModelRegistry
from automl.spec import JobSpec
from serve.request_log import RequestLog

pytestmark = pytest.mark.usefixtures("ray_instance")


def _table(n: int, rng: np.random.Generator, low: float, high: float, flipped: bool = False) -> pd.DataFrame:
    """ "yes" above x = 0 (and so everywhere in [2, 6]); flipped: "yes" below x = 4, the trend reversed."""
    x = rng.uniform(low, high, size=n)
    z = rng.normal(size=n)
    positive = (x + 0.3 * z < 4) if flipped else (x + 0.3 * z > 0)
    return pd.DataFrame({"x": x, "z": z, "target": np.where(positive, "yes", "no")})


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrain")
    _table(300, np.random.default_rng(0), -2, 2).to_parquet(root / "train.parquet", index=False)
    spec = JobSpec.from_dict(
        {
            "name": "drifty",
            "data": {"train": str(root / "train.parquet"), "target": "target"},
            "budget": {"max_trials": 3},
            "search": {"models": ["linear", "lightgbm"], "cv_folds": 3},
            "evaluation": {"enabled": False},
        }
    )
    _, location = run_job(spec, root / "run", show_progress=False)
    return root, location


def _log(directory, model, frame: pd.DataFrame, labels) -> None:
    log = RequestLog(directory, max_rows=500, max_files=100, flush_interval_s=3600)
    features = frame.drop(columns=["target"])
    for i, (row, predicted, label) in enumerate(
        zip(features.to_dict(orient="records"), model.predict(features), labels, strict=True)
    ):
        log.append("predict", f"r{i}", {"rows": [row], "predictions": [predicted]})
        log.append("feedback", f"r{i}", {"actual": label})
    log.flush()


def test_a_watch_retrains_on_drift_promotes_the_better_challenger_and_rollback_restores_the_champion(
    champion, tmp_path, capsys
):
    """`automl monitor NAME --watch --retrain --promote`: the drift trips the champion's
    job's thresholds, the watcher starts `automl retrain` (a real process with its own
    Ray), which trains, compares and promotes; a second check is held back by the cooldown."""
    root, location = champion
    registry_root = str(tmp_path / "registry")
    registry = ModelRegistry(registry_root)
    first = register_run(registry, location, "drifty")
    model = load_model(registry.model_dir("drifty"))
    # live rows from x in [2, 6], where "yes" lies below x = 4: the champion, fitted on
    # x in [-2, 2], ranks them backwards
    moved = _table(400, np.random.default_rng(1), 2, 6, flipped=True)
    _log(tmp_path / "log", model, moved, moved["target"])
    watch = ["monitor", "drifty", "--registry", registry_root, "--log-dir", str(tmp_path / "log"), "--watch",
             "--max-checks", "1", "--retrain", "--promote", "--output", str(tmp_path / "watch")]  # fmt: skip
    assert main(watch) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "400 rows, feature drift: x" in line and "retrain submitted: " in line, line
    retrain_log = Path(line.rsplit("retrain submitted: ", 1)[1])
    deadline = time.monotonic() + 600
    while "champion: drifty" not in retrain_log.read_text() and time.monotonic() < deadline:
        time.sleep(1)
    output = retrain_log.read_text()
    assert "280 logged row(s) added to training, 120 held out" in output, output
    assert "champion: drifty v2 [champion]" in output and "(promoted)" in output, output
    held = registry.version("drifty", 2).tags
    assert held[BETTER_TAG] == "true"
    assert float(held["automl.holdout_challenger"]) > float(held["automl.holdout_champion"].split()[1])
    assert registry.version("drifty").version == 2
    assert main(watch) == 0
    assert "no retrain: a retrain was submitted or ran" in capsys.readouterr().out
    assert registry.rollback("drifty").version == first.version == 1
    with pytest.raises(SpecError, match="cooldown"):
        retrain(registry, "drifty", log_dir=tmp_path / "log", output=tmp_path / "again", show_progress=False)


def test_a_challenger_no_better_on_the_held_out_rows_is_not_promoted(champion, tmp_path, capsys):
    root, location = champion
    registry = ModelRegistry(str(tmp_path / "registry"))
    register_run(registry, location, "steady")
    model = load_model(registry.model_dir("steady"))
    same = _table(300, np.random.default_rng(2), -2, 2)
    _log(tmp_path / "log", model, same, model.predict(same.drop(columns=["target"])))  # labels = its answers
    result = retrain(
        registry, "steady", log_dir=tmp_path / "log", output=tmp_path / "challenger", promote=True,
        show_progress=False,
    )  # fmt: skip
    assert result.champion_score == 1.0  # the held-out labels are the champion's own answers
    assert not result.promoted and registry.version("steady").version == 1
    assert registry.version("steady", "challenger").version == 2
    assert any("stays champion" in note for note in result.notes)
    registry_root = str(tmp_path / "registry")
    assert main(["retrain", "steady", "--registry", registry_root, "--log-dir", str(tmp_path / "log")]) == 2
    assert "cooldown" in capsys.readouterr().err  # refused before any work, one line
    assert main(["retrain", "nope", "--registry", registry_root]) == 2
    assert "no registered model 'nope'" in capsys.readouterr().err
