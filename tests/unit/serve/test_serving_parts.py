"""Serving pieces that need no Ray: config bounds, request validation, drift statistics, the log."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from tables import wait_for

from automl.data import coerce_features, infer_schema
from automl.data.coercion import feature_columns
from automl.errors import SpecError
from automl.monitoring import DriftTracker, feature_reference, psi
from serve import ServeConfig, load_config
from serve.recorder import MetricsRecorder
from serve.request_log import RequestLog
from serve.validation import RequestError, checked_rows


def test_config_bounds_and_token(tmp_path, monkeypatch):
    with pytest.raises(SpecError, match="max_replicas .1. must be >= min_replicas .3."):
        load_config(None, min_replicas=3, max_replicas=1)
    with pytest.raises(SpecError, match="port"):
        load_config(None, port=70000)
    monkeypatch.delenv("AUTOML_SERVE_TOKEN", raising=False)
    assert ServeConfig().host == "127.0.0.1" and ServeConfig().token_sha256() is None
    monkeypatch.setenv("AUTOML_SERVE_TOKEN", "abc")
    assert ServeConfig().token_sha256() == hashlib.sha256(b"abc").hexdigest()
    token = tmp_path / "token"
    token.write_text("from-file\n")
    assert ServeConfig(token_file=str(token)).token_sha256() == hashlib.sha256(b"from-file").hexdigest()
    (tmp_path / "empty").write_text("")
    with pytest.raises(ValueError, match="empty"):
        ServeConfig(token_file=str(tmp_path / "empty")).token_sha256()
    config = tmp_path / "serve.yaml"
    config.write_text("max_replicas: 4\nport: 9000\n")
    loaded = load_config(config, port=9100)
    assert loaded.max_replicas == 4 and loaded.port == 9100  # flags override the file


@pytest.fixture
def schema(binary_table):
    return infer_schema(binary_table, "target")


def _row(binary_table):
    row = binary_table.drop(columns=["target"]).iloc[1].to_dict()
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}


@pytest.mark.parametrize(
    "change, status, fragment",
    [
        (lambda r: {k: v for k, v in r.items() if k != "city"}, 422, "missing column(s) city"),
        (lambda r: {**r, "x1": "1.5"}, 422, "x1 must be a number"),
        (lambda r: {**r, "x1": True}, 422, "x1 must be a number"),
        (lambda r: {**r, "x1": None}, 422, "x1 is null"),
        (lambda r: {**r, "colour": [1]}, 422, "colour must be a string"),
        (lambda r: {**r, "x2": 10**400}, 422, "x2 must be finite"),  # JSON integers have no limit
    ],
    ids=["missing", "string-for-number", "bool-for-number", "null-not-allowed", "list-value", "huge-integer"],
)
def test_row_problems_are_named(schema, binary_table, change, status, fragment):
    with pytest.raises(RequestError) as info:
        checked_rows({"rows": [change(_row(binary_table))]}, schema, max_rows=10, reject_extra=False)
    assert info.value.status == status and fragment in info.value.message


def test_valid_rows_pass_and_extras_follow_the_setting(schema, binary_table):
    row = {**_row(binary_table), "x2": None, "unknown": 1}
    assert checked_rows({"rows": [row, row]}, schema, max_rows=10, reject_extra=False) == [row, row]
    with pytest.raises(RequestError, match="unknown column"):
        checked_rows({"rows": [row]}, schema, max_rows=10, reject_extra=True)
    with pytest.raises(RequestError) as info:
        checked_rows({"rows": [row] * 3}, schema, max_rows=2, reject_extra=False)
    assert info.value.status == 413


def test_drift_is_small_on_training_like_rows_and_large_when_shifted(binary_table, schema):
    X = coerce_features(binary_table, schema)
    kinds = {c.name: c.kind for c in schema.columns}
    reference = feature_reference(X, kinds)
    same = DriftTracker(reference, None)
    same.update(X, np.zeros(0))
    assert max(v for v in same.report()["feature_psi"].values() if v is not None) < 0.05
    shifted = X.assign(x1=X["x1"] + 5, colour="green")
    moved = DriftTracker(reference, None)
    moved.update(shifted, np.zeros(0))
    report = moved.report()["feature_psi"]
    assert report["x1"] > 1.0 and report["colour"] > 1.0 and report["x2"] < 0.05
    assert psi(np.array([0.5, 0.5]), np.array([0.0, 0.0])) is None


def test_request_log_rotates_and_never_leaves_partial_files(tmp_path):
    log = RequestLog(tmp_path, max_rows=3, max_files=2)
    for i in range(10):
        log.append("predict", f"r{i}", {"i": i})
    log.flush()
    files = sorted(tmp_path.glob("*.parquet"))
    assert len(files) == 2
    rows = pd.concat(pd.read_parquet(f) for f in files)
    assert sorted(rows["request_id"]) == ["r6", "r7", "r8", "r9"]
    assert not list(tmp_path.glob(".*"))


def test_request_log_payloads_are_strict_json(tmp_path):
    log = RequestLog(tmp_path, max_rows=10, max_files=2)
    # Python's JSON parser accepts NaN and Infinity from a client; the log writes neither
    log.append("predict", "r0", {"rows": [{"x2": float("nan"), "colour": float("inf")}], "predictions": [np.int64(1)]})
    log.flush()
    (path,) = tmp_path.glob("*.parquet")
    payload = pd.read_parquet(path)["payload"].iloc[0]
    assert json.loads(payload, parse_constant=lambda name: pytest.fail(f"{name} in the log")) == {
        "rows": [{"x2": None, "colour": None}],
        "predictions": [1],
    }


def test_request_log_bounds_all_replicas_together_and_writes_on_time(tmp_path):
    first, second = (RequestLog(tmp_path, max_rows=2, max_files=2, flush_interval_s=3600) for _ in range(2))
    for i in range(6):
        first.append("predict", f"a{i}", {})
        second.append("predict", f"b{i}", {})
    rows = pd.concat(pd.read_parquet(f) for f in tmp_path.glob("*.parquet"))
    assert len(rows) == 4 and {"a5", "b5"} <= set(rows["request_id"])  # the newest, from both
    first.append("feedback", "late", {})
    assert "late" not in set(pd.concat(pd.read_parquet(f) for f in tmp_path.glob("*.parquet"))["request_id"])
    first._last_write -= 3601  # an hour since the last write: the next record goes straight to disk
    first.append("feedback", "later", {})
    written = set(pd.concat(pd.read_parquet(f) for f in tmp_path.glob("*.parquet"))["request_id"])
    assert {"late", "later"} <= written


def test_a_quiet_request_log_writes_its_buffer_without_another_record(tmp_path):
    log = RequestLog(tmp_path, max_rows=100, max_files=2, flush_interval_s=0.2)
    try:
        log.append("predict", "r0", {})
        log.append("shadow", "r0", {})  # a burst, then nothing more comes

        def kinds() -> list[str]:
            return [kind for path in sorted(tmp_path.glob("*.parquet")) for kind in pd.read_parquet(path)["kind"]]

        wait_for(lambda: kinds() == ["predict", "shadow"], what="the buffer written")
    finally:
        log.close()


def test_request_log_write_failure_drops_records_and_keeps_going(tmp_path, caplog):
    directory = tmp_path / "log"
    log = RequestLog(directory, max_rows=2, max_files=5)
    directory.rmdir()
    directory.write_text("not a directory")  # every write now fails
    for i in range(4):
        log.append("predict", f"r{i}", {})  # never raises into the request
    assert log.dropped == 4 and "not written" in caplog.text
    directory.unlink()
    directory.mkdir()
    for i in range(4, 6):
        log.append("predict", f"r{i}", {})
    files = list(directory.iterdir())
    assert len(files) == 1 and list(pd.read_parquet(files[0])["request_id"]) == ["r4", "r5"]  # no .tmp left


def test_drift_rows_queued_below_the_fold_size_still_count(binary_table, schema):
    X = coerce_features(binary_table, schema)
    reference = feature_reference(X, {c.name: c.kind for c in schema.columns})
    one_at_a_time = DriftTracker(reference, None, fold_rows=1000)
    for i in range(30):
        one_at_a_time.update(X.iloc[[i]], np.zeros(0))
    assert one_at_a_time.counts["x1"].sum() == 0  # queued, not yet binned
    whole = DriftTracker(reference, None)
    whole.update(X.iloc[:30], np.zeros(0))
    assert one_at_a_time.report() == whole.report()  # a report bins what is queued first
    small = DriftTracker(reference, None, fold_rows=10)
    for i in range(12):
        small.update(X.iloc[[i]], np.zeros(0))
    assert small.counts["x1"].sum() == 10  # binned once ten rows were queued


def test_drift_counts_served_column_arrays_as_it_counts_a_frame(binary_table, schema):
    X = coerce_features(binary_table, schema)
    reference = feature_reference(X, {c.name: c.kind for c in schema.columns})
    raw = binary_table.drop(columns="target").astype(object)
    rows = raw.where(raw.notna(), None).to_dict(orient="records")  # with missing colours and x2 values
    whole = DriftTracker(reference, None)
    whole.update(X, np.zeros(0))
    batched = DriftTracker(reference, None, fold_rows=50)
    for start in range(0, len(rows), 7):  # the batches a replica serves
        batched.update(feature_columns(rows[start : start + 7], schema), np.zeros(0))
    assert batched.report() == whole.report() and batched.rows == len(rows)
    for name, counts in whole.counts.items():
        np.testing.assert_array_equal(batched.counts[name], counts)
    assert whole.counts["colour"][reference["colour"]["values"].index("__missing__")] > 0


class _Points:
    """Collects what a metric was asked to record (the recorder's aggregation under test)."""

    def __init__(self) -> None:
        self.points: list[tuple[str, float, dict | None]] = []

    def inc(self, value: float, tags: dict | None = None) -> None:
        self.points.append(("inc", value, tags))

    def observe(self, value: float, tags: dict | None = None) -> None:
        self.points.append(("observe", value, tags))


def test_metrics_recorder_sums_counters_and_keeps_every_observation():
    recorder = MetricsRecorder(interval_s=3600)  # flushed by hand below
    counter, histogram = _Points(), _Points()
    for status in ["200", "200", "422", "200"]:
        recorder.inc(counter, 1, {"route": "/predict", "status": status})
    recorder.inc(counter, 5, {"route": "/predict", "status": "200"})
    for value in (1.5, 2.5, 9.0):
        recorder.observe(histogram, value, {"route": "/predict"})
    recorder.close()
    assert sorted(counter.points, key=lambda p: p[2]["status"]) == [
        ("inc", 8.0, {"route": "/predict", "status": "200"}),
        ("inc", 1.0, {"route": "/predict", "status": "422"}),
    ]
    assert [p[1] for p in histogram.points] == [1.5, 2.5, 9.0]


def test_serve_flags_reach_the_config(tmp_path):
    from automl.cli import build_parser, serve_config

    config = tmp_path / "serve.yaml"
    config.write_text("max_batch_size: 8\nbatch_wait_timeout_s: 0.05\n")
    args = build_parser().parse_args(["serve", "m", "--config", str(config), "--batch-wait-timeout-s", "0.002"])
    loaded = serve_config(args)
    assert loaded.batch_wait_timeout_s == 0.002 and loaded.max_batch_size == 8  # the flag over the file
    assert (
        serve_config(build_parser().parse_args(["serve", "m"])).batch_wait_timeout_s
        == ServeConfig().batch_wait_timeout_s
    )
    with pytest.raises(SpecError, match="batch_wait_timeout_s"):
        serve_config(build_parser().parse_args(["serve", "m", "--batch-wait-timeout-s", "-1"]))


def test_auto_ingress_is_haproxy_for_a_ray_of_its_own_and_the_proxy_on_a_cluster():
    from automl.compat import haproxy_binary_found
    from serve import ServeConfig, chosen_ingress, ingress_environment

    auto = ServeConfig()
    assert auto.ingress == "auto"
    assert chosen_ingress(auto, joins_cluster=True).ingress == "proxy"
    assert chosen_ingress(auto, joins_cluster=False).ingress == ("haproxy" if haproxy_binary_found() else "proxy")
    assert chosen_ingress(ServeConfig(ingress="proxy"), joins_cluster=False).ingress == "proxy"
    with pytest.raises(SpecError, match="ray start"):
        chosen_ingress(ServeConfig(ingress="haproxy"), joins_cluster=True)
    env = ingress_environment(ServeConfig(ingress="haproxy", host="127.0.0.1"))
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1" and env["AUTOML_SERVE_HAPROXY_HOST"] == "127.0.0.1"
    assert ingress_environment(ServeConfig(ingress="proxy")) == {}


def test_a_rollout_needs_a_challenger_for_a_canary_or_shadow_and_a_share_in_bounds():
    from pydantic import ValidationError

    from serve.config import Rollout

    assert not Rollout(champion="a").splits and not Rollout(champion="a", challenger="b").splits
    assert Rollout(champion="a", challenger="b", share=0.2).splits
    assert Rollout(champion="a", challenger="b", mode="shadow").shadows
    wrong = ({"share": 0.2}, {"mode": "shadow"}, {"challenger": "b", "share": 1.2}, {"challenger": "b", "mode": "ab"})
    for bad in wrong:
        with pytest.raises(ValidationError):
            Rollout(champion="a", **bad)


def test_serve_refuses_a_canary_without_a_challenger(tmp_path, capsys):
    from automl.cli import main

    assert main(["serve", str(tmp_path), "--canary", "0.2"]) == 2
    assert "--canary and --shadow roll out a --challenger" in capsys.readouterr().err
