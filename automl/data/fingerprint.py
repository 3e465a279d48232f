"""A fingerprint of a training table, so a resumed run can tell it is the same table.

A resume mixes the journal's out-of-fold predictions with new trials' ones: both must
come from the same rows in the same order. Every value is hashed (pandas' vectorised
row hashing), with the column names, their order and the inferred schema.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd


def table_fingerprint(frame: pd.DataFrame, schema: dict[str, Any]) -> str:
    """sha256 over the schema, the column names and every row's hash."""
    digest = hashlib.sha256()
    digest.update(json.dumps(schema, sort_keys=True, default=str).encode())
    digest.update(json.dumps([str(c) for c in frame.columns]).encode())
    digest.update(str(len(frame)).encode())
    for name in frame.columns:  # column by column: one column's hashes in memory at a time
        digest.update(pd.util.hash_pandas_object(frame[name], index=False).to_numpy().tobytes())
    return digest.hexdigest()


__all__ = ["table_fingerprint"]
