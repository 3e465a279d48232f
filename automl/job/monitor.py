"""`automl monitor`: a served model's drift and live metric, from its request log.

Feature drift and prediction drift are tested against the training reference the artifact
carries (`monitoring.statistics`); once labels arrive as feedback, the metric over windows
of labelled rows shows whether the model is degrading. The result is printed, written as
`monitor.json` and plotted (`drift.png`, and `metric.png` with labels).
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from automl.artifacts.store import load_model
from automl.errors import SpecError
from automl.files import atomic_write, json_text
from automl.monitoring.statistics import P_VALUE, drift_report
from automl.monitoring.traffic import Traffic, read_traffic

#: labelled rows per point of the live metric
WINDOW = 200
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class MonitorResult:
    """What `monitor_model` found, as `monitor.json` holds it."""

    report: dict[str, Any]
    metric: dict[str, Any] | None
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.report, "live_metric": self.metric}


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """`--since` as a `time.time()` value: an ISO 8601 time (UTC unless it says), or a
    span back from now such as 30m, 24h or 7d.

    Raises:
        SpecError: neither form.
    """
    if text is None:
        return None
    relative = _RELATIVE.match(text.strip())
    if relative:
        return (now if now is not None else time.time()) - float(relative.group(1)) * _SECONDS[relative.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SpecError(
            f"--since {text!r}: give an ISO 8601 time (2026-12-01T08:00) or a span (30m, 24h, 7d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def monitor_model(
    model_dir: str | Path,
    log_dir: str | Path,
    *,
    since: float | None = None,
    p_value: float = P_VALUE,
    window: int = WINDOW,
    output: str | Path | None = None,
) -> MonitorResult:
    """Drift and the live metric of the traffic logged under `log_dir` for the model in
    `model_dir`; with `output`, write `monitor.json` and the plots there.

    Raises:
        ArtifactError: the model directory cannot be trusted or read.
        DataError: there is no request log in `log_dir`.
        SpecError: `p_value` outside (0, 1) or `window` below 1.
    """
    if not 0 < p_value < 1:
        raise SpecError(f"--p-value must be between 0 and 1, got {p_value}")
    if window < 1:
        raise SpecError(f"--window must be at least 1, got {window}")
    model = load_model(model_dir)
    reference = model.reference or {}
    traffic = read_traffic(log_dir, since=since)
    kinds = {c.name: c.kind for c in model.schema.columns}
    classes = [str(c) for c in model.schema.classes] if model.schema.classes is not None else None
    predictions = _prediction_values(traffic.predictions, classes)
    report = drift_report(reference, traffic.rows, predictions, kinds=kinds, p_value=p_value)
    report.update(
        {
            "log_files": traffic.files,
            "unreadable_files": traffic.unreadable,
            "since": since,
            "feedback_rows": len(traffic.labelled()[1]),
        }
    )
    if not reference.get("features"):
        report.setdefault("notes", []).append("the artifact carries no training reference: no drift test")
    result = MonitorResult(report=report, metric=_live_metric(traffic, classes, window))
    if output is not None:
        result.files = _write(result, Path(output))
    return result


def _prediction_values(predictions: list[Any], classes: list[str] | None) -> np.ndarray | None:
    """Logged predictions as class indices (labels the model does not know dropped), or values."""
    if not predictions:
        return None
    if classes is None:
        values = np.asarray([np.nan if p is None else float(p) for p in predictions], dtype=np.float64)
        return values[np.isfinite(values)]
    index = {label: i for i, label in enumerate(classes)}
    return np.asarray([index[str(p)] for p in predictions if str(p) in index], dtype=np.int64)


def _live_metric(traffic: Traffic, classes: list[str] | None, window: int) -> dict[str, Any] | None:
    """Accuracy (classification) or RMSE (regression) over consecutive windows of
    labelled rows, in time order; None without labels."""
    times, predicted, actual = traffic.labelled()
    if not predicted:
        return None
    name = "accuracy" if classes is not None else "rmse"
    points = []
    for start in range(0, len(predicted), window):
        p, a = predicted[start : start + window], actual[start : start + window]
        if classes is not None:
            value = float(np.mean([str(x) == str(y) for x, y in zip(p, a, strict=True)]))
        else:
            value = float(np.sqrt(np.mean((np.asarray(p, dtype=float) - np.asarray(a, dtype=float)) ** 2)))
        points.append({"until": float(times[min(start + window, len(times)) - 1]), "rows": len(p), name: value})
    return {"metric": name, "window": window, "points": points}


def _write(result: MonitorResult, output: Path) -> list[str]:
    from automl.evaluation import plots  # matplotlib: only when plots are asked for

    output.mkdir(parents=True, exist_ok=True)
    atomic_write(output / "monitor.json", json_text(result.as_dict()))
    written = [str(output / "monitor.json")]
    features = [f for f in result.report["features"] if f["psi"] is not None]
    if features:
        figure = plots.bar_chart(
            [f"{f['name']}{' (drift)' if f['drifted'] else ''}" for f in features],
            [f["psi"] for f in features],
            title="Population stability index per feature (drift flagged by its test)",
            value_label="PSI (0.1: some shift, 0.25: large)",
        )
        written.append(_save(figure.src, output / "drift.png"))
    if result.metric is not None:
        name = result.metric["metric"]
        points = result.metric["points"]
        figure = plots.rate_curves(
            {name: ([float(i + 1) for i in range(len(points))], [p[name] for p in points])},
            metric=name,
            title=f"Live {name} per window of {result.metric['window']} labelled rows",
            x_label="window (in time order)",
        )
        written.append(_save(figure.src, output / "metric.png"))
    return written


def _save(src: str, path: Path) -> str:
    atomic_write(path, base64.b64decode(src.split(",", 1)[1]))
    return str(path)


__all__ = ["WINDOW", "MonitorResult", "monitor_model", "parse_since"]
