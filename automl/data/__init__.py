"""Data preparation: ingest, schema and task inference, seeded validation splits."""

from automl.data.coercion import coerce_features
from automl.data.ingest import normalize_frame, read_table, write_table
from automl.data.schema import ColumnInfo, TableSchema, infer_schema, infer_task
from automl.data.splits import Folds, make_folds

__all__ = [
    "ColumnInfo",
    "Folds",
    "TableSchema",
    "coerce_features",
    "infer_schema",
    "infer_task",
    "make_folds",
    "normalize_frame",
    "read_table",
    "write_table",
]
