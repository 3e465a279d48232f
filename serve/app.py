"""The Ray Serve application: a FastAPI ingress over a verified model artifact.

(No `from __future__ import annotations` here: FastAPI reads the route signatures at run time.)

Each replica loads the artifact once (after checking every checksum), validates requests
against the training schema, batches concurrent requests into one model call, and
reports Prometheus metrics and drift statistics. Nothing a client sends can make it
answer 500: client errors are 4xx with a message, and the replica keeps serving.
"""

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from ray import serve
from ray.serve import metrics
from starlette.requests import ClientDisconnect

from automl.artifacts.store import load_model, read_manifest
from automl.data.coercion import feature_columns, logged_rows
from automl.errors import first_line
from automl.monitoring.drift import DriftTracker
from serve.config import DEFAULT_BATCH_WAIT_TIMEOUT_S, DEFAULT_MAX_BATCH_SIZE, ServeConfig
from serve.hooks import load_hooks
from serve.openapi import openapi_document, swagger_page
from serve.recorder import MetricsRecorder
from serve.request_log import RequestLog
from serve.validation import RequestError, checked_feedback, checked_rows

logger = logging.getLogger("automl.serve")
# FastAPI's own /openapi.json and /docs would skip the token check and know nothing of the
# model's columns: ours are routes below, built from the artifact (serve/openapi.py).
app = FastAPI(title="automl model server", docs_url=None, redoc_url=None, openapi_url=None)
_OPEN_ROUTES = {"/healthz"}
_BEARER = "bearer "  # the authorization header's scheme, compared in lower case
_CLIENT_CLOSED = 499  # nginx's status for a client that left before its answer: HTTP has none
# Request ids are a random key per replica plus a counter (cheaper than a uuid4 per request):
# 64 random bits keep replicas' keys apart, and 64 bits of counter never wrap.
_REPLICA_KEY_HEX = 16
_COUNTER_HEX = 16
# Histogram buckets: latency in 1-2-5 steps from a lone row to a request stuck behind a
# full queue; batch sizes in powers of two, past the default max_batch_size.
_LATENCY_BOUNDARIES_MS: list[float] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]
_BATCH_SIZE_BOUNDARIES: list[float] = [1, 2, 4, 8, 16, 32, 64, 128]
# Probabilities are rounded in answers: shorter JSON, and no client needs more digits.
_PROBABILITY_DECIMALS = 8


Prediction = tuple[dict[str, Any], np.ndarray] | RequestError  # answer fields and raw output, or the 4xx


class _BatchSettings(Protocol):
    """The setters `@serve.batch` adds to the method it wraps (its type stubs omit them)."""

    def set_max_batch_size(self, new_max_batch_size: int) -> None: ...

    def set_batch_wait_timeout_s(self, new_batch_wait_timeout_s: float) -> None: ...


def _plain(value: Any) -> Any:
    # defined before the class: Serve's ingress captures the class when it is decorated
    return value.item() if isinstance(value, np.generic) else value


def _request_log(config: ServeConfig) -> RequestLog | None:
    if not config.log_dir:
        return None
    return RequestLog(config.log_dir, config.log_max_rows_per_file, config.log_max_files, config.log_flush_interval_s)


@serve.deployment
@serve.ingress(app)
class ModelServer:
    def __init__(self, model_dir: str, config: dict[str, Any], token_sha256: str | None) -> None:
        self.config = ServeConfig(**config)
        self.model = load_model(model_dir)  # refuses a tampered or incomplete artifact
        self.manifest = read_manifest(model_dir)
        self.version = str(self.manifest.get("model_version"))
        self.token_sha256 = token_sha256
        reference = self.model.reference or {}
        self.drift = DriftTracker(reference.get("features", {}), reference.get("target"))
        self.example = reference.get("example")
        self._labels = [_plain(c) for c in self.model.classes or []]
        self._label_tags = [{"label": str(c)} for c in self.model.classes or []]
        self.log = _request_log(self.config)
        self.hooks = load_hooks(self.config.hooks)
        self._openapi_json, self._docs_html = self._documents(auth=bool(token_sha256))
        self._batch_settings = cast(_BatchSettings, self._predict_batch)
        self._batch_settings.set_max_batch_size(self.config.max_batch_size)
        self._batch_limit = self.config.max_batch_size
        self._batch_settings.set_batch_wait_timeout_s(self.config.batch_wait_timeout_s)
        self._in_flight = 0  # /predict requests here that have no prediction yet
        self._request_ids = itertools.count()
        self._replica_key = uuid.uuid4().hex[:_REPLICA_KEY_HEX]
        self.recorder = MetricsRecorder()
        self.requests = metrics.Counter(
            "automl_requests",
            description="Requests by route and status.",
            tag_keys=("route", "status"),  # type: ignore[arg-type]  # Ray annotates a 1-tuple; any length works
        )
        self.latency = metrics.Histogram(
            "automl_request_latency_ms",
            description="Request latency.",
            boundaries=_LATENCY_BOUNDARIES_MS,
            tag_keys=("route",),
        )
        self.batch_size = metrics.Histogram(
            "automl_batch_size", description="Requests per model call.", boundaries=_BATCH_SIZE_BOUNDARIES
        )
        self.predicted = metrics.Counter(
            "automl_predictions", description="Predictions by class (or 'value').", tag_keys=("label",)
        )
        self.feature_drift = metrics.Gauge(
            "automl_feature_psi", description="Population stability index per feature.", tag_keys=("feature",)
        )

    def _documents(self, *, auth: bool) -> tuple[bytes, str]:
        """/openapi.json's bytes and the /docs page, built once: every request sends the same."""
        document = openapi_document(
            self.model.schema,
            model_version=self.version,
            max_rows=self.config.max_rows,
            reject_extra_columns=self.config.reject_extra_columns,
            auth=auth,
            route_prefix=self.config.route_prefix,
            metric=self.manifest.get("metric"),
        )
        return json.dumps(document).encode(), swagger_page(document)

    # ---------------------------------------------------------------- middleware
    async def _guard(self, route: str, request: Request) -> tuple[str, Any]:
        """Auth and size checks; return the request id and the parsed JSON body."""
        request_id = f"{self._replica_key}{next(self._request_ids):0{_COUNTER_HEX}x}"
        if self.token_sha256 and route not in _OPEN_ROUTES:
            header = request.headers.get("authorization", "")
            given = header[len(_BEARER) :].strip() if header.lower().startswith(_BEARER) else ""
            digest = hashlib.sha256(given.encode()).hexdigest()
            if not given or not hmac.compare_digest(digest, self.token_sha256):
                raise RequestError(401, "missing or invalid bearer token")
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > self.config.max_body_bytes:
                raise RequestError(413, f"body larger than {self.config.max_body_bytes} bytes")
            body = bytearray()
            async for chunk in request.stream():  # a chunked body has no length: stop at the limit
                body += chunk
                if len(body) > self.config.max_body_bytes:
                    raise RequestError(413, f"body larger than {self.config.max_body_bytes} bytes")
            try:
                return request_id, json.loads(body)
            except RecursionError:
                raise RequestError(400, "body is not valid JSON: nested too deeply") from None
            except ValueError as exc:  # also integers beyond Python's digit limit, and bad UTF-8
                raise RequestError(400, f"body is not valid JSON: {first_line(exc)}") from None
        return request_id, None

    async def _answer(self, route: str, request: Request, handler: Any) -> Response:
        started = time.perf_counter()
        request_id = "-"
        try:
            request_id, body = await self._guard(route, request)
            result = await handler(request_id, body)
            if isinstance(result, Response):  # a document, sent as it is
                result.headers["x-automl-request-id"] = request_id
                self._record(route, result.status_code, started)
                return result
            payload, status = result, 200
        except RequestError as exc:
            payload, status = {"error": exc.message}, exc.status
        except ClientDisconnect:  # gone before its body arrived: nobody to answer, and not our failure
            payload, status = {"error": "client disconnected"}, _CLIENT_CLOSED
        except Exception as exc:  # a bug on our side: still an answer, and the replica lives
            logger.exception("request %s failed", request_id)
            payload, status = {"error": f"internal error ({type(exc).__name__})"}, 500
        payload["request_id"] = request_id
        headers = {"x-automl-request-id": request_id}
        try:
            response = JSONResponse(payload, status_code=status, headers=headers)
        except ValueError:  # NaN or infinity in an answer (JSON has neither): a bug, still an answer
            logger.exception("request %s: answer is not valid JSON", request_id)
            status = 500
            response = JSONResponse({"error": "internal error (answer not valid JSON)", "request_id": request_id},
                                    status_code=status, headers=headers)  # fmt: skip
        self._record(route, status, started)
        return response

    def _record(self, route: str, status: int, started: float) -> None:
        self.recorder.inc(self.requests, 1, {"route": route, "status": str(status)})
        self.recorder.observe(self.latency, (time.perf_counter() - started) * 1000, {"route": route})

    # ---------------------------------------------------------------- routes
    @app.get("/healthz")
    async def healthz(self, request: Request) -> Response:
        async def handler(request_id: str, body: Any) -> dict[str, Any]:
            return {"status": "ok", "model_version": self.version}

        return await self._answer("/healthz", request, handler)

    @app.get("/metadata")
    async def metadata(self, request: Request) -> Response:
        async def handler(request_id: str, body: Any) -> dict[str, Any]:
            m = self.manifest
            return {
                "model_version": self.version,
                "task": m.get("task"),
                "metric": m.get("metric"),
                "cv_score": m.get("cv_score"),
                "classes": m.get("classes"),
                "target": m.get("target"),
                "schema": [c for c in m["input_schema"]["columns"] if c["kind"] != "excluded"],
                "members": m.get("members"),
                "created_at": m.get("created_at"),
            }

        return await self._answer("/metadata", request, handler)

    @app.post("/predict")
    async def predict(self, request: Request) -> Response:
        # Counted from arrival until its prediction is made: a request still building its
        # answer would make the next one wait for a companion that never comes.
        self._in_flight += 1
        counted = [True]

        def predicted() -> None:
            if counted[0]:
                counted[0] = False
                self._in_flight -= 1

        try:
            return await self._answer("/predict", request, lambda rid, b: self._predict_request(rid, b, predicted))
        finally:
            predicted()

    @app.post("/feedback")
    async def feedback(self, request: Request) -> Response:
        return await self._answer("/feedback", request, self._feedback_request)

    @app.get("/openapi.json")
    async def openapi(self, request: Request) -> Response:
        async def handler(request_id: str, body: Any) -> Response:
            return Response(self._openapi_json, media_type="application/json")

        return await self._answer("/openapi.json", request, handler)

    @app.get("/docs")
    async def docs(self, request: Request) -> Response:
        async def handler(request_id: str, body: Any) -> Response:
            return HTMLResponse(self._docs_html)

        return await self._answer("/docs", request, handler)

    @app.get("/monitor")
    async def monitor(self, request: Request) -> Response:
        async def handler(request_id: str, body: Any) -> dict[str, Any]:
            report = self.drift.report()
            for name, value in report["feature_psi"].items():
                if value is not None:
                    self.feature_drift.set(value, tags={"feature": name})
            return {"model_version": self.version, **report}

        return await self._answer("/monitor", request, handler)

    # ---------------------------------------------------------------- work
    async def _predict_request(self, request_id: str, body: Any, predicted: Callable[[], None]) -> dict[str, Any]:
        rows = checked_rows(
            body, self.model.schema, max_rows=self.config.max_rows, reject_extra=self.config.reject_extra_columns
        )
        # One turn of the event loop first: requests that arrived together (read while the
        # last batch ran) must count each other before any of them decides it is alone.
        await asyncio.sleep(0)
        if self._in_flight == 1:
            # Alone: straight to the model. The batch queue's hops would cost a lone request
            # time and gain it nothing (batches run inline, so none is half-way through now).
            result = self._predict_rows([rows])[0]
        else:
            # Others are in flight: wait for them, up to the batch wait. Under load batches
            # fill up, and the per-call cost is paid once per batch. A batch is full once
            # every request now in flight has joined (Serve reads the size when a batch
            # starts): two clients would otherwise wait out the timeout every time. Those
            # already queued count too: counting only the requests still arriving makes
            # batches of a few requests under load, each paying the per-call cost.
            limit = min(self.config.max_batch_size, self._in_flight)
            if limit != self._batch_limit:  # Serve's setter looks up the replica's config each call
                self._batch_limit = limit
                self._batch_settings.set_max_batch_size(limit)
            result = await self._predict_batch(rows)
        predicted()
        if isinstance(result, RequestError):
            raise result
        out, raw = result
        out["model_version"] = self.version
        if self.log is not None:
            logged = logged_rows(rows, self.model.schema)  # no excluded column, hashed ones as hashes
            self.log.append("predict", request_id, {"rows": logged, "predictions": out["predictions"]})
        if self.hooks:
            frame = pd.DataFrame.from_records(rows, columns=self.model.schema.features)
            for hook in self.hooks:
                try:
                    hook.on_predict(request_id, frame, raw)
                except Exception:
                    logger.exception("monitor hook %s failed", type(hook).__name__)
        return out

    # placeholders: each replica applies its config's values in __init__
    @serve.batch(max_batch_size=DEFAULT_MAX_BATCH_SIZE, batch_wait_timeout_s=DEFAULT_BATCH_WAIT_TIMEOUT_S)
    async def _predict_batch(self, requests: list[list[dict[str, Any]]]) -> list[Prediction]:
        """The rows of all requests that arrived together, predicted in one call."""
        return self._predict_rows(requests)

    def _predict_rows(self, requests: list[list[dict[str, Any]]]) -> list[Prediction]:
        """Each request's prediction fields and raw output, from one model call for all of
        their rows: per-request work is what limits throughput, so the columns (arrays, not
        a frame), the answers' lists and the metrics are made once per batch. Inline, not
        in a thread: the model call holds the GIL anyway, and the thread hop costs more."""
        self.recorder.observe(self.batch_size, len(requests))
        return self._predicted(requests)

    def _predicted(self, requests: list[list[dict[str, Any]]]) -> list[Prediction]:
        rows = requests[0] if len(requests) == 1 else [row for request in requests for row in request]
        X = feature_columns(rows, self.model.schema)  # validated rows; values that do not parse become missing
        try:
            with np.errstate(all="ignore"):  # overflow is caught below, not warned about per request
                raw = self.model.predict_features(X)
            failure = None if np.isfinite(raw).all() else "not finite"
        except (ValueError, OverflowError, FloatingPointError) as exc:  # e.g. a scaled value became infinite
            failure = first_line(exc)
        if failure is not None:
            if len(requests) > 1:  # one request's values must not fail those batched with it
                return [result for request in requests for result in self._predicted([request])]
            logger.warning("rows with no finite prediction (%s)", failure)
            return [RequestError(422, "the model gives no finite prediction for these rows "
                                 "(a value far outside the range seen in training?)")]  # fmt: skip
        probabilities: list[Any] | None = None
        if self.model.classes is None:
            predictions = raw.tolist()
            self.recorder.inc(self.predicted, len(raw), {"label": "value"})
            self.drift.update(X, raw)
        else:
            indices = np.argmax(raw, axis=1)
            predictions = [self._labels[i] for i in indices.tolist()]
            probabilities = np.round(raw, _PROBABILITY_DECIMALS).tolist()
            for index, count in enumerate(np.bincount(indices, minlength=len(self._labels)).tolist()):
                if count:
                    self.recorder.inc(self.predicted, count, self._label_tags[index])
            self.drift.update(X, indices)
        answers: list[Prediction] = []
        start = 0
        for request in requests:
            stop = start + len(request)
            share = None if probabilities is None else probabilities[start:stop]
            answers.append(({"predictions": predictions[start:stop], "probabilities": share}, raw[start:stop]))
            start = stop
        return answers

    async def _feedback_request(self, request_id: str, body: Any) -> dict[str, Any]:
        items = checked_feedback(body, self.model.schema, max_records=self.config.max_rows)
        if self.log is not None:
            for item in items:
                self.log.append("feedback", item["request_id"], {"actual": item["actual"]})
        for hook in self.hooks:
            try:
                hook.on_feedback(items)
            except Exception:
                logger.exception("monitor hook %s failed", type(hook).__name__)
        return {"accepted": len(items)}

    def check_health(self) -> None:
        """Serve's health probe: the model still predicts a known-good row."""
        if self.example is not None:
            self.model.predict_raw(self.example)

    def __del__(self) -> None:
        # getattr: __init__ may have failed before either was made
        recorder: MetricsRecorder | None = getattr(self, "recorder", None)
        if recorder is not None:
            recorder.close()
        log: RequestLog | None = getattr(self, "log", None)
        if log is not None:
            log.flush()
