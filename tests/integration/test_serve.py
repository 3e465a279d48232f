"""Serving over real HTTP on 127.0.0.1: predictions, bad input, auth, scaling, failures, versions."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pandas as pd
import pytest
import ray
from ray import serve as ray_serve
from tables import predict_in_subprocess, wait_for

from automl import AutoML
from automl.artifacts.store import load_model, save_model
from automl.data.coercion import coerce_features
from automl.data.target import encode_target
from automl.features.choices import training_weights
from automl.models import registry
from automl.pipeline.model import Member, TabularModel
from automl.pipeline.trial import build_pipeline, fit_pipeline
from serve import ServeConfig, deploy

pytestmark = pytest.mark.usefixtures("ray_instance")
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def models(binary_artifact, tmp_path_factory):
    """The session's binary model (v1) and a second version of it (v2, another family) to roll over to."""
    frame = binary_artifact.frame
    root = tmp_path_factory.mktemp("serve")
    second = AutoML(max_trials=2, time_budget_s=None, models=["knn"], cv_folds=3, verbose=False, seed=1)
    second.fit(frame, target="target").save(root / "v2")
    return frame, binary_artifact.path, root / "v2", root


@pytest.fixture(scope="module")
def server(models, serve_url, serve_port):
    frame, v1, _, root = models
    common = {"port": serve_port, "cpus_per_replica": 0.25, "max_batch_size": 8, "downscale_delay_s": 2.0}
    base = deploy(v1, ServeConfig(name="plain", route_prefix="/plain", log_dir=str(root / "log"),
                                  log_max_rows_per_file=5, log_max_files=3, **common))  # fmt: skip
    token_file = root / "token"
    token_file.write_text(TOKEN + "\n")
    deploy(v1, ServeConfig(name="secure", route_prefix="/secure", token_file=str(token_file),
                           reject_extra_columns=True, max_rows=5, max_body_bytes=4000, **common))  # fmt: skip
    client = httpx.Client(base_url=base.rsplit("/plain", 1)[0], timeout=60)
    assert str(client.base_url).rstrip("/") == serve_url
    yield frame, client, common
    client.close()  # serve_url deletes the applications


def _rows(frame, n=3):
    rows = frame.drop(columns=["target"]).head(n).to_dict(orient="records")
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()} for r in rows]


def meta_features(meta):
    return [c["name"] for c in meta["schema"]]


def _auth():
    return {"authorization": f"Bearer {TOKEN}"}


def test_served_predictions_equal_automl_predict(server, models, tmp_path):
    frame, client, _ = server
    _, v1, _, _ = models
    rows = _rows(frame, 20)
    response = client.post("/plain/predict", json={"rows": rows})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request_id"] == response.headers["x-automl-request-id"]
    data = tmp_path / "rows.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    expected = predict_in_subprocess(v1, data, tmp_path / "pred.csv")
    assert body["predictions"] == expected["prediction"].tolist()
    np.testing.assert_allclose(body["probabilities"], expected[["proba_no", "proba_yes"]].to_numpy(), atol=1e-7)
    assert body["model_version"] == client.get("/plain/metadata").json()["model_version"]


#: a member for each feature choice (`features.choices`), several per member
FEATURE_CHOICES = [
    ("linear", {"fe_scale": "robust", "fe_encoding": "target", "fe_impute": "mean", "fe_datetime": "days",
                "fe_class_weight": "balanced"}),
    ("linear", {"fe_select": "mutual_info", "fe_select_share": 0.5, "fe_pca": "pca"}),
    ("knn", {"fe_select": "variance", "fe_scale": "none", "fe_encoding": "ordinal"}),
    ("random_forest", {"fe_select": "model", "fe_select_share": 0.3}),
    ("lightgbm", {"fe_encoding": "ordinal", "fe_class_weight": "balanced"}),
]  # fmt: skip


def test_served_predictions_equal_automl_predict_with_every_feature_choice(server, models, tmp_path):
    frame, client, common = server
    _, v1, _, _ = models
    schema = load_model(v1).schema
    X, y = coerce_features(frame, schema), encode_target(frame["target"], schema)
    members = []
    for k, (key, choices) in enumerate(FEATURE_CHOICES):
        family = registry.get_family(key)
        params = {**family.default_params(len(X), schema.task), **choices}
        pipeline = build_pipeline(family, params, schema, 0, 1)
        fit_pipeline(pipeline, family, X, y, schema.task, 0, training_weights(params, y, None, True))
        members.append(Member(f"t{k}", key, params, [pipeline]))
    directory = save_model(TabularModel(schema, "roc_auc", members), tmp_path / "choices")
    deploy(directory, ServeConfig(name="choices", route_prefix="/choices", **common))
    try:
        rows = _rows(frame, 30)
        response = client.post("/choices/predict", json={"rows": rows})
        assert response.status_code == 200, response.text
        data = tmp_path / "rows.csv"
        pd.DataFrame(rows).to_csv(data, index=False)
        expected = predict_in_subprocess(directory, data, tmp_path / "pred.csv")
        body = response.json()
        assert body["predictions"] == expected["prediction"].tolist()
        probabilities = expected[["proba_no", "proba_yes"]].to_numpy()
        np.testing.assert_allclose(body["probabilities"], probabilities, atol=1e-7)
    finally:
        ray_serve.delete("choices")


BAD_REQUESTS = {
    "missing-column": ("/plain", lambda rows: {"rows": [{k: v for k, v in rows[0].items() if k != "x1"}]}, 422, "x1"),
    "wrong-type": ("/plain", lambda rows: {"rows": [{**rows[0], "x1": "abc"}]}, 422, "x1 must be a number"),
    "null-not-seen-in-training": ("/plain", lambda rows: {"rows": [{**rows[0], "x1": None}]}, 422, "x1 is null"),
    "bad-shape": ("/plain", lambda rows: {"data": rows}, 422, "rows"),
    "row-not-object": ("/plain", lambda rows: {"rows": [1, 2]}, 422, "row 0"),
    "empty-rows": ("/plain", lambda rows: {"rows": []}, 422, "empty"),
    "extra-column-rejected": ("/secure", lambda rows: {"rows": [{**rows[0], "zzz": 1}]}, 422, "zzz"),
    "too-many-rows": ("/secure", lambda rows: {"rows": rows[:1] * 6}, 413, "limit of 5"),
    "body-too-large": ("/secure", lambda rows: {"rows": rows[:1], "pad": "x" * 5000}, 413, "larger than"),
    "bad-feedback": ("/plain/feedback", lambda rows: {"feedback": [{"actual": 1}]}, 422, "request_id"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_4xx_and_the_replica_keeps_serving(server, case):
    frame, client, _ = server
    prefix, make, status, fragment = BAD_REQUESTS[case]
    path = prefix if prefix.endswith("feedback") else f"{prefix}/predict"
    response = client.post(path, json=make(_rows(frame)), headers=_auth())
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    good = client.post(f"{prefix.split('/feedback')[0]}/predict", json={"rows": _rows(frame)}, headers=_auth())
    assert good.status_code == 200
    assert client.get("/plain/healthz").json()["status"] == "ok"


def test_malformed_json_and_tolerated_inputs(server):
    frame, client, _ = server
    response = client.post("/plain/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
    nested = client.post("/plain/predict", content=b"[" * 100_000, headers={"content-type": "application/json"})
    assert nested.status_code == 400 and "nested too deeply" in nested.json()["error"]
    digits = b'{"rows": [{"x1": ' + b"1" * 5000 + b"}]}"  # beyond Python's limit on integer digits
    huge = client.post("/plain/predict", content=digits, headers={"content-type": "application/json"})
    assert huge.status_code == 400 and "not valid JSON" in huge.json()["error"]

    def chunks():  # chunked: no content-length for the server to check first
        for _ in range(10):
            yield b" " * 1000

    chunked = client.post("/secure/predict", content=chunks(), headers=_auth())
    assert chunked.status_code == 413 and "larger than 4000" in chunked.json()["error"]
    assert client.get("/secure/openapi.json").status_code == 401  # the document is behind the token too
    rows = _rows(frame, 2)
    rows[0]["x2"] = None  # missing values were seen in training for x2
    rows[0]["colour"] = "ultraviolet"  # an unseen category
    rows[1]["extra"] = "ignored"  # extra columns are ignored unless configured
    response = client.post("/plain/predict", json={"rows": rows})
    assert response.status_code == 200 and len(response.json()["predictions"]) == 2
    assert client.post("/secure/predict", json={"rows": _rows(frame, 1)}, headers=_auth()).status_code == 200


def test_rows_without_a_finite_prediction_get_422_and_spare_their_batch(server, regression_artifact):
    """A finite value that becomes infinite once scaled: that request fails, not the ones batched with it."""
    _, client, common = server
    deploy(regression_artifact.path, ServeConfig(name="extreme", route_prefix="/extreme", **common))
    try:
        good = _rows(regression_artifact.frame, 2)
        bad = [{**good[0], "x1": 1.7e308}]
        lone = client.post("/extreme/predict", json={"rows": bad})
        assert lone.status_code == 422 and "no finite prediction" in lone.json()["error"]
        bodies = [bad if i % 4 == 0 else good for i in range(16)]

        def send(body):
            with httpx.Client(base_url=str(client.base_url), timeout=60) as own:
                return own.post("/extreme/predict", json={"rows": body})

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(send, bodies))
        for body, answer in zip(bodies, answers, strict=True):
            if body is bad:
                assert answer.status_code == 422, answer.text
            else:
                assert answer.status_code == 200, answer.text
                assert np.isfinite(answer.json()["predictions"]).all()
    finally:
        ray_serve.delete("extreme")


def test_auth(server):
    frame, client, _ = server
    body = {"rows": _rows(frame, 1)}
    assert client.post("/secure/predict", json=body).status_code == 401
    assert client.post("/secure/predict", json=body, headers={"authorization": "Bearer nope"}).status_code == 401
    assert client.get("/secure/metadata").status_code == 401
    assert client.post("/secure/predict", json=body, headers=_auth()).status_code == 200
    assert client.get("/secure/healthz").status_code == 200  # health stays open
    assert client.post("/plain/predict", json=body).status_code == 200  # auth off elsewhere


def test_metadata_monitor_and_feedback_log(server, models):
    frame, client, _ = server
    root = models[3]
    meta = client.get("/plain/metadata").json()
    assert meta["task"] == "binary" and meta["classes"] == ["no", "yes"]
    assert {c["name"] for c in meta["schema"]} == {"x1", "x2", "colour", "city", "flag", "when"}
    shifted = _rows(frame, 40)
    for row in shifted:
        row["x1"] = row["x1"] + 10  # far outside the training range
    request_ids = [client.post("/plain/predict", json={"rows": [r]}).json()["request_id"] for r in shifted]
    report = client.get("/plain/monitor").json()
    assert report["rows"] >= 40
    assert report["feature_psi"]["x1"] > 1.0  # shifted
    assert report["feature_psi"]["flag"] < report["feature_psi"]["x1"]
    assert report["prediction_psi"] is not None
    feedback = {"feedback": [{"request_id": rid, "actual": "yes"} for rid in request_ids[:7]]}
    response = client.post("/plain/feedback", json=feedback)
    assert response.status_code == 200 and response.json()["accepted"] == 7
    files = sorted((root / "log").glob("*.parquet"))
    assert 1 <= len(files) <= 3  # rotated: at most log_max_files
    logged = pd.concat(pd.read_parquet(f) for f in files)
    assert set(logged["kind"]) <= {"predict", "feedback"} and len(logged) % 5 == 0
    predicted = [json.loads(p) for p in logged.loc[logged["kind"] == "predict", "payload"]]
    assert predicted and all(set(r) == set(meta_features(meta)) for p in predicted for r in p["rows"])
    assert all("row_id" not in r for p in predicted for r in p["rows"])  # sent, excluded in training: not kept
    assert not list((root / "log").glob(".*"))  # no temporary file left behind


def test_concurrent_requests_batched_together_get_their_own_rows(server, models):
    frame, client, _ = server
    from automl.artifacts import load_model

    model = load_model(models[1])
    requests = [_rows(frame.iloc[5 * i :], 1 + i % 4) for i in range(24)]

    def send(rows):
        with httpx.Client(base_url=str(client.base_url), timeout=60) as own:
            return own.post("/plain/predict", json={"rows": rows})

    def batched_together() -> bool:
        """Some model call took more than one request: the histogram's count exceeds its le=1 bucket."""
        lines = [line for line in _metric_lines("automl_batch_size") if 'application="plain"' in line]
        count = sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("ray_automl_batch_size_count"))
        alone = sum(float(line.rsplit(" ", 1)[1]) for line in lines if 'le="1.0"' in line)
        return count > alone

    with ThreadPoolExecutor(max_workers=12) as pool:
        for _ in range(5):  # bursts until one is seen batched (the export lags a few seconds)
            answers = list(pool.map(send, requests))
            for rows, answer in zip(requests, answers, strict=True):
                assert answer.status_code == 200, answer.text
                expected = model.predict(pd.DataFrame(rows))
                assert answer.json()["predictions"] == expected.tolist()
            try:
                wait_for(batched_together, timeout=30, interval=1.0, what="a batch of several requests")
                break
            except AssertionError:
                continue
        else:
            raise AssertionError("no model call took more than one of 5 x 24 concurrent requests")


def _metric_lines(name: str) -> list[str]:
    node = ray._private.worker.global_worker.node
    text = httpx.get(f"http://127.0.0.1:{node.metrics_export_port}/metrics", timeout=10).text
    return [line for line in text.splitlines() if line.startswith(f"ray_{name}")]


def test_prometheus_metrics_are_recorded(server):
    """Metric points are queued by requests and recorded by a background thread: they must arrive."""
    frame, client, _ = server
    assert client.post("/plain/predict", json={"rows": _rows(frame, 3)}).status_code == 200
    assert client.post("/plain/predict", json={"rows": []}).status_code == 422

    def recorded() -> bool:
        requests = [line for line in _metric_lines("automl_requests_total") if 'application="plain"' in line]
        ok = [line for line in requests if 'route="/predict"' in line and 'status="200"' in line]
        bad = [line for line in requests if 'status="422"' in line]
        labels = [line for line in _metric_lines("automl_predictions_total") if 'application="plain"' in line]
        batches = [line for line in _metric_lines("automl_batch_size_count") if 'application="plain"' in line]
        return bool(ok and bad and labels and batches) and float(ok[0].rsplit(" ", 1)[1]) >= 1

    wait_for(recorded, timeout=120, interval=1.0, what="automl metrics in the Prometheus export")


def _replicas(app: str, deployment: str) -> int:
    status = ray_serve.status().applications[app].deployments[deployment]
    return sum(count for state, count in status.replica_states.items() if str(state).endswith("RUNNING"))


def test_autoscaling_up_under_load_and_back_down(server, models):
    frame, client, common = server
    _, v1, _, _ = models
    deploy(v1, ServeConfig(name="scaling", route_prefix="/scaling", min_replicas=1, max_replicas=2,
                           target_ongoing_requests=1, upscale_delay_s=0.5, **common))  # fmt: skip
    assert _replicas("scaling", "scaling") == 1
    stop = threading.Event()
    statuses: list[int] = []

    def load() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=60) as own:
            for _ in range(2000):  # bounded: at most 2000 requests per client
                if stop.is_set():
                    return
                statuses.append(own.post("/scaling/predict", json={"rows": _rows(frame, 50)}).status_code)

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: _replicas("scaling", "scaling") >= 2, timeout=120, what="a second replica")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert statuses and set(statuses) == {200}
    wait_for(lambda: _replicas("scaling", "scaling") == 1, timeout=180, what="scale down to one replica")
    ray_serve.delete("scaling")


def test_killed_replica_under_load_loses_no_request_with_retries(server, models):
    frame, client, common = server
    _, v1, _, _ = models
    deploy(v1, ServeConfig(name="resilient", route_prefix="/resilient", min_replicas=2, max_replicas=2, **common))
    wait_for(lambda: _replicas("resilient", "resilient") == 2, what="two replicas")
    failures: list[str] = []

    def call(i: int) -> None:
        for attempt in range(8):
            try:
                r = httpx.post(
                    str(client.base_url).rstrip("/") + "/resilient/predict", json={"rows": _rows(frame, 2)}, timeout=30
                )
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2 * (attempt + 1))
        failures.append(f"request {i}")

    replicas = [
        a for a in ray.util.list_named_actors(all_namespaces=True)
        if "REPLICA" in a["name"] and "resilient" in a["name"]
    ]  # fmt: skip
    assert len(replicas) == 2, replicas
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(call, i) for i in range(120)]
        # the kill lands under load: once some requests are answered, most are still to come
        wait_for(lambda: sum(f.done() for f in futures) >= 8, interval=0.05, what="requests under way")
        ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]), no_restart=True)
        for future in futures:
            future.result()
    assert failures == []
    wait_for(lambda: _replicas("resilient", "resilient") == 2, what="the replica to be replaced")
    ray_serve.delete("resilient")


def test_redeploying_a_new_version_rolls_without_failed_requests(server, models):
    frame, client, common = server
    _, v1, v2, _ = models
    before = client.get("/plain/metadata").json()["model_version"]
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        for _ in range(5000):
            if stop.is_set():
                return
            statuses.append(client.post("/plain/predict", json={"rows": _rows(frame, 1)}).status_code)

    thread = threading.Thread(target=load)
    thread.start()
    try:
        deploy(v2, ServeConfig(name="plain", route_prefix="/plain", **common))
        wait_for(lambda: client.get("/plain/metadata").json()["model_version"] != before, what="the new version")
    finally:
        stop.set()
        thread.join()
    assert statuses and set(statuses) == {200}
    after = client.get("/plain/metadata").json()
    assert after["model_version"] == json.loads((v2 / "manifest.json").read_text())["model_version"]


def test_a_catboost_model_round_trips_through_its_artifact_and_a_served_endpoint(server, models, tmp_path):
    """CatBoost with its own handling of categories: fitted by a job, saved, loaded in a
    fresh process and served, the three predicting alike."""
    frame, client, common = server
    am = AutoML(max_trials=2, time_budget_s=None, models=["catboost"], cv_folds=3, verbose=False, seed=2)
    am.fit(frame, target="target")
    board = am.leaderboard()
    assert set(board.loc[board["status"] == "done", "model"]) == {"catboost"}
    assert board.loc[board["status"] == "done", "rounds"].notna().all()  # early stopping reached a round
    _saved_predicted_and_served_alike(am, frame, client, common, tmp_path, "catboost")


def _saved_predicted_and_served_alike(am, frame, client, common, tmp_path, name):
    """`am`'s model saved, predicted by `automl predict` in a fresh process and served as
    application `name`: the three give the same predictions on 12 of the frame's rows."""
    directory = am.save(tmp_path / name)
    rows = _rows(frame, 12)
    data = tmp_path / "rows.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    expected = predict_in_subprocess(directory, data, tmp_path / "pred.csv")
    np.testing.assert_allclose(
        expected[["proba_no", "proba_yes"]].to_numpy(),
        am.predict_proba(frame.drop(columns=["target"]).head(12)),
        atol=1e-9,
    )
    deploy(directory, ServeConfig(name=name, route_prefix=f"/{name}", **common))
    response = client.post(f"/{name}/predict", json={"rows": rows})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == expected["prediction"].tolist()
    np.testing.assert_allclose(body["probabilities"], expected[["proba_no", "proba_yes"]].to_numpy(), atol=1e-7)


@pytest.mark.parametrize("options", [{"final_members": "refit_full"}, {"for_serving": True}], ids=str)
def test_refit_full_and_for_serving_models_round_trip_and_serve_as_automl_predict(server, models, tmp_path, options):
    """A model refit on all rows, and the fastest final model within the tolerance: saved,
    predicted by `automl predict` in a fresh process and served, the three alike."""
    frame, client, common = server
    am = AutoML(max_trials=4, time_budget_s=None, models=["linear", "lightgbm"], cv_folds=3, verbose=False,
                seed=3, **options)  # fmt: skip
    am.fit(frame, target="target")
    summary = am.result_.summary
    if "for_serving" in options:
        names = [a["name"] for a in summary.serving_alternatives]
        assert summary.serving_choice in names and "best single refit_full" in names
    else:
        assert summary.final_members == "refit_full"
        assert all(len(member.fold_models) == 1 for member in am.model_.members)
    _saved_predicted_and_served_alike(
        am, frame, client, common, tmp_path, "refit" if "final_members" in options else "serving"
    )
