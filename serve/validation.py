"""Request validation against the training schema: every problem named, none a crash."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from automl.data.schema import TableSchema

# Problems named in one answer: enough to fix a request in one go, few enough to read.
MAX_PROBLEMS = 10
# A client's value quoted in a message is cut to this many characters.
_SHOWN_CHARS = 40


class RequestError(Exception):
    """A client error: `status` is the HTTP code to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def checked_rows(body: Any, schema: TableSchema, *, max_rows: int, reject_extra: bool) -> list[dict[str, Any]]:
    """Check a `{"rows": [{column: value}, ...]}` body and return its rows.

    Rows stay plain dicts: the server builds one table per batch of requests, since a
    table per request costs more than the checks themselves.

    Raises:
        RequestError: 422 for a wrong shape, a missing column, a wrong type or a missing
            value where training had none; 413 for too many rows.
    """
    if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
        raise RequestError(422, 'body must be a JSON object {"rows": [{column: value, ...}, ...]}')
    rows = body["rows"]
    if not rows:
        raise RequestError(422, "rows is empty")
    if len(rows) > max_rows:
        raise RequestError(413, f"{len(rows)} rows is more than the limit of {max_rows} per request")
    features = schema.features
    kinds = {c.name: c.kind for c in schema.columns}
    known = set(kinds) | {schema.target}  # columns excluded in training (IDs) are not unknown
    problems: list[str] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            problems.append(f"row {index}: must be an object of column: value")
            continue
        missing = [name for name in features if name not in row]
        if missing:
            problems.append(f"row {index}: missing column(s) {', '.join(missing)}")
        if reject_extra:
            extra = sorted(set(row) - known)
            if extra:
                problems.append(f"row {index}: unknown column(s) {', '.join(extra)}")
        for name in features:
            if name in row:
                problem = _check_value(name, kinds[name], row[name], schema.allows_missing.get(name, True))
                if problem:
                    problems.append(f"row {index}: {problem}")
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise RequestError(422, "; ".join(problems[:MAX_PROBLEMS]))
    return rows


def _check_value(name: str, kind: str, value: Any, allows_missing: bool) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None if allows_missing else f"column {name} is null, but training had no missing values there"
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"column {name} must be a number, got {type(value).__name__}"
        if not _finite(value):
            return f"column {name} must be finite"
    elif kind in ("categorical", "boolean"):
        if not isinstance(value, (str, int, float, bool)):
            return f"column {name} must be a string, number or boolean, got {type(value).__name__}"
    elif kind == "datetime" and not isinstance(value, str):  # a number would be read as nanoseconds since 1970
        return f"column {name} must be a date string, got {type(value).__name__}"
    return None


def checked_feedback(body: Any, schema: TableSchema, *, max_records: int) -> list[dict[str, Any]]:
    """Check a `{"feedback": [{"request_id": ..., "actual": ...}, ...]}` body and return its records.

    The actual value must be one of the classes (classification) or a finite number
    (regression): the feedback log is training data for the next model.

    Raises:
        RequestError: 422 for a wrong shape, a record without a string request_id or with
            an actual value the model could not have predicted; 413 for too many records.
    """
    items = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise RequestError(422, 'body must be {"feedback": [{"request_id": ..., "actual": ...}, ...]}')
    if len(items) > max_records:
        raise RequestError(413, f"{len(items)} feedback records is more than the limit of {max_records}")
    problems: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("request_id"), str) or "actual" not in item:
            problems.append(f"feedback {index}: needs a string request_id and an actual value")
        else:
            problem = _check_actual(item["actual"], schema)
            if problem:
                problems.append(f"feedback {index}: {problem}")
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise RequestError(422, "; ".join(problems))
    return items


def _check_actual(value: Any, schema: TableSchema) -> str | None:
    if schema.classes is None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            return f"actual must be a finite number, got {_shown(value)}"
        return None
    classes = [c.item() if isinstance(c, np.generic) else c for c in schema.classes]  # as JSON gives them
    if not any(_same_label(value, label) for label in classes):
        return f"actual must be one of the classes {', '.join(map(repr, classes))}; got {_shown(value)}"
    return None


def _same_label(value: Any, label: Any) -> bool:
    # JSON's equality, not Python's: true is not 1, and "1" is not 1 (1.0 is)
    if isinstance(value, bool) or isinstance(label, bool):
        return isinstance(value, bool) and isinstance(label, bool) and value == label
    if isinstance(value, (int, float)) and isinstance(label, (int, float)):
        return value == label
    return isinstance(value, str) and isinstance(label, str) and value == label


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool)) or value is None else type(value).__name__
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float's range
        return False
