"""Read tables (CSV or Parquet) from local paths or pyarrow / fsspec URIs.

pyarrow does the reading: it is fast, infers types well and understands the same URIs
(s3://, gs://, hdfs://, file://) on a laptop and on cluster nodes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

from automl.errors import DataError

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(location: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet table into pandas.

    Args:
        location: a local path or a URI that pyarrow's file systems understand.

    Returns:
        The table, with at least one row and one column.

    Raises:
        DataError: the file is missing, unreadable, of an unknown format or empty.
    """
    location = str(location)
    suffix = Path(location.split("?", 1)[0]).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(f"{location}: unsupported file type {suffix or '(none)'}; use .csv or .parquet")
    try:
        filesystem, path = resolve_location(location)
        info = filesystem.get_file_info(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{location}: cannot open ({_first_line(exc)})") from None
    if info.type == pa_fs.FileType.NotFound:
        raise DataError(f"{location}: file not found")
    if info.type != pa_fs.FileType.File:
        raise DataError(f"{location}: not a file")
    try:
        if suffix == ".csv":
            with filesystem.open_input_stream(path) as stream:
                # empty fields are missing values in every column, strings included
                table = pa_csv.read_csv(stream, convert_options=pa_csv.ConvertOptions(strings_can_be_null=True))
        else:
            table = pq.read_table(path, filesystem=filesystem)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{location}: cannot read as {suffix[1:]} ({_first_line(exc)})") from None
    frame = table.to_pandas()
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{location}: the table is empty")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def resolve_location(location: str | Path) -> tuple[pa_fs.FileSystem, str]:
    """The file system and path of a local path or a URI (s3://, gs://, hdfs://, file://)."""
    location = str(location)
    if "://" in location:
        return pa_fs.FileSystem.from_uri(location)
    return pa_fs.LocalFileSystem(), str(Path(location).resolve())


def write_table(frame: pd.DataFrame, location: str | Path) -> None:
    """Write a table as CSV or Parquet, chosen by the file's extension."""
    location = Path(location)
    suffix = location.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(f"{location}: unsupported output type {suffix or '(none)'}; use .csv or .parquet")
    location.parent.mkdir(parents=True, exist_ok=True)
    tmp = location.with_name(f".{location.name}.tmp")
    if suffix == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        frame.to_parquet(tmp, index=False)
    tmp.replace(location)  # never leave a half-written file under the final name


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
