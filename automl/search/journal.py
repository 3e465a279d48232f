"""The search's journal: every finished batch of trials, kept where the run directory is.

A job killed mid-search (a lost driver, a stopped job) resumes from its journal: the
trials it holds are not run again, Optuna is told their results, and the search goes on
until the planned number of trials. Tune's own experiment checkpoint lags behind by
design (it is written every few seconds at most), so the journal is written by the trial
store as each batch arrives.

Each batch is one object (`batch-<n>.pkl`) followed by its sha256 (`batch-<n>.sha256`):
files on object stores (s3://, gs://) cannot be appended to, and a batch without its
checksum, or one that does not match it, is ignored on resume (that batch runs again).
The batches hold fold models, so they are unpickled only after the checksum matches.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

import pyarrow.fs as pa_fs

from automl.data.ingest import resolve_location
from automl.pipeline import pickles
from automl.pipeline.trial import TrialOutcome

META = "meta.json"


class _Batch(TypedDict):
    """One `batch-*.pkl` as `append` writes it."""

    outcomes: dict[str, TrialOutcome]
    elapsed_s: float
    written_at: float


@dataclass
class JournalState:
    """What a journal holds: the search's settings and its trials in the order they ended."""

    meta: dict[str, Any]
    outcomes: dict[str, TrialOutcome] = field(default_factory=dict)
    elapsed_s: float = 0.0  # search time spent, up to the last batch written
    n_records: int = 0  # trial outcomes written, a trial written twice counted twice


class SearchJournal:
    """Reads and writes one search's journal under `location` (a path or a URI)."""

    def __init__(self, location: str) -> None:
        self.location = location
        self._fs, self._path = resolve_location(location)
        self._writer = uuid.uuid4().hex[:8]  # a resumed search never overwrites earlier batches
        self._count = 0

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a copy in another process (a restarted store) writes under a name of its own
        self.__dict__.update(state)
        self._writer = uuid.uuid4().hex[:8]
        self._count = 0

    def meta(self) -> dict[str, Any]:
        """The search's settings as `start` recorded them."""
        return dict(json.loads(self._read(META)))

    def start(self, meta: dict[str, Any], *, resume: bool = False) -> None:
        """Before the first trial: record the search's settings, or keep the journal being resumed.

        A new search in a run directory that held an earlier one starts a new journal.
        """
        if resume and self.exists():
            return
        self._fs.create_dir(self._path, recursive=True)
        self._fs.delete_dir_contents(self._path, missing_dir_ok=True)
        self._write(META, json.dumps({**meta, "started_at": time.time()}, indent=2).encode())

    def append(self, outcomes: dict[str, TrialOutcome], elapsed_s: float) -> None:
        """Write one batch of outcomes (called by the trial store, one batch at a time)."""
        self._count += 1
        name = f"batch-{self._writer}-{self._count:06d}"
        batch: _Batch = {"outcomes": outcomes, "elapsed_s": elapsed_s, "written_at": time.time()}
        payload = pickle.dumps(batch)
        self._write(f"{name}.pkl", payload)
        self._write(f"{name}.sha256", hashlib.sha256(payload).hexdigest().encode())  # last: marks it complete

    def exists(self) -> bool:
        return self._fs.get_file_info(f"{self._path}/{META}").type == pa_fs.FileType.File

    def load(self) -> JournalState:
        """Every complete, intact batch, oldest first; later copies of a trial id win."""
        meta = json.loads(self._read(META))
        state = JournalState(meta=meta)
        batches: list[_Batch] = []
        for info in self._fs.get_file_info(pa_fs.FileSelector(self._path)):
            if info.base_name.endswith(".sha256"):
                name = info.base_name.removesuffix(".sha256")
                expected = self._read(info.base_name).decode().strip()
                payload = self._read(f"{name}.pkl")
                if hashlib.sha256(payload).hexdigest() != expected:
                    continue  # altered or torn: that batch is run again
                batches.append(cast(_Batch, pickles.loads(payload)))  # our own file, checksum verified
        for batch in sorted(batches, key=lambda b: b["written_at"]):
            state.outcomes.update(batch["outcomes"])
            state.n_records += len(batch["outcomes"])
            state.elapsed_s = max(state.elapsed_s, batch["elapsed_s"])
        return state

    def _write(self, name: str, payload: bytes) -> None:
        with self._fs.open_output_stream(f"{self._path}/{name}") as stream:
            stream.write(payload)

    def _read(self, name: str) -> bytes:
        with self._fs.open_input_stream(f"{self._path}/{name}") as stream:
            return stream.read()
