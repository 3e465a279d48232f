"""A bounded, rotating Parquet log of requests, predictions and feedback (for retraining)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd


class RequestLog:
    """Buffers records and writes them as Parquet files of at most `max_rows` rows each;
    keeps the newest `max_files` files per replica and deletes older ones."""

    def __init__(self, directory: str | Path, max_rows: int, max_files: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self.max_files = max_files
        self.replica = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._buffer: list[dict[str, Any]] = []
        self._written: list[Path] = []
        self._sequence = 0

    def append(self, kind: str, request_id: str, payload: dict[str, Any]) -> None:
        self._buffer.append(
            {"kind": kind, "request_id": request_id, "time": time.time(), "payload": json.dumps(payload, default=str)}
        )
        if len(self._buffer) >= self.max_rows:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        self._sequence += 1
        name = f"log-{self.replica}-{time.strftime('%Y%m%dT%H%M%S')}-{self._sequence:06d}.parquet"
        tmp = self.directory / f".{name}.tmp"
        pd.DataFrame(self._buffer).to_parquet(tmp, index=False)
        tmp.replace(self.directory / name)  # readers never see half a file
        self._buffer = []
        self._written.append(self.directory / name)
        while len(self._written) > self.max_files:
            self._written.pop(0).unlink(missing_ok=True)
