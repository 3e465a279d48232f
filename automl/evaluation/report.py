"""The run's HTML report (`report.html`): one self-contained page from `summary.json` and
the leaderboard.

Sections, in order: summary, data quality, privacy, leaderboard, score over time,
ensemble, feature importance, evaluation, fairness, robustness. A section whose data the
run did not record stays on the page and says so in one line. The page is rendered by
Jinja2 (`templates/report.html.j2`, autoescaped) with matplotlib plots inlined as PNG
data URIs: no scripts, no network, no other file, so it opens from a run directory anywhere.

This module reads plain dicts (the summary's JSON values), never the objects that made
them, so a report can be rebuilt from an old run directory (`rebuild_report`).
"""

from __future__ import annotations

import functools
import json
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from automl.errors import AutoMLError, DataError
from automl.evaluation import plots
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
#: what the evaluation's `source` means, in words
_SOURCES = {"out_of_fold": "out-of-fold predictions of the final model", "test": "the test table"}
#: plots show at most this many bars or classes; the tables say what was left out
MAX_MISSING_BARS, MAX_IMPORTANCE_BARS, MAX_CONFUSION_LABELS = 30, 20, 30
LEADERBOARD_ROWS = 50
#: leaderboard.csv columns the report's table leaves out: a configuration's parameters are
#: a JSON object too wide for a table cell (its feature choices are the `features` column)
LEADERBOARD_HIDDEN = ("params",)


@dataclass
class Table:
    """Header and rows of already formatted cells; rows in `warn` are highlighted."""

    columns: list[str]
    rows: list[list[str]]
    warn: set[int] = field(default_factory=set)


def write_report(directory: Path, summary: dict[str, Any], leaderboard: pd.DataFrame) -> Path:
    """Write `report.html` into `directory` and return its path."""
    return atomic_write(Path(directory) / "report.html", render_report(summary, leaderboard))


def rebuild_report(run_dir: Path) -> Path:
    """Write `run_dir/report.html` again from the run's `summary.json` and `leaderboard.csv`.

    Raises:
        DataError: `run_dir` is not a run directory (no readable `summary.json`).
    """
    run_dir = Path(run_dir)
    path = run_dir / "summary.json"
    if not path.is_file():
        what = "no such directory" if not run_dir.is_dir() else "it has no summary.json"
        raise DataError(f"{run_dir}: not a run directory ({what})")
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the run's summary ({exc})") from None
    if not isinstance(summary, dict):
        raise DataError(f"{path}: not a run summary (a JSON object)")
    board_path = run_dir / "leaderboard.csv"
    try:
        board = pd.read_csv(board_path) if board_path.is_file() else pd.DataFrame()
    except (OSError, ValueError) as exc:
        raise DataError(f"{board_path}: cannot read the leaderboard ({exc})") from None
    return write_report(run_dir, summary, board)


def render_report(summary: dict[str, Any], leaderboard: pd.DataFrame) -> str:
    """The page's HTML. Every key of `summary` may be absent or None."""
    evaluation = _mapping(summary.get("evaluation"))
    metric = str(summary.get("metric") or evaluation.get("metric") or "score")
    return _template().render(
        title=f"AutoML run: {summary.get('name') or ''}",
        summary=_summary_section(summary),
        quality=_quality_section(_mapping(summary.get("data_quality"))),
        privacy=_privacy_section(_mapping(summary.get("privacy"))),
        board=_leaderboard_section(leaderboard),
        scores=_score_section(leaderboard, metric),
        ensemble=_ensemble_section(summary),
        importance=_importance_section(evaluation),
        evaluation=_evaluation_section(evaluation, metric),
        fairness=_fairness_section(evaluation, metric),
        robustness=_robustness_section(evaluation, metric),
    )


@functools.lru_cache(maxsize=1)
def _template() -> Any:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,  # every value (column names, messages, class labels) is escaped
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the tests, not silently blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html.j2")


# --- sections: each returns the template's values, with `absent` set when there is no data


def _summary_section(summary: Mapping[str, Any]) -> dict[str, Any]:
    params = summary.get("best_params")
    return {
        "absent": None,
        "facts": [(key, _fmt(summary[key])) for key in _SUMMARY_KEYS if summary.get(key) is not None],
        "notes": [str(note) for note in _list(summary.get("notes"))],
        "params": json.dumps(params, sort_keys=True, default=str) if params else None,
    }


def _quality_section(quality: Mapping[str, Any]) -> dict[str, Any]:
    if not quality:
        return {"absent": "No data-quality report was recorded for this run."}
    facts = _facts(
        quality,
        [
            ("n_rows", "rows"),
            ("n_columns", "columns"),
            ("sampled_rows", "rows examined"),
            ("duplicate_rows", "duplicate rows"),
            ("duplicate_share", "duplicate share"),
        ],
    )
    checks = _dicts(quality.get("checks"))
    columns = _dicts(quality.get("columns"))
    missing = sorted(
        ((str(c.get("name", "")), share) for c in columns if (share := _number(c.get("missing_share")))),
        key=lambda item: -item[1],
    )[:MAX_MISSING_BARS]
    balance = {
        str(label): value
        for label, share in _mapping(quality.get("class_balance")).items()
        if (value := _number(share)) is not None
    }
    return {
        "absent": None,
        "facts": facts,
        "checks": _table(
            checks,
            [("check", "check"), ("columns", "columns"), ("severity", "severity"), ("message", "message")],
            warn=lambda c: str(c.get("severity", "")).lower() in ("warning", "error"),
        ),
        "actions": [str(a) for a in _list(quality.get("actions"))],
        "columns": _table(
            columns,
            [
                ("name", "column"),
                ("kind", "kind"),
                ("missing_share", "missing share"),
                ("cardinality", "distinct values"),
                ("outlier_share", "outlier share"),
                ("note", "note"),
            ],
        ),
        "missing_plot": _bars(
            missing, title=f"Missing share per column (top {MAX_MISSING_BARS})", value_label="share of rows missing"
        ),
        "balance_plot": _bars(list(balance.items()), title="Class balance", value_label="share of rows"),
        "shift": _table(
            _dicts(quality.get("shift")),
            [
                ("column", "column"),
                ("test", "test"),
                ("statistic", "statistic"),
                ("p_value", "p-value"),
                ("psi", "PSI"),
                ("shifted", "shifted"),
            ],
            warn=lambda s: s.get("shifted") is True,
        ),
    }


def _privacy_section(privacy: Mapping[str, Any]) -> dict[str, Any]:
    if not privacy:
        return {"absent": "No personal-data check was recorded for this run."}
    return {
        "absent": None,
        "flagged": _table(
            _dicts(privacy.get("flagged")),
            [("column", "column"), ("kind", "looks like"), ("share", "share of values"), ("action", "action")],
        ),
        "dropped": [str(c) for c in _list(privacy.get("dropped"))],
        "hashed": [str(c) for c in _list(privacy.get("hashed"))],
    }


def _leaderboard_section(leaderboard: pd.DataFrame) -> dict[str, Any]:
    if leaderboard.empty:
        return {"absent": "The leaderboard is empty: no trial was recorded."}
    shown = leaderboard.head(LEADERBOARD_ROWS)
    columns = [c for c in shown.columns if c not in LEADERBOARD_HIDDEN]  # each trial's parameters: in the CSV
    shown = shown[columns]
    rows = [[_fmt(value) for value in record] for record in shown.itertuples(index=False, name=None)]
    return {
        "absent": None,
        "table": Table([str(c) for c in shown.columns], rows),
        "more": len(leaderboard) - len(shown),
    }


def _score_section(leaderboard: pd.DataFrame, metric: str) -> dict[str, Any]:
    if not {"status", "cv_score"} <= set(leaderboard.columns):
        return {"absent": "No finished trial."}
    done = leaderboard[leaderboard["status"] == TrialStatus.DONE.value].copy()
    done["cv_score"] = pd.to_numeric(done["cv_score"], errors="coerce")
    done = done[done["cv_score"].notna()]
    if done.empty:
        return {"absent": "No finished trial."}
    finished = pd.to_numeric(done["finished_s"], errors="coerce") if "finished_s" in done else None
    if finished is not None and finished.notna().all():
        done["x"], x_label = finished, "seconds into the search"
    else:  # an older leaderboard, or trials without a finish time: their start order
        done["x"] = pd.to_numeric(done["trial"], errors="coerce") if "trial" in done else range(1, len(done) + 1)
        x_label = "trial number"
    done = done.sort_values("x", kind="stable")
    try:
        greater_is_better = get_metric(metric).greater_is_better
    except AutoMLError:  # a metric this version does not know: assume a score
        greater_is_better = True
    plot = plots.score_over_time(
        [float(x) for x in done["x"]],
        [float(s) for s in done["cv_score"]],
        x_label=x_label,
        metric=metric,
        greater_is_better=greater_is_better,
    )
    return {"absent": None, "plot": plot, "count": len(done)}


def _ensemble_section(summary: Mapping[str, Any]) -> dict[str, Any]:
    members = _dicts(summary.get("ensemble_members"))
    if not members and not summary.get("ensemble_method"):
        return {"absent": "No final model was recorded for this run."}
    plotted = [
        (f"{m.get('model', '')} ({m.get('trial_id', '')})", weight)
        for m in members
        if (weight := _number(m.get("weight"))) is not None
    ]
    nested = _mapping(summary.get("ensemble_nested_scores"))
    return {
        "absent": None,
        "facts": _facts(
            summary,
            [
                ("ensemble_method", "method"),
                ("ensemble_requested", "requested"),
                ("ensemble_cv_score", f"score ({summary.get('ensemble_score_kind') or 'cv'})"),
                ("final_members", "members fitted as"),
                ("ensemble_reason", "why"),
            ],
        ),
        "nested": Table(["method", "nested-CV score"], [[str(k), _fmt(v, "n/a")] for k, v in nested.items()]),
        "members": _table(members, [("trial_id", "trial"), ("model", "model"), ("weight", "weight")]),
        "plot": _bars(plotted, title="Weights of the final model's members", value_label="weight"),
    }


def _importance_section(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    items = [
        (str(i.get("feature", "")), mean, _number(i.get("std")) or 0.0)
        for i in _dicts(evaluation.get("importance"))
        if (mean := _number(i.get("mean"))) is not None
    ]
    if not items:
        return {"absent": "No feature importance was computed for this run."}
    top = sorted(items, key=lambda item: -item[1])[:MAX_IMPORTANCE_BARS]
    plot = plots.bar_chart(
        [name for name, _, _ in top],
        [mean for _, mean, _ in top],
        errors=[std for _, _, std in top],
        title=f"Permutation importance (top {MAX_IMPORTANCE_BARS}, error bars: one standard deviation)",
        value_label="mean drop in score when the feature is shuffled",
    )
    return {"absent": None, "plot": plot, "shown": len(top), "of": len(items)}


def _evaluation_section(evaluation: Mapping[str, Any], metric: str) -> dict[str, Any]:
    if not evaluation:
        return {"absent": "The final model was not evaluated (the spec's evaluation is off, or an older run)."}
    source = evaluation.get("source")
    subsample = _mapping(evaluation.get("subsample"))
    metrics, baseline = _mapping(evaluation.get("metrics")), _mapping(evaluation.get("baseline"))
    names = list(dict.fromkeys([*metrics, *baseline]))
    job_metric = str(evaluation.get("metric") or metric)
    calibration = _mapping(evaluation.get("calibration"))
    return {
        "absent": None,
        "source": _SOURCES.get(str(source), str(source)) if source else None,
        "n_rows": _fmt(evaluation.get("n_rows"), "n/a"),
        "metric": job_metric,
        "subsample": (_fmt(subsample.get("rows"), "n/a"), _fmt(subsample.get("of"), "n/a")) if subsample else None,
        "notes": [str(n) for n in _list(evaluation.get("notes"))],
        "metrics": Table(
            ["metric", "final model", "baseline (dummy model)"],
            [[name, _fmt(metrics.get(name), "n/a"), _fmt(baseline.get(name), "n/a")] for name in names],
            warn={i for i, name in enumerate(names) if name == job_metric},
        ),
        "brier": _fmt(calibration.get("brier")) if calibration.get("brier") is not None else None,
        "reliability": _reliability_plot(calibration),
        "confusion": _confusion_plot(_mapping(evaluation.get("confusion"))),
        "residuals": _residual_plot(_mapping(evaluation.get("residuals"))),
    }


def _reliability_plot(calibration: Mapping[str, Any]) -> plots.Plot | None:
    points = [
        (p, o)
        for b in _dicts(calibration.get("curve"))
        if (p := _number(b.get("predicted"))) is not None and (o := _number(b.get("observed"))) is not None
    ]
    if not points:
        return None
    points.sort()
    return plots.reliability_curve(
        [p for p, _ in points], [o for _, o in points], brier=_number(calibration.get("brier"))
    )


def _confusion_plot(confusion: Mapping[str, Any]) -> dict[str, Any] | None:
    labels = [str(label) for label in _list(confusion.get("labels"))]
    matrix = [[_number(v) or 0.0 for v in _list(row)] for row in _list(confusion.get("matrix"))]
    if not labels or len(matrix) != len(labels) or any(len(row) != len(labels) for row in matrix):
        return None
    keep = list(range(len(labels)))
    if len(labels) > MAX_CONFUSION_LABELS:  # the most frequent true classes, in their order
        keep = sorted(sorted(keep, key=lambda i: -sum(matrix[i]))[:MAX_CONFUSION_LABELS])
    plot = plots.confusion_matrix([labels[i] for i in keep], [[matrix[i][j] for j in keep] for i in keep])
    return {"plot": plot, "shown": len(keep), "of": len(labels)}


def _residual_plot(residuals: Mapping[str, Any]) -> plots.Plot | None:
    pairs = [
        (p, a)
        for p_raw, a_raw in zip(_list(residuals.get("predicted")), _list(residuals.get("actual")), strict=False)
        if (p := _number(p_raw)) is not None and (a := _number(a_raw)) is not None
    ]
    if not pairs:
        return None
    return plots.residuals([p for p, _ in pairs], [a for _, a in pairs])


def _fairness_section(evaluation: Mapping[str, Any], metric: str) -> dict[str, Any]:
    fairness = _mapping(evaluation.get("fairness"))
    if not fairness:
        return {"absent": "No sensitive columns were given (evaluation.sensitive_features): no fairness check."}
    columns: list[dict[str, Any]] = []
    for column, entry in fairness.items():
        if not isinstance(entry, Mapping):  # e.g. a note why this column was not checked
            columns.append({"name": str(column), "note": _fmt(entry), "table": None, "facts": [], "plot": None})
            continue
        groups = _dicts(entry.get("groups"))
        keys = [k for k in dict.fromkeys(k for g in groups for k in g) if k not in ("group", "count")]
        plotted = next((k for k in (metric, "accuracy") if k in keys), None)
        plotted = plotted or next((k for k in keys if any(_number(g.get(k)) is not None for g in groups)), None)
        bars = [(str(g.get("group", "")), v) for g in groups if plotted and (v := _number(g.get(plotted))) is not None]
        columns.append(
            {
                "name": str(column),
                "note": _fmt(entry.get("note")) or None,
                "table": _table(groups, [("group", "group"), ("count", "rows"), *((k, k) for k in keys)]),
                "facts": _facts(
                    entry,
                    [
                        ("demographic_parity_difference", "demographic parity difference"),
                        ("equalized_odds_difference", "equalized odds difference"),
                    ],
                    none="n/a",
                ),
                "plot": _bars(bars, title=f"{plotted} per group of {column}", value_label=str(plotted)),
            }
        )
    return {"absent": None, "columns": columns}


def _robustness_section(evaluation: Mapping[str, Any], metric: str) -> dict[str, Any]:
    robustness = _mapping(evaluation.get("robustness"))
    if not robustness:
        return {"absent": "No robustness check was run."}
    clean = _number(robustness.get("score"))
    curves: dict[str, tuple[list[float], list[float]]] = {}
    rows = []
    for kind, label in (("noise", "noise"), ("missing", "missing values")):
        points = sorted(
            (rate, score)
            for p in _dicts(robustness.get(kind))
            if (rate := _number(p.get("rate"))) is not None and (score := _number(p.get("score"))) is not None
        )
        rows += [[label, _fmt(rate), _fmt(score)] for rate, score in points]
        if clean is not None and not any(rate == 0 for rate, _ in points):
            points.insert(0, (0.0, clean))  # the clean score is every curve's start
        if points:
            curves[label] = ([r for r, _ in points], [s for _, s in points])
    return {
        "absent": None,
        "clean": _fmt(clean, "n/a"),
        "points": Table(["perturbation", "rate", metric], rows),
        "plot": plots.rate_curves(curves, metric=metric, title="Score under perturbation") if curves else None,
        "slices": _table(
            _dicts(robustness.get("worst_slices")),
            [("feature", "feature"), ("value", "value"), ("count", "rows"), ("score", metric)],
        ),
    }


def _bars(bars: Sequence[tuple[str, float]], *, title: str, value_label: str) -> plots.Plot | None:
    """A bar chart of (label, value) pairs; None when there are none."""
    if not bars:
        return None
    return plots.bar_chart([b[0] for b in bars], [b[1] for b in bars], title=title, value_label=value_label)


# --- plain-value helpers: the summary is JSON written by some version; trust no shape


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in _list(value) if isinstance(item, Mapping)]


def _number(value: Any) -> float | None:
    """`value` as a finite float, or None (for None, NaN, text, booleans)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _facts(
    record: Mapping[str, Any], keys: Iterable[tuple[str, str]], none: str | None = None
) -> list[tuple[str, str]]:
    """(label, value) of each key present; with `none`, absent keys too, shown as `none`."""
    return [
        (label, _fmt(record.get(key), none or ""))
        for key, label in keys
        if none is not None or record.get(key) is not None
    ]


def _table(
    records: Sequence[Mapping[str, Any]],
    keys: Iterable[tuple[str, str]],
    warn: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Table:
    """A table of `records` with one column per (key, header); `warn(record)` highlights a row."""
    keys = list(keys)
    return Table(
        [header for _, header in keys],
        [[_fmt(record.get(key)) for key, _ in keys] for record in records],
        {i for i, record in enumerate(records) if warn is not None and warn(record)},
    )


def _fmt(value: Any, none: str = "") -> str:
    """A cell's text: `none` for None or NaN, 5 significant digits for a float."""
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return none
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


__all__ = ["render_report", "rebuild_report", "write_report"]
