"""The run's HTML report: summary, notes, a score-over-trials chart and the leaderboard.

Self-contained (inline SVG, no scripts) so it opens from a run directory anywhere.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from automl.evaluation.metrics import get_metric
from automl.files import atomic_write
from automl.pipeline.trial import TrialStatus

_SUMMARY_KEYS = (
    "task",
    "metric",
    "best_model",
    "best_cv_score",
    "ensemble_method",
    "ensemble_cv_score",
    "test_score",
    "n_trials",
    "n_failed",
    "n_stopped",
    "n_rows",
    "n_features",
    "strategy",
    "time_budget_s",
    "wall_s",
)


def write_report(directory: Path, summary: dict[str, Any], leaderboard: pd.DataFrame) -> Path:
    """Write `report.html` into `directory` and return its path."""
    return atomic_write(directory / "report.html", render_report(summary, leaderboard))


def render_report(summary: dict[str, Any], leaderboard: pd.DataFrame) -> str:
    title = html.escape(f"AutoML run: {summary.get('name', '')}")
    facts = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(summary[k]))}</td></tr>"
        for k in _SUMMARY_KEYS
        if summary.get(k) is not None  # e.g. no test table: no test_score row
    )
    notes = "".join(f"<li>{html.escape(str(n))}</li>" for n in summary.get("notes", []))
    table = leaderboard.head(50).to_html(index=False, na_rep="", escape=True, border=0, classes="board")
    chart = _score_chart(leaderboard, str(summary.get("metric", "score")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85rem; }}
th, td {{ padding: 0.2rem 0.6rem; text-align: left; border-bottom: 1px solid #ddd; }}
.board td {{ max-width: 28rem; overflow-wrap: anywhere; }}
</style></head><body>
<h1>{title}</h1>
<h2>Summary</h2><table>{facts}</table>
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<h2>Scores by trial</h2>{chart}
<h2>Leaderboard</h2>{table}
<p>Parameters: {html.escape(json.dumps(summary.get("best_params", {}), sort_keys=True))}</p>
</body></html>
"""


def _score_chart(leaderboard: pd.DataFrame, metric: str, width: int = 640, height: int = 240) -> str:
    """Each finished trial's CV score in start order, with the best-so-far line."""
    done = leaderboard[leaderboard["status"] == TrialStatus.DONE.value]
    if done.empty:
        return "<p>No finished trial.</p>"
    scores = [float(s) for s in done.sort_values("trial")["cv_score"]]
    lo, hi = min(scores), max(scores)
    span = hi - lo or 1.0
    pad = 30

    def xy(i: int, s: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (i / max(len(scores) - 1, 1))
        y = height - pad - (height - 2 * pad) * ((s - lo) / span)
        return x, y

    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#4a7dbd"/>' for x, y in (xy(i, s) for i, s in enumerate(scores))
    )
    lower_better = not get_metric(metric).greater_is_better
    best, line = math.inf if lower_better else -math.inf, []
    for i, s in enumerate(scores):
        best = min(best, s) if lower_better else max(best, s)
        line.append("{:.1f},{:.1f}".format(*xy(i, best)))
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="scores by trial">'
        f'<rect width="100%" height="100%" fill="#fafafa"/>'
        f'<polyline points="{" ".join(line)}" fill="none" stroke="#d9534f" stroke-width="2"/>{dots}'
        f'<text x="{pad}" y="16" font-size="12">{html.escape(metric)}: {lo:.4g} .. {hi:.4g} '
        f"(dots: trials, line: best so far)</text></svg>"
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
