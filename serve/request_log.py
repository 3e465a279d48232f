"""A bounded, rotating Parquet log of requests, predictions and feedback (for retraining)."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from automl.files import atomic_write, json_ready
from serve.config import DEFAULT_LOG_FLUSH_INTERVAL_S

logger = logging.getLogger("automl.serve")
_ROWS = re.compile(r"-(\d+)r\.parquet$")
# A replica's name in its files: its pid (unique on a machine) and random hex (pids repeat
# across machines and restarts).
_REPLICA_HEX = 6


class RequestLog:
    """Buffers records and writes them as Parquet files of at most `max_rows` rows each.

    A buffer is written once full, or `flush_interval_s` after the last write: by the next
    record, or by a thread of its own when no record comes (a replica that goes quiet after
    a burst still writes it). A replica that is killed loses at most that much. The
    directory keeps the newest files that hold `max_rows * max_files` rows in all,
    whichever replica wrote them: replicas come and go with autoscaling and redeploys, and
    their files are bounded together. A write that fails (disk full, directory gone) is logged and its records
    dropped; serving goes on.
    """

    def __init__(
        self,
        directory: str | Path,
        max_rows: int,
        max_files: int,
        flush_interval_s: float = DEFAULT_LOG_FLUSH_INTERVAL_S,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self.max_files = max_files
        self.flush_interval_s = flush_interval_s
        self.replica = f"{os.getpid()}-{uuid.uuid4().hex[:_REPLICA_HEX]}"
        self.dropped = 0  # records lost to failed writes
        self._buffer: list[dict[str, Any]] = []
        self._sequence = 0
        self._last_write = time.monotonic()
        self._lock = threading.Lock()  # records come from the event loop and Serve's threads
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_when_stale, name="automl-request-log", daemon=True)
        self._thread.start()

    def append(self, kind: str, request_id: str, payload: dict[str, Any]) -> None:
        """Buffer one record; `payload` is stored as strict JSON (NaN, which a client may send, as null)."""
        text = json.dumps(json_ready(payload), allow_nan=False)
        with self._lock:
            self._buffer.append({"kind": kind, "request_id": request_id, "time": time.time(), "payload": text})
            due = len(self._buffer) >= self.max_rows or self._stale()
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the buffer as one file (readers never see half of one), then rotate."""
        with self._lock:
            self._last_write = time.monotonic()
            if not self._buffer:
                return
            records, self._buffer = self._buffer, []
            self._sequence += 1
            sequence = self._sequence
        # the time first: names sort oldest first across replicas; the row count last
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"log-{stamp}-{self.replica}-{sequence:06d}-{len(records)}r.parquet"
        try:
            atomic_write(self.directory / name, pd.DataFrame(records).to_parquet(index=False))
        except Exception:
            self.dropped += len(records)
            logger.exception("request log: %d records not written to %s", len(records), self.directory)
            return
        self._rotate()

    def close(self) -> None:
        """Stop the thread and write what is buffered."""
        self._stop.set()
        self.flush()

    def _stale(self) -> bool:
        return time.monotonic() - self._last_write >= self.flush_interval_s

    def _flush_when_stale(self) -> None:
        # half the interval: a quiet buffer waits at most 1.5 intervals
        while not self._stop.wait(self.flush_interval_s / 2):
            if self._stale():
                self.flush()

    def _rotate(self) -> None:
        files = sorted(self.directory.glob("log-*.parquet"))
        rows = [_rows_in(path) for path in files]
        total = sum(rows)
        for path, count in zip(files[:-1], rows, strict=False):  # the newest file always stays
            if total <= self.max_rows * self.max_files:
                break
            path.unlink(missing_ok=True)  # another replica may have removed it first
            total -= count


def _rows_in(path: Path) -> int:
    match = _ROWS.search(path.name)
    if match:
        return int(match.group(1))
    try:
        return pq.read_metadata(path).num_rows
    except (OSError, ValueError):  # gone, or not Parquet: it holds nothing we count
        return 0
