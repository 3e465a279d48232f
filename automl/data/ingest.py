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

from automl.data.schema import text_column_names
from automl.data.values import holds_numbers, to_numbers
from automl.errors import DataError, first_line
from automl.files import atomic_path

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")
# Tried in turn: UTF-8 (a BOM is skipped), then the Windows code page that spreadsheets
# write, then Latin-1, which decodes any bytes
CSV_ENCODINGS = ("utf8", "cp1252", "latin-1")


def read_table(location: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet table into pandas.

    Args:
        location: a local path or a URI that pyarrow's file systems understand.

    Returns:
        The table, with at least one row and one column, as `normalize_frame` makes it.

    Raises:
        DataError: the file is missing, unreadable, of an unknown format, empty, or has
            two columns of one name.
    """
    location = str(location)
    suffix = Path(location.split("?", 1)[0]).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(f"{location}: unsupported file type {suffix or '(none)'}; use .csv or .parquet")
    try:
        filesystem, path = resolve_location(location)
        info = filesystem.get_file_info(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{location}: cannot open ({first_line(exc)})") from None
    if info.type == pa_fs.FileType.NotFound:
        raise DataError(f"{location}: file not found")
    if info.type != pa_fs.FileType.File:
        raise DataError(f"{location}: not a file")
    try:
        table = _read_csv(filesystem, path) if suffix == ".csv" else _read_parquet(filesystem, path, location)
        # dates as datetime64 like timestamps, not as objects that look like text
        frame = table.to_pandas(date_as_object=False)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{location}: cannot read as {suffix[1:]} ({first_line(exc)})") from None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{location}: the table is empty")
    return normalize_frame(frame, where=location)


def normalize_frame(frame: pd.DataFrame, where: str = "the table") -> pd.DataFrame:
    """The checks and conversions every table needs, however it arrived (file or DataFrame).

    Column names become text; object columns of numbers (Parquet's decimals, integers
    beyond int64) become float64. Other columns are shared with `frame`, not copied, and
    `frame` itself is left as it is.

    Args:
        frame: the table.
        where: what to call the table in error messages (its path, say).

    Returns:
        The table, ready for `infer_schema` and `coerce_features`.

    Raises:
        DataError: it is no DataFrame, or two columns have one name (or names that read
            the same as text, like 1 and "1").

    Example:
        >>> from decimal import Decimal
        >>> frame = normalize_frame(pd.DataFrame({0: [Decimal("1.5"), None], "y": [0, 1]}))
        >>> frame.columns.tolist(), frame["0"].dtype
        (['0', 'y'], dtype('float64'))
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{where} is a {type(frame).__name__}, not a pandas DataFrame")
    frame = text_column_names(frame, where)
    numbers = {name: to_numbers(column) for name, column in frame.items() if holds_numbers(column)}
    if not numbers:
        return frame
    frame = frame.copy(deep=False)  # new columns for the numbers, the others shared
    for name, column in numbers.items():
        frame[name] = column
    return frame


def _read_csv(filesystem: pa_fs.FileSystem, path: str) -> pa.Table:
    for encoding in CSV_ENCODINGS[:-1]:
        try:
            table = _read_csv_as(filesystem, path, encoding)
        except UnicodeDecodeError:  # transcoding from another encoding met bytes it does not decode
            continue
        if _decoded(table):
            return table
    return _read_csv_as(filesystem, path, CSV_ENCODINGS[-1])  # decodes any bytes


def _decoded(table: pa.Table) -> bool:
    """Whether a CSV read as UTF-8 was UTF-8: pyarrow keeps what does not decode as bytes,
    in binary columns, or in column names that fail when read."""
    try:
        _ = table.column_names  # decoded as they are read
    except UnicodeDecodeError:
        return False
    return not any(pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) for f in table.schema)


def _read_csv_as(filesystem: pa_fs.FileSystem, path: str, encoding: str) -> pa.Table:
    with filesystem.open_input_stream(path) as stream:
        return pa_csv.read_csv(
            stream,
            read_options=pa_csv.ReadOptions(encoding=encoding),
            # empty fields are missing values in every column, strings included
            convert_options=pa_csv.ConvertOptions(strings_can_be_null=True),
        )


def _read_parquet(filesystem: pa_fs.FileSystem, path: str, location: str) -> pa.Table:
    with filesystem.open_input_file(path) as file:
        parquet = pq.ParquetFile(file)
        text_column_names(pd.DataFrame(columns=parquet.schema_arrow.names), location)  # before reading the data
        return parquet.read()


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
    with atomic_path(location) as tmp:  # never a half-written file under the final name
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
