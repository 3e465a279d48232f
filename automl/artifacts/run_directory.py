"""A run directory at a local path or a URI (s3://, gs://, hdfs://, file://).

A job on a cluster must leave its results somewhere that outlives its driver and its
node: a shared path or an object store. Small files go straight to the location; the
model artifact and the tables are written to a local folder first (they are checked
and renamed into place there) and copied up once complete.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pa_fs

from automl.data.ingest import resolve_location
from automl.errors import SpecError, first_line
from automl.files import atomic_write

JOB_FILE = "job.yaml"  # the job's spec, with absolute data paths: what `automl resume` runs
JOURNAL_DIR = "search"  # the search's journal (see automl.search.journal)


class RunDirectory:
    """Where one job's results go."""

    def __init__(self, location: str) -> None:
        self.location = location.rstrip("/") or location
        self.is_uri = "://" in location
        try:
            self._fs, self._path = resolve_location(self.location)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise SpecError(f"output {location}: cannot use it ({first_line(exc)})") from None

    def child(self, name: str) -> str:
        """The location of an entry of this directory."""
        return f"{self.location}/{name}"

    def check_writable(self) -> None:
        """Refuse a location that is a file, before any work is done."""
        if self._fs.get_file_info(self._path).type == pa_fs.FileType.File:
            raise SpecError(f"output {self.location} exists and is not a directory")

    def write_text(self, name: str, text: str) -> None:
        try:
            self._fs.create_dir(self._path, recursive=True)
            if self.is_uri:
                with self._fs.open_output_stream(f"{self._path}/{name}") as stream:
                    stream.write(text.encode())
            else:
                atomic_write(Path(self._path) / name, text)
        except (pa.ArrowException, OSError) as exc:
            raise SpecError(f"output {self.location}: cannot write ({first_line(exc)})") from None

    def read_text(self, name: str) -> str:
        try:
            with self._fs.open_input_stream(f"{self._path}/{name}") as stream:
                return stream.read().decode()
        except FileNotFoundError:
            raise SpecError(f"{self.location}: not a run directory of a job (no {name})") from None
        except (pa.ArrowException, OSError) as exc:
            raise SpecError(f"{self.location}: cannot read {name} ({first_line(exc)})") from None

    @contextlib.contextmanager
    def local(self) -> Iterator[Path]:
        """A local folder to write the results in; copied to the location when the block ends well."""
        if not self.is_uri:
            yield Path(self._path)
            return
        staging = Path(tempfile.mkdtemp(prefix="automl-run-"))
        try:
            yield staging
            pa_fs.copy_files(str(staging), self._path, destination_filesystem=self._fs)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
