"""A served model's traffic as its request log holds it (`serve/request_log.py`), read back
for monitoring: the rows it was asked about, what it answered, and the labels that came
back as feedback.

The log is Parquet files of records `{"kind", "request_id", "time", "payload"}`; a
"predict" record's payload is `{"rows": [...], "predictions": [...]}` (the rows as logged:
feature columns only, hashed columns as hashes), a "feedback" record's `{"actual": ...}`.
Reading keeps only the columns it needs, file by file, so memory grows with the records
read, not with the files' history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from automl.errors import DataError

COLUMNS = ["kind", "request_id", "time", "payload"]


@dataclass
class Traffic:
    """Logged rows in time order, each with its request, time and prediction; and the
    labels fed back, by request id."""

    rows: pd.DataFrame
    request_ids: list[str] = field(default_factory=list)
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    predictions: list[Any] = field(default_factory=list)
    feedback: dict[str, Any] = field(default_factory=dict)
    files: int = 0
    unreadable: list[str] = field(default_factory=list)

    def labelled(self) -> tuple[np.ndarray, list[Any], list[Any]]:
        """(times, predictions, actual values) of the rows whose request got feedback and
        held one row (a label names a request, not a row of a larger one)."""
        counts = pd.Series(self.request_ids).value_counts() if self.request_ids else pd.Series(dtype=int)
        picked = [
            i for i, request in enumerate(self.request_ids) if request in self.feedback and counts.get(request, 0) == 1
        ]
        return (
            self.times[picked] if len(picked) else np.zeros(0),
            [self.predictions[i] for i in picked],
            [self.feedback[self.request_ids[i]] for i in picked],
        )


def read_traffic(log_dir: str | Path, *, since: float | None = None) -> Traffic:
    """The traffic logged under `log_dir` (its Parquet files, every replica's), from the
    time `since` (a `time.time()` value) on.

    Raises:
        DataError: `log_dir` is not a directory.
    """
    directory = Path(log_dir)
    if not directory.is_dir():
        raise DataError(f"{directory}: no request log here (serve with --log-dir to write one)")
    records: list[pd.DataFrame] = []
    unreadable = []
    files = sorted(directory.glob("*.parquet"))
    for path in files:
        try:
            table = pq.read_table(path, columns=COLUMNS).to_pandas()
        except Exception as exc:  # a file being written or cut short by a crash
            unreadable.append(f"{path.name}: {type(exc).__name__}")
            continue
        records.append(table if since is None else table[table["time"] >= since])
    frame = pd.concat(records, ignore_index=True) if records else pd.DataFrame(columns=COLUMNS)
    frame = frame.sort_values("time", kind="stable")
    rows: list[dict[str, Any]] = []
    request_ids: list[str] = []
    times: list[float] = []
    predictions: list[Any] = []
    feedback: dict[str, Any] = {}
    for kind, request_id, moment, payload in frame.itertuples(index=False, name=None):
        content = json.loads(payload)
        if kind == "predict":
            logged = content.get("rows") or []
            answers = content.get("predictions") or [None] * len(logged)
            rows.extend(logged)
            predictions.extend(answers[: len(logged)])
            request_ids.extend([request_id] * len(logged))
            times.extend([float(moment)] * len(logged))
        elif kind == "feedback":
            feedback[request_id] = content.get("actual")
    return Traffic(
        rows=pd.DataFrame.from_records(rows) if rows else pd.DataFrame(),
        request_ids=request_ids,
        times=np.asarray(times, dtype=np.float64),
        predictions=predictions,
        feedback=feedback,
        files=len(files),
        unreadable=unreadable,
    )


__all__ = ["Traffic", "read_traffic"]
