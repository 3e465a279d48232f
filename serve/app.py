"""The Ray Serve application: a FastAPI ingress over a verified model artifact.

(No `from __future__ import annotations` here: FastAPI reads the route signatures at run time.)

Each replica loads the artifact once (after checking every checksum), validates requests
against the training schema, batches concurrent requests into one model call, and
reports Prometheus metrics and drift statistics. Nothing a client sends can make it
answer 500: client errors are 4xx with a message, and the replica keeps serving.

Which models a replica serves is its Serve `user_config` (`serve.config.Rollout`): the
champion, and a challenger as a canary (a share of the requests) or a shadow (answers
logged, not returned). A new `user_config` reaches running replicas through
`reconfigure`, which loads the new models beside the old ones and then swaps them:
requests keep being answered throughout, by the old models until the swap.
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

from automl.data.coercion import feature_columns, logged_rows
from automl.errors import first_line
from serve.config import DEFAULT_BATCH_WAIT_TIMEOUT_S, DEFAULT_MAX_BATCH_SIZE, Rollout, ServeConfig
from serve.hooks import load_hooks
from serve.recorder import MetricsRecorder
from serve.request_log import RequestLog
from serve.served import ServedModel, load_served
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
# A shadow's rows wait this long before the challenger predicts them, so the champion's
# answers go out first and the shadow's work is one model call for many requests.
_SHADOW_DELAY_S = 0.002


Prediction = tuple[dict[str, Any], np.ndarray] | RequestError  # answer fields and raw output, or the 4xx


class _BatchSettings(Protocol):
    """The setters `@serve.batch` adds to the method it wraps (its type stubs omit them)."""

    def set_max_batch_size(self, new_max_batch_size: int) -> None: ...

    def set_batch_wait_timeout_s(self, new_batch_wait_timeout_s: float) -> None: ...


def _request_log(config: ServeConfig) -> RequestLog | None:
    if not config.log_dir:
        return None
    return RequestLog(config.log_dir, config.log_max_rows_per_file, config.log_max_files, config.log_flush_interval_s)


@serve.deployment
@serve.ingress(app)
class ModelServer:
    def __init__(self, config: dict[str, Any], token_sha256: str | None) -> None:
        # The models come with the user_config, in reconfigure, which Serve calls before
        # the replica takes requests.
        self.config = ServeConfig(**config)
        self.token_sha256 = token_sha256
        self.rollout: Rollout | None = None
        self.champion: ServedModel | None = None
        self.challenger: ServedModel | None = None
        self._canary_credit = 0.0
        self._shadow_queue: list[tuple[str, list[dict[str, Any]], list[Any]]] = []
        self._shadow_task: asyncio.Task[None] | None = None
        self.log = _request_log(self.config)
        self.hooks = load_hooks(self.config.hooks)
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
        self.answered = metrics.Counter(
            "automl_answers",
            description="Prediction requests answered, by model version and role (champion, canary).",
            tag_keys=("model_version", "role"),  # type: ignore[arg-type]  # as above
        )

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Serve the models `user_config` names (a `Rollout`). Models already loaded are
        kept; new ones load in a thread while the old ones go on answering, then all
        are swapped at once, between two batches."""
        rollout = Rollout(**user_config)
        loaded = {m.directory: m for m in (self.champion, self.challenger) if m is not None}
        auth = bool(self.token_sha256)

        async def get(directory: str) -> ServedModel:
            if directory in loaded:
                return loaded[directory]
            return await asyncio.to_thread(load_served, directory, self.config, auth=auth)

        champion = await get(rollout.champion)
        challenger = None if rollout.challenger is None else await get(rollout.challenger)
        self.champion, self.challenger, self.rollout = champion, challenger, rollout
        self._canary_credit = 0.0
        logger.info("serving %s%s", champion.version,
                    "" if challenger is None else f", {challenger.version} as {rollout.mode}")  # fmt: skip

    def _served(self) -> ServedModel:
        return cast(ServedModel, self.champion)  # set by reconfigure before any request

    def _route(self) -> tuple[ServedModel, str]:
        """The model that answers the next prediction request, and its role."""
        rollout = self.rollout
        if rollout is None or not rollout.splits:
            return self._served(), "champion"
        self._canary_credit += rollout.share
        if self._canary_credit >= 1.0:
            self._canary_credit -= 1.0
            return cast(ServedModel, self.challenger), "canary"
        return self._served(), "champion"

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
            return {"status": "ok", "model_version": self._served().version}

        return await self._answer("/healthz", request, handler)

    @app.get("/metadata")
    async def metadata(self, request: Request) -> Response:
        async def handler(request_id: str, body: Any) -> dict[str, Any]:
            served = self._served()
            m = served.manifest
            return {
                "model_version": served.version,
                "task": m.get("task"),
                "metric": m.get("metric"),
                "cv_score": m.get("cv_score"),
                "classes": m.get("classes"),
                "target": m.get("target"),
                "schema": [c for c in m["input_schema"]["columns"] if c["kind"] != "excluded"],
                "members": m.get("members"),
                "created_at": m.get("created_at"),
                "rollout": self._rollout_summary(),
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
            return Response(self._served().openapi_json, media_type="application/json")

        return await self._answer("/openapi.json", request, handler)

    @app.get("/docs")
    async def docs(self, request: Request) -> Response:
        async def handler(request_id: str, body: Any) -> Response:
            return HTMLResponse(self._served().docs_html)

        return await self._answer("/docs", request, handler)

    @app.get("/monitor")
    async def monitor(self, request: Request) -> Response:
        async def handler(request_id: str, body: Any) -> dict[str, Any]:
            served = self._served()
            report = served.drift.report()
            for name, value in report["feature_psi"].items():
                if value is not None:
                    self.feature_drift.set(value, tags={"feature": name})
            result = {"model_version": served.version, **report, "rollout": self._rollout_summary()}
            if self.challenger is not None:
                result["challenger"] = {"model_version": self.challenger.version, **self.challenger.drift.report()}
            return result

        return await self._answer("/monitor", request, handler)

    def _rollout_summary(self) -> dict[str, Any] | None:
        rollout, challenger = self.rollout, self.challenger
        if rollout is None or challenger is None:
            return None
        summary: dict[str, Any] = {"mode": rollout.mode, "challenger": challenger.version}
        if rollout.mode == "canary":
            summary["share"] = rollout.share
        else:
            rows = challenger.shadow_rows
            summary["shadow_rows"] = rows
            if challenger.labels:  # the share of rows given the champion's label
                summary["agreement"] = challenger.shadow_agreed / rows if rows else None
            else:
                summary["mean_abs_difference"] = challenger.shadow_difference / rows if rows else None
        return summary

    # ---------------------------------------------------------------- work
    async def _predict_request(self, request_id: str, body: Any, predicted: Callable[[], None]) -> dict[str, Any]:
        served, role = self._route()
        rows = checked_rows(
            body, served.model.schema, max_rows=self.config.max_rows, reject_extra=self.config.reject_extra_columns
        )
        # One turn of the event loop first: requests that arrived together (read while the
        # last batch ran) must count each other before any of them decides it is alone.
        await asyncio.sleep(0)
        if self._in_flight == 1:
            # Alone: straight to the model. The batch queue's hops would cost a lone request
            # time and gain it nothing (batches run inline, so none is half-way through now).
            result = self._predict_rows([(served, rows)])[0]
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
            result = await self._predict_batch((served, rows))
        predicted()
        if isinstance(result, RequestError):
            raise result
        out, raw = result
        out["model_version"] = served.version
        self.recorder.inc(self.answered, 1, {"model_version": served.version, "role": role})
        if self.log is not None:
            logged = logged_rows(rows, served.model.schema)  # no excluded column, hashed ones as hashes
            self.log.append(
                "predict",
                request_id,
                {"rows": logged, "predictions": out["predictions"], "model_version": served.version, "role": role},
            )
        if self.rollout is not None and self.rollout.shadows:
            self._shadow(request_id, rows, out["predictions"])
        if self.hooks:
            frame = pd.DataFrame.from_records(rows, columns=served.model.schema.features)
            for hook in self.hooks:
                try:
                    hook.on_predict(request_id, frame, raw)
                except Exception:
                    logger.exception("monitor hook %s failed", type(hook).__name__)
        return out

    # placeholders: each replica applies its config's values in __init__
    @serve.batch(max_batch_size=DEFAULT_MAX_BATCH_SIZE, batch_wait_timeout_s=DEFAULT_BATCH_WAIT_TIMEOUT_S)
    async def _predict_batch(self, requests: list[tuple[ServedModel, list[dict[str, Any]]]]) -> list[Prediction]:
        """The rows of all requests that arrived together, predicted in one call per model."""
        return self._predict_rows(requests)

    def _predict_rows(self, requests: list[tuple[ServedModel, list[dict[str, Any]]]]) -> list[Prediction]:
        """Each request's prediction fields and raw output, from one model call for all of
        their rows: per-request work is what limits throughput, so the columns (arrays, not
        a frame), the answers' lists and the metrics are made once per batch. Inline, not
        in a thread: the model call holds the GIL anyway, and the thread hop costs more.
        Under a canary a batch holds requests for two models: one call each."""
        self.recorder.observe(self.batch_size, len(requests))
        first = requests[0][0]
        if all(served is first for served, _ in requests):
            return self._predicted(first, [rows for _, rows in requests])
        answers: list[Prediction | None] = [None] * len(requests)
        for served in {id(s): s for s, _ in requests}.values():
            positions = [i for i, (s, _) in enumerate(requests) if s is served]
            for i, answer in zip(positions, self._predicted(served, [requests[i][1] for i in positions]), strict=True):
                answers[i] = answer
        return cast(list[Prediction], answers)

    def _predicted(
        self, served: ServedModel, requests: list[list[dict[str, Any]]], *, count: bool = True
    ) -> list[Prediction]:
        rows = requests[0] if len(requests) == 1 else [row for request in requests for row in request]
        model = served.model
        X = feature_columns(rows, model.schema)  # validated rows; values that do not parse become missing
        try:
            with np.errstate(all="ignore"):  # overflow is caught below, not warned about per request
                raw = model.predict_features(X)
            failure = None if np.isfinite(raw).all() else "not finite"
        except (ValueError, OverflowError, FloatingPointError) as exc:  # e.g. a scaled value became infinite
            failure = first_line(exc)
        if failure is not None:
            if len(requests) > 1:  # one request's values must not fail those batched with it
                return [result for request in requests for result in self._predicted(served, [request], count=count)]
            logger.warning("rows with no finite prediction (%s)", failure)
            return [RequestError(422, "the model gives no finite prediction for these rows "
                                 "(a value far outside the range seen in training?)")]  # fmt: skip
        probabilities: list[Any] | None = None
        if model.classes is None:
            predictions = raw.tolist()
            if count:
                self.recorder.inc(self.predicted, len(raw), {"label": "value"})
            served.drift.update(X, raw)
        else:
            indices = np.argmax(raw, axis=1)
            predictions = [served.labels[i] for i in indices.tolist()]
            probabilities = np.round(raw, _PROBABILITY_DECIMALS).tolist()
            if count:
                for index, n in enumerate(np.bincount(indices, minlength=len(served.labels)).tolist()):
                    if n:
                        self.recorder.inc(self.predicted, n, served.label_tags[index])
            served.drift.update(X, indices)
        answers: list[Prediction] = []
        start = 0
        for request in requests:
            stop = start + len(request)
            share = None if probabilities is None else probabilities[start:stop]
            answers.append(({"predictions": predictions[start:stop], "probabilities": share}, raw[start:stop]))
            start = stop
        return answers

    def _shadow(self, request_id: str, rows: list[dict[str, Any]], answered: list[Any]) -> None:
        """Queue a request's rows for the shadow challenger; a task predicts the queue soon after."""
        self._shadow_queue.append((request_id, rows, answered))
        if self._shadow_task is None or self._shadow_task.done():
            self._shadow_task = asyncio.get_running_loop().create_task(self._drain_shadow())

    async def _drain_shadow(self) -> None:
        await asyncio.sleep(_SHADOW_DELAY_S)
        queued, self._shadow_queue = self._shadow_queue, []
        challenger = self.challenger
        if challenger is None or not queued:
            return
        try:
            results = self._predicted(challenger, [rows for _, rows, _ in queued], count=False)
        except Exception:  # the shadow never fails the champion's answers, already sent
            logger.exception("shadow prediction failed")
            return
        for (request_id, _, answered), result in zip(queued, results, strict=True):
            if isinstance(result, RequestError):
                continue
            predictions = result[0]["predictions"]
            challenger.shadow_rows += len(predictions)
            if challenger.labels:
                challenger.shadow_agreed += sum(a == b for a, b in zip(predictions, answered, strict=True))
            else:
                challenger.shadow_difference += float(np.abs(np.subtract(predictions, answered)).sum())
            if self.log is not None:
                self.log.append("shadow", request_id, {"predictions": predictions, "model_version": challenger.version})

    async def _feedback_request(self, request_id: str, body: Any) -> dict[str, Any]:
        items = checked_feedback(body, self._served().model.schema, max_records=self.config.max_rows)
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
        served = self.champion
        if served is not None and served.example is not None:
            served.model.predict_raw(served.example)

    def __del__(self) -> None:
        # getattr: __init__ may have failed before either was made
        recorder: MetricsRecorder | None = getattr(self, "recorder", None)
        if recorder is not None:
            recorder.close()
        log: RequestLog | None = getattr(self, "log", None)
        if log is not None:
            log.close()
