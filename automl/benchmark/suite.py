"""A benchmark suite: the tables strategies are compared on.

Two forms:

- a YAML file listing tables, each with a `source` (a path relative to the file, a URI
  pyarrow reads, or `sklearn:NAME` for one of scikit-learn's bundled datasets), a
  `target`, and optionally `task` and `metric`;
- a directory of Parquet (or CSV) files with a `manifest.json` listing them (`name`,
  `file`, `target`, `task`, `metric`), the format of public benchmark folders.

    name: sklearn-bundled
    tables:
      - {name: breast-cancer, source: "sklearn:breast_cancer", target: target, task: binary}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from automl.data.ingest import read_table
from automl.errors import SpecError

SKLEARN_PREFIX = "sklearn:"
#: scikit-learn's bundled datasets (no download), by the name a suite gives them
SKLEARN_DATASETS = ("breast_cancer", "wine", "iris", "diabetes", "digits")
TASKS = ("auto", "binary", "multiclass", "regression")


@dataclass(frozen=True)
class SuiteTable:
    """One table of a suite."""

    name: str
    source: str
    target: str
    task: str = "auto"
    metric: str | None = None

    def read(self) -> pd.DataFrame:
        """The table as a frame (a missing or unreadable file raises `DataError`)."""
        if self.source.startswith(SKLEARN_PREFIX):
            return _sklearn_frame(self.source[len(SKLEARN_PREFIX) :], self.target)
        return read_table(self.source)


@dataclass(frozen=True)
class Suite:
    name: str
    tables: tuple[SuiteTable, ...]

    def select(self, names: list[str] | None) -> Suite:
        """Only the named tables, in the suite's order (None: all of them)."""
        if not names:
            return self
        unknown = sorted(set(names) - {t.name for t in self.tables})
        if unknown:
            raise SpecError(
                f"the suite has no table {', '.join(unknown)}; it has {', '.join(t.name for t in self.tables)}"
            )
        return Suite(self.name, tuple(t for t in self.tables if t.name in names))


def load_suite(location: str | Path) -> Suite:
    """Read a suite from a YAML file or a directory with `manifest.json`.

    Raises:
        SpecError: the file or directory is missing or malformed (one line saying what).
    """
    path = Path(location)
    if path.is_dir():
        manifest = path / "manifest.json"
        if not manifest.is_file():
            raise SpecError(f"{path}: a suite directory needs a manifest.json listing its tables")
        try:
            entries = json.loads(manifest.read_text())
        except (OSError, ValueError) as exc:
            raise SpecError(f"{manifest}: not valid JSON ({exc})") from None
        entries = entries.get("tables", entries) if isinstance(entries, dict) else entries
        return Suite(path.name, _tables(entries, path, manifest, source_key="file"))
    if not path.is_file():
        raise SpecError(f"{path}: no such suite (a YAML file or a directory with manifest.json)")
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("tables"), list):
        raise SpecError(f"{path}: a suite file needs a `tables:` list")
    return Suite(str(raw.get("name") or path.stem), _tables(raw["tables"], path.parent, path, source_key="source"))


def _tables(entries: Any, base: Path, where: Path, *, source_key: str) -> tuple[SuiteTable, ...]:
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"{where}: the suite lists no tables")
    tables = []
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise SpecError(f"{where}: table {position} is not a mapping")
        missing = [key for key in (source_key, "target") if not entry.get(key)]
        if missing:
            raise SpecError(f"{where}: table {position} has no {' or '.join(missing)}")
        source = str(entry[source_key])
        task = str(entry.get("task") or "auto")
        if task not in TASKS:
            raise SpecError(f"{where}: table {position} has task {task!r}; use one of {', '.join(TASKS)}")
        if source.startswith(SKLEARN_PREFIX):
            if source[len(SKLEARN_PREFIX) :] not in SKLEARN_DATASETS:
                raise SpecError(f"{where}: {source} is not one of sklearn:{', sklearn:'.join(SKLEARN_DATASETS)}")
        elif "://" not in source and not Path(source).is_absolute():
            source = str(base / source)
        name = str(entry.get("name") or Path(source).stem)
        tables.append(SuiteTable(name, source, str(entry["target"]), task, entry.get("metric")))
    names = [t.name for t in tables]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SpecError(f"{where}: two tables are named {', '.join(duplicated)}")
    return tuple(tables)


def _sklearn_frame(dataset: str, target: str) -> pd.DataFrame:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{dataset}")(as_frame=True)
    frame = bunch.frame.rename(columns={"target": target})
    frame.columns = [str(c) for c in frame.columns]
    return frame
