"""The OpenAPI document of a served model, built from its training schema.

FastAPI's own document would describe our routes as taking a bare `Request` (their bodies
are checked by `serve.validation`, not by pydantic models) and would be served outside
the token check. This one names every feature column of the artifact with the JSON types
`serve.validation` accepts for it, so clients, Swagger UI and schema-driven fuzzers
(tests/integration/test_serve_openapi.py) see the contract the replica enforces. Each
replica builds it once, from the model it loaded.
"""

from __future__ import annotations

import json
from typing import Any

from automl.data.schema import ColumnInfo, TableSchema

OPENAPI_VERSION = "3.1.0"
# Swagger UI's script and style come from a CDN (as FastAPI's own /docs does); the page is ours.
SWAGGER_JS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
SWAGGER_CSS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
_ERROR = {"$ref": "#/components/schemas/Error"}


def openapi_document(
    schema: TableSchema,
    *,
    model_version: str,
    max_rows: int,
    reject_extra_columns: bool,
    auth: bool,
    route_prefix: str = "/",
    metric: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a model served with these settings.

    Args:
        schema: the artifact's input schema (feature columns, target, task, classes).
        model_version: the artifact's version, the document's `info.version`.
        max_rows: the most rows (or feedback records) one request may hold.
        reject_extra_columns: whether columns the model does not know are refused.
        auth: whether every route but /healthz needs the bearer token.
        route_prefix: the path the application is served under.
        metric: the metric the model was selected on, for the description.

    Returns:
        A JSON-ready dict.

    Example:
        >>> from automl.data.schema import ColumnInfo, TableSchema
        >>> s = TableSchema([ColumnInfo("age", "numeric")], "y", "regression", None, {"age": False})
        >>> doc = openapi_document(s, model_version="1", max_rows=10, reject_extra_columns=False, auth=False)
        >>> doc["components"]["schemas"]["Row"]["properties"]["age"]["type"]
        'number'
    """
    features = [c for c in schema.columns if c.kind != "excluded"]
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "automl model server", "version": model_version, "description": _description(schema, metric)},
        "servers": [{"url": route_prefix.rstrip("/") or "/"}],
        "paths": _paths(schema, features, max_rows=max_rows, auth=auth),
        "components": {"schemas": _component_schemas(schema, features, max_rows, reject_extra_columns)},
    }
    if auth:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
    return document


def _component_schemas(
    schema: TableSchema, features: list[ColumnInfo], max_rows: int, reject_extra_columns: bool
) -> dict[str, Any]:
    """The request, answer and error bodies the paths refer to."""
    return {
        "Row": _row_schema(schema, features, reject_extra_columns),
        "PredictRequest": {
            "type": "object",
            "required": ["rows"],
            "properties": {"rows": _array({"$ref": "#/components/schemas/Row"}, max_rows)},
        },
        "PredictResponse": _predict_response(schema),
        "FeedbackRequest": {
            "type": "object",
            "required": ["feedback"],
            "properties": {"feedback": _array(_feedback_item(schema), max_rows)},
        },
        "FeedbackResponse": _object({"accepted": {"type": "integer", "minimum": 1}, "request_id": {"type": "string"}}),
        "Health": _object({"status": {"const": "ok"}, "model_version": {"type": "string"}}),
        "Error": _object(
            {"error": {"type": "string", "description": "what was wrong, and where"}, "request_id": {"type": "string"}}
        ),
    }


def _row_schema(schema: TableSchema, features: list[ColumnInfo], reject_extra_columns: bool) -> dict[str, Any]:
    """One row of /predict: every feature column, typed as `serve.validation` checks it."""
    row: dict[str, Any] = {
        "type": "object",
        "description": "One row: every feature column the model was trained on. "
        + ("Other columns are refused." if reject_extra_columns else "Other columns are ignored."),
        "required": [c.name for c in features],
        "properties": {c.name: _column_schema(c, schema.allows_missing.get(c.name, True)) for c in features},
    }
    if reject_extra_columns:  # known but unused columns are still let through (a full training row is valid)
        ignored = [c.name for c in schema.columns if c.kind == "excluded"] + [schema.target]
        row["properties"].update({name: {"description": "not used by the model; ignored"} for name in ignored})
        row["additionalProperties"] = False
    return row


def _paths(schema: TableSchema, features: list[ColumnInfo], *, max_rows: int, auth: bool) -> dict[str, Any]:
    """Every route with the answers it can give."""
    unauthorized = {"401": _error("missing or invalid bearer token")} if auth else {}
    # Answered by Serve itself (with its own body), not by our handlers.
    overloaded = {"503": {"description": "overloaded: the bounded queue is full; retry later"}}
    guarded = {**unauthorized, **overloaded}
    return {
        "/predict": {"post": _predict_operation(features, max_rows, unauthorized, overloaded)},
        "/feedback": {"post": _feedback_operation(schema, max_rows, unauthorized, overloaded)},
        "/healthz": {"get": {
            "summary": "Liveness (never needs the token)",
            "operationId": "healthz",
            "security": [],
            "responses": {"200": _json_response("the replica is serving", "Health"), **overloaded},
        }},
        "/metadata": {"get": {
            "summary": "Schema, classes, version and metrics of the served model",
            "operationId": "metadata",
            "responses": {"200": _json_response("the model's metadata", None), **guarded},
        }},
        "/monitor": {"get": {
            "summary": "Population stability index per feature and of the predictions",
            "operationId": "monitor",
            "responses": {"200": _json_response("drift since the replica started", None), **guarded},
        }},
    }  # fmt: skip


def _predict_operation(
    features: list[ColumnInfo], max_rows: int, unauthorized: dict[str, Any], overloaded: dict[str, Any]
) -> dict[str, Any]:
    return {
        "summary": "Predict rows",
        "operationId": "predict",
        "requestBody": _json_body("PredictRequest", _example_request(features)),
        "responses": {"200": _json_response("predictions, one per row", "PredictResponse"),
                      "400": _error("the body is not valid JSON"),
                      **unauthorized,
                      "413": _error(f"the body is larger than the limit, or has more than {max_rows} rows"),
                      "422": _error("a missing column, a wrong type, or a null where training had no "
                                    "missing values (each problem named); or no finite prediction"),
                      **overloaded},
    }  # fmt: skip


def _feedback_operation(
    schema: TableSchema, max_rows: int, unauthorized: dict[str, Any], overloaded: dict[str, Any]
) -> dict[str, Any]:
    return {
        "summary": "Report the actual values of earlier predictions",
        "operationId": "feedback",
        "requestBody": _json_body("FeedbackRequest", None),
        "responses": {"200": _json_response("the number of records accepted", "FeedbackResponse"),
                      "400": _error("the body is not valid JSON"),
                      **unauthorized,
                      "413": _error(f"the body is larger than the limit, or has more than {max_rows} records"),
                      "422": _error("a record without a string request_id, or an actual value that is not "
                                    + ("one of the classes" if schema.classes is not None else "a number")),
                      **overloaded},
    }  # fmt: skip


def swagger_page(document: dict[str, Any]) -> str:
    """A Swagger UI page with `document` inline: the page itself needs no second request,
    so it works when the document is behind the token too (enter it under "Authorize")."""
    # "<" escaped: a column named "</script>" must not end the script
    inline = json.dumps(document).replace("<", "\\u003c")
    title = str(document["info"]["title"]).replace("&", "&amp;").replace("<", "&lt;")
    return f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{SWAGGER_CSS}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{SWAGGER_JS}"></script>
<script>
SwaggerUIBundle({{spec: {inline}, dom_id: "#swagger-ui", deepLinking: true}});
</script>
</body>
</html>
"""


# What `serve.validation` accepts for each kind, and no more: a fuzzer reads this as the contract.
_KINDS: dict[str, tuple[list[str], str]] = {
    "numeric": (["number"], "a number"),
    "categorical": (
        ["string", "number", "boolean"],
        "a category (unseen ones are allowed); numbers and booleans are read as text",
    ),
    "boolean": (["boolean", "string", "number"], "true or false (or the text or numbers training had: 'yes', 1)"),
    "datetime": (["string"], "an ISO 8601 date or date-time, e.g. 2024-01-31; text that is no date counts as missing"),
}


def _column_schema(column: ColumnInfo, allows_missing: bool) -> dict[str, Any]:
    types, text = _KINDS[column.kind]
    if allows_missing:
        types, text = [*types, "null"], f"{text}; null when missing"
    return {"type": types[0] if len(types) == 1 else types, "description": f"{column.kind}: {text}"}


def _predict_response(schema: TableSchema) -> dict[str, Any]:
    if schema.classes is None:
        predictions: dict[str, Any] = {"type": "array", "items": {"type": "number"}}
        probabilities: dict[str, Any] = {"type": "null", "description": "regression: none"}
    else:
        classes = _classes(schema)
        predictions = {"type": "array", "items": {"enum": classes}}
        probabilities = {
            "type": "array",
            "description": "per row, one probability per class, in the order of /metadata's classes",
            "items": {"type": "array", "minItems": len(classes), "maxItems": len(classes), "items": {"type": "number"}},
        }
    return _object(
        {
            "predictions": predictions,
            "probabilities": probabilities,
            "model_version": {"type": "string"},
            "request_id": {"type": "string"},
        }
    )


def _feedback_item(schema: TableSchema) -> dict[str, Any]:
    if schema.classes is None:
        actual: dict[str, Any] = {"type": "number", "description": f"the actual {schema.target}"}
    else:
        actual = {"enum": _classes(schema), "description": f"the actual {schema.target}: one of the classes"}
    return {
        "type": "object",
        "required": ["request_id", "actual"],
        "properties": {
            "request_id": {"type": "string", "description": "the request_id of the prediction"},
            "actual": actual,
        },
    }


def _example_request(features: list[ColumnInfo]) -> dict[str, Any]:
    values = {"numeric": 0.0, "categorical": "a", "boolean": True, "datetime": "2024-01-31"}
    return {"rows": [{c.name: values[c.kind] for c in features}]}


def _description(schema: TableSchema, metric: str | None) -> str:
    text = f"A {schema.task} model of `{schema.target}`"
    text += f", selected on {metric}." if metric else "."
    if schema.classes is not None:
        text += " Classes: " + ", ".join(f"`{c}`" for c in _classes(schema)) + "."
    return text


def _array(items: dict[str, Any], max_items: int) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": 1, "maxItems": max_items}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


def _json_body(name: str, example: dict[str, Any] | None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{name}"}}
    if example is not None:
        media["example"] = example
    return {"required": True, "content": {"application/json": media}}


def _json_response(description: str, name: str | None) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{name}"} if name else {"type": "object"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _classes(schema: TableSchema) -> list[Any]:
    return schema.to_dict()["classes"]  # plain values: NumPy scalars are not JSON
