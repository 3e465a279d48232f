"""The data-quality step of a job's preparation: the spec's column rules (drop, hash),
personal-data columns, outlier clipping, and the data-quality report.

It runs before the search, on the training table as read: a column the spec names that
the table lacks is refused here, in seconds, never after the budget is spent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from automl.data.privacy import PersonalColumn, detect_personal_data, hash_column, new_salt
from automl.data.quality import quality_report
from automl.data.schema import ColumnInfo, TableSchema, list_names
from automl.data.values import to_numbers
from automl.errors import SpecError
from automl.spec import JobSpec

#: outlier fences: this many interquartile ranges beyond the quartiles (the quality report's rule)
CLIP_IQR = 3.0


@dataclass
class Curated:
    """The training table after the spec's column rules, and what was decided about it."""

    frame: pd.DataFrame
    salts: dict[str, str] = field(default_factory=dict)  # hashed column -> its salt
    personal: list[PersonalColumn] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)  # column -> the schema note that excludes it
    actions: list[str] = field(default_factory=list)

    def privacy(self, spec: JobSpec) -> dict[str, Any]:
        """The report's privacy section: flagged columns and what became of each."""
        rules = spec.data_quality
        flagged = [
            {"column": p.column, "kind": p.kind, "share": round(p.share, 4), "action": self._action(p.column, spec)}
            for p in self.personal
        ]
        return {"flagged": flagged, "dropped": list(rules.drop), "hashed": sorted(self.salts)}

    def _action(self, column: str, spec: JobSpec) -> str:
        if column in self.salts:
            return "hashed"
        if column in spec.data_quality.drop:
            return "dropped"
        return "allowed" if spec.data_quality.allow_personal_data else "excluded"


def curate(frame: pd.DataFrame, spec: JobSpec) -> Curated:
    """Apply the spec's column rules to the training table and flag personal data.

    Hashed columns are replaced by their salted hashes here, so that the schema is inferred
    on what the models will see; dropped and personal columns are excluded once the schema
    is known (`mark_schema`).

    Raises:
        SpecError: a dropped, hashed or sensitive column the table does not have, or the
            target named among them.
    """
    rules, target = spec.data_quality, spec.data.target
    for what, names in (
        ("data_quality.drop", rules.drop),
        ("data_quality.hash", rules.hash),
        ("evaluation.sensitive_features", spec.evaluation.sensitive_features),
    ):
        unknown = [n for n in names if n not in frame.columns]
        if unknown:
            raise SpecError(f"{what} names column(s) the table lacks: {list_names(unknown)}")
        if target in names:
            raise SpecError(f"{what} names the target column {target!r}")
    curated = Curated(frame=frame)
    if rules.hash:
        frame = frame.copy()
        for name in rules.hash:
            curated.salts[name] = new_salt()
            frame[name] = hash_column(frame[name], curated.salts[name])
        curated.frame = frame
        curated.actions.append(f"hashed with a salt made for this job: {', '.join(rules.hash)}")
    for name in rules.drop:
        curated.excluded[name] = "excluded: dropped by the spec (data_quality.drop)"
    if rules.drop:
        curated.actions.append(f"dropped by the spec: {', '.join(rules.drop)}")
    skip = {target, *rules.drop, *rules.hash}
    curated.personal = detect_personal_data(frame, exclude=skip)
    if not rules.allow_personal_data:
        for column in curated.personal:
            curated.excluded[column.column] = (
                f"excluded: looks like personal data ({column.kind}); "
                "hash it (data_quality.hash) or set data_quality.allow_personal_data"
            )
        if curated.personal:
            listed = ", ".join(f"{p.column} ({p.kind})" for p in curated.personal)
            curated.actions.append(f"left out as personal data: {listed}")
    return curated


def mark_schema(schema: TableSchema, curated: Curated, frame: pd.DataFrame, clip_outliers: bool) -> TableSchema:
    """`schema` with the curated exclusions, the hashed columns' salts and, when asked,
    the numeric columns' clipping bounds."""
    columns = [
        ColumnInfo(c.name, "excluded", curated.excluded[c.name]) if c.name in curated.excluded else c
        for c in schema.columns
    ]
    kept = {c.name for c in columns if c.kind != "excluded"}
    clipped: dict[str, tuple[float, float]] = {}
    if clip_outliers:
        for name in [c.name for c in columns if c.kind == "numeric"]:
            bounds = _fences(to_numbers(frame[name]))
            if bounds is not None:
                clipped[name] = bounds
        if clipped:
            curated.actions.append(f"outliers clipped to 3 IQR beyond the quartiles: {', '.join(clipped)}")
    if not kept:
        raise SpecError("no usable feature columns are left after the data-quality rules (drop, personal data)")
    return replace(
        schema,
        columns=columns,
        allows_missing={k: v for k, v in schema.allows_missing.items() if k in kept},
        hashed={k: v for k, v in curated.salts.items() if k in kept},
        clipped=clipped,
    )


def _fences(values: pd.Series) -> tuple[float, float] | None:
    """The outlier fences of a numeric column, or None when none of its values is beyond them."""
    finite = values[np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))]
    if finite.empty:
        return None
    q1, q3 = np.percentile(finite, [25, 75])
    low, high = float(q1 - CLIP_IQR * (q3 - q1)), float(q3 + CLIP_IQR * (q3 - q1))
    return (low, high) if bool(((finite < low) | (finite > high)).any()) else None


def data_quality(
    frame: pd.DataFrame, schema: TableSchema, curated: Curated, spec: JobSpec, test: pd.DataFrame | None
) -> dict[str, Any]:
    """The data-quality report of the training table (and its shift against the test table)."""
    if test is not None and curated.salts:
        test = test.copy()
        for name, salt in curated.salts.items():
            if name in test.columns:
                test[name] = hash_column(test[name], salt)
    report = quality_report(frame, schema, test=test, seed=spec.search.seed, personal=curated.personal)
    notes = [f"{c.name}: {c.note}" for c in schema.columns if c.kind == "excluded" and c.name not in curated.excluded]
    report["actions"] = [*curated.actions, *notes]
    return report


__all__ = ["Curated", "curate", "data_quality", "mark_schema"]
