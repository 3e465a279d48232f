"""Request validation against the training schema: every problem named, none a crash."""

from __future__ import annotations

import math
from typing import Any

from automl.data.schema import TableSchema


class RequestError(Exception):
    """A client error: `status` is the HTTP code to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def checked_rows(body: Any, schema: TableSchema, *, max_rows: int, reject_extra: bool) -> list[dict[str, Any]]:
    """Check a `{"rows": [{column: value}, ...]}` body and return its rows.

    Rows stay plain dicts: the server builds one table per batch of requests, since a
    table per request cost more than the checks themselves.

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
        if len(problems) >= 10:
            break
    if problems:
        raise RequestError(422, "; ".join(problems[:10]))
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
    elif kind == "datetime" and not isinstance(value, (str, int, float)):
        return f"column {name} must be a date string, got {type(value).__name__}"
    return None


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float's range
        return False
