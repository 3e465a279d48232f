"""`automl monitor` on a real artifact and a request log written by the serving log writer."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl.artifacts import save_model
from automl.cli import main
from automl.data import coerce_features, infer_schema
from automl.errors import SpecError
from automl.job.monitor import parse_since
from automl.models import get_family
from automl.monitoring import feature_reference, target_reference
from automl.pipeline.model import Member, TabularModel
from automl.pipeline.trial import build_pipeline
from automl.spec import JobSpec
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


def _result(rows=500, drifted=(), prediction_drifted=False, accuracies=None, window=200, last_rows=None):
    from automl.job.monitor import MonitorResult

    report = {"rows": rows, "drifted": list(drifted), "features": [], "prediction": {"drifted": prediction_drifted}}
    metric = None
    if accuracies is not None:
        metric = {"metric": "accuracy", "window": window,
                  "points": [{"rows": window, "accuracy": a, "until": 0.0} for a in accuracies]}  # fmt: skip
        if last_rows is not None:
            metric["points"][-1]["rows"] = last_rows
    return MonitorResult(report=report, metric=metric)


def test_monitoring_thresholds_say_what_trips_a_retrain():
    from automl.job.watching import tripped
    from automl.spec import MonitoringSpec

    spec = MonitoringSpec()
    assert tripped(_result(), spec) == []
    assert tripped(_result(drifted=["x"]), spec) == ["feature drift: x"]
    assert tripped(_result(rows=150, drifted=["x"], prediction_drifted=True), spec) == []  # too few rows to tell
    assert tripped(_result(drifted=["x"]), spec.model_copy(update={"drifted_features": 2})) == []
    assert tripped(_result(prediction_drifted=True), spec) == ["prediction drift"]
    assert tripped(_result(prediction_drifted=True), spec.model_copy(update={"prediction_drift": False})) == []
    assert tripped(_result(accuracies=[0.90, 0.88]), spec) == []  # 2% worse: within 5%
    (reason,) = tripped(_result(accuracies=[0.90, 0.89, 0.80]), spec)
    assert reason.startswith("live accuracy 0.8, 11% worse")
    assert tripped(_result(accuracies=[0.90, 0.80]), spec.model_copy(update={"metric_drop": None})) == []
    assert tripped(_result(accuracies=[0.9, 0.5], last_rows=20), spec) == []  # a window part-full: no judgement
    with pytest.raises(SpecError, match="monitoring.p_value"):
        JobSpec.from_dict({"data": {"train": "t.csv", "target": "y"}, "monitoring": {"p_value": 2}})


def test_watch_submits_a_retrain_on_drift_once_per_cooldown(artifact, tmp_path, capsys):
    """Two checks of drifted traffic: the first submits `automl retrain` (a real local
    process), the second is held back by the cooldown the registry records."""
    from automl.job.watching import REQUESTED_TAG, check_and_retrain
    from automl.registry import ModelRegistry
    from automl.spec import MonitoringSpec

    directory, model = artifact
    root = str(tmp_path / "registry")
    registry = ModelRegistry(root)
    registry.register(directory, "churn")  # no job.yaml: the default thresholds, and a retrain that refuses
    _log(tmp_path / "log", model, _frame(400, np.random.default_rng(7), shift=0.5))
    code = main(["monitor", "churn", "--registry", root, "--log-dir", str(tmp_path / "log"), "--watch",
                 "--max-checks", "2", "--interval", "0", "--retrain", "--output", str(tmp_path / "watch")])  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(lines) == 2, lines
    assert "400 rows, feature drift: x" in lines[0] and "retrain submitted: " in lines[0]
    assert "no retrain: a retrain was submitted or ran" in lines[1]
    retrain_log = lines[0].rsplit("retrain submitted: ", 1)[1]
    deadline = time.monotonic() + 120
    while "registered without its job" not in Path(retrain_log).read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "registered without its job" in Path(retrain_log).read_text()  # the retrain ran, and said why it stopped
    requested = float(registry.client.get_registered_model("churn").tags[REQUESTED_TAG])
    thresholds = MonitoringSpec(retrain_cooldown_s=60)
    submitted: list[int] = []

    def submit() -> str:
        submitted.append(1)
        return "job"

    result = _result(drifted=["x"])
    held = check_and_retrain(registry, "churn", result, thresholds, submit, now=requested + 30)
    assert held.held_back and not submitted
    later = check_and_retrain(registry, "churn", result, thresholds, submit, now=requested + 61)
    assert later.submitted is not None and submitted == [1]
    assert main(["monitor", str(directory), "--log-dir", str(tmp_path / "log"), "--watch"]) == 2
    assert "--watch follows a registered model" in capsys.readouterr().err
    assert main(["monitor", "churn", "--registry", root, "--log-dir", str(tmp_path / "log"), "--watch",
                 "--retrain", "--canary", "1.5"]) == 2  # fmt: skip
    assert "--canary: a share in (0, 1]" in capsys.readouterr().err


def test_watch_gauges_are_served_in_prometheus_text(artifact, tmp_path):
    import httpx

    from automl.job.monitor import monitor_model
    from automl.monitoring.gauges import MonitorGauges

    directory, model = artifact
    _log(tmp_path / "log", model, _frame(300, np.random.default_rng(8), shift=0.5), feedback_wrong=0.1)
    result = monitor_model(directory, tmp_path / "log")
    gauges = MonitorGauges("churn", 0)
    try:
        gauges.update(result.report, result.metric, tripped=True, submitted=True)
        text = httpx.get(f"http://127.0.0.1:{gauges.port}/metrics", timeout=10).text
    finally:
        gauges.close()
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line[:1] != "#"}
    assert values['automl_drift_flagged{feature="x",model="churn"}'] == 1.0
    assert values['automl_drift_flagged{feature="z",model="churn"}'] == 0.0
    assert values['automl_drift_p_value{feature="x",model="churn"}'] < 1e-3
    assert values['automl_monitored_rows{model="churn"}'] == 300
    assert 0.8 < values['automl_live_metric{metric="accuracy",model="churn"}'] < 1.0
    assert values['automl_retrains_submitted_total{model="churn"}'] == 1.0
