"""`automl monitor` on a real artifact and a request log written by the serving log writer."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from automl.artifacts import save_model
from automl.cli import main
from automl.data import coerce_features, infer_schema
from automl.job.monitor import parse_since
from automl.models import get_family
from automl.monitoring import feature_reference, target_reference
from automl.pipeline.model import Member, TabularModel
from automl.pipeline.trial import build_pipeline
from serve.request_log import RequestLog


def _frame(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    x = rng.normal(loc=shift, size=n)
    z = rng.normal(size=n)
    colour = rng.choice(["red", "blue"], n)
    return pd.DataFrame({"x": x, "z": z, "colour": colour, "target": np.where(x + 0.3 * z > 0, "yes", "no")})


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    frame = _frame(2_000, np.random.default_rng(0))
    schema = infer_schema(frame, "target")
    X = coerce_features(frame, schema)
    y = (frame["target"] == "yes").to_numpy(dtype=int)
    pipeline = build_pipeline(get_family("linear"), {"C": 1.0}, schema, 0, 1).fit(X, y)
    reference = {
        "features": feature_reference(X, {c.name: c.kind for c in schema.columns}),
        "target": target_reference(y, "binary", 2),
    }
    model = TabularModel(schema, "roc_auc", [Member("t", "linear", {"C": 1.0}, [pipeline])], reference=reference)
    return save_model(model, tmp_path_factory.mktemp("monitor") / "model"), model


def _log(directory, model, frame: pd.DataFrame, *, feedback_wrong: float = 0.0, seed: int = 0) -> None:
    """One request per row, as the server logs them, and feedback for each; a share of the
    fed-back labels contradict the prediction."""
    log = RequestLog(directory, max_rows=100, max_files=100, flush_interval_s=3600)
    features = frame.drop(columns=["target"])
    predicted = model.predict(features)
    rng = np.random.default_rng(seed)
    for i, (row, label) in enumerate(zip(features.to_dict(orient="records"), predicted, strict=True)):
        log.append("predict", f"r{i}", {"rows": [row], "predictions": [label]})
        wrong = rng.random() < feedback_wrong
        log.append("feedback", f"r{i}", {"actual": ("no" if label == "yes" else "yes") if wrong else label})
    log.flush()


def test_monitor_flags_the_shifted_feature_and_shows_the_live_metric(artifact, tmp_path, capsys):
    directory, model = artifact
    _log(tmp_path / "log", model, _frame(600, np.random.default_rng(1), shift=0.5), feedback_wrong=0.2)
    code = main(["monitor", str(directory), "--log-dir", str(tmp_path / "log"), "--output", str(tmp_path / "out"),
                 "--fail-on-drift"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 3, out
    assert "drift: x" in out and "600 logged rows" in out
    result = json.loads((tmp_path / "out" / "monitor.json").read_text())
    assert result["drifted"] == ["x"]
    assert result["prediction"]["drifted"]  # more "yes" predicted as x moved up
    assert result["feedback_rows"] == 600
    points = result["live_metric"]["points"]
    assert [p["rows"] for p in points] == [200, 200, 200]
    assert all(0.7 < p["accuracy"] < 0.9 for p in points)  # 20% of the labels contradict the model
    for name in ("drift.png", "metric.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_traffic_like_training_passes_and_since_filters_everything_out(artifact, tmp_path, capsys):
    directory, model = artifact
    _log(tmp_path / "log", model, _frame(400, np.random.default_rng(2)))
    assert main(["monitor", str(directory), "--log-dir", str(tmp_path / "log"), "--fail-on-drift"]) == 0
    assert "drift:" not in capsys.readouterr().out
    assert main(["monitor", str(directory), "--log-dir", str(tmp_path / "log"), "--since", "2999-01-01"]) == 0
    assert "0 logged rows" in capsys.readouterr().out


def test_bad_monitor_input_is_one_line_and_exit_code_2(artifact, tmp_path, capsys):
    directory, _ = artifact
    assert main(["monitor", str(directory), "--log-dir", str(tmp_path / "nowhere")]) == 2
    assert "no request log here" in capsys.readouterr().err
    assert main(["monitor", str(directory), "--log-dir", str(tmp_path), "--since", "yesterday"]) == 2
    assert "ISO 8601" in capsys.readouterr().err
    assert parse_since("30m", now=10_000.0) == 10_000.0 - 1800
    assert parse_since("2026-12-01T00:00:00+00:00") == pd.Timestamp("2026-12-01", tz="UTC").timestamp()


def test_monitor_takes_a_registered_models_name(artifact, tmp_path, capsys):
    from automl.registry import ModelRegistry

    directory, model = artifact
    registry = str(tmp_path / "registry")
    ModelRegistry(registry).register(directory, "churn")
    _log(tmp_path / "log", model, _frame(300, np.random.default_rng(5), shift=0.5))
    code = main(["monitor", "churn", "--registry", registry, "--log-dir", str(tmp_path / "log"), "--fail-on-drift"])
    assert code == 3 and "drift: x" in capsys.readouterr().out
    assert main(["monitor", "nope", "--registry", registry, "--log-dir", str(tmp_path / "log")]) == 2
    assert "no registered model 'nope'" in capsys.readouterr().err
