"""The benchmark's report: anytime curves, normalised scores and ranks over the budget, a
final table, Friedman tests with Nemenyi critical differences, and Wilcoxon tests against
the best strategy. Markdown (`report.md`, plots in `plots/`) and one self-contained HTML
page (`report.html`, plots inlined).

Statistics: a table is one block (its seeds averaged), as Demšar (2006) compares
algorithms over data sets; autorank runs the Friedman test and Nemenyi's critical
difference (it needs at least 5 tables), scipy the Wilcoxon signed-rank tests, Holm-adjusted.
The normalised score is 0 for a dummy model (class shares or the mean, on the same folds)
and 1 for the best score any strategy found on that table; before a run's first result it is 0.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.benchmark.runs import META, TRACE
from automl.files import atomic_write

#: points of the budget the anytime curves are read at
GRID_POINTS = 101
#: shares of the budget the statistical tests are run at
TEST_FRACTIONS = (0.25, 0.5, 1.0)
#: autorank's floor: fewer tables give no Friedman test
MIN_TABLES_FOR_FRIEDMAN = 5
ALPHA = 0.05


@dataclass
class Runs:
    """Every finished run of a benchmark directory, read once."""

    meta: pd.DataFrame  # one row per run
    traces: dict[tuple[str, str, int], pd.DataFrame]
    budget: float  # seconds, or trials
    by_trials: bool

    @property
    def strategies(self) -> list[str]:
        return list(dict.fromkeys(self.meta["strategy"]))

    @property
    def tables(self) -> list[str]:
        return list(dict.fromkeys(self.meta["table"]))


def load_runs(root: Path) -> Runs:
    """The finished runs under `root/runs` (a run without `meta.json` is not finished)."""
    metas, traces = [], {}
    for meta_path in sorted((root / "runs").glob(f"*/*/seed-*/{META}")):
        meta = json.loads(meta_path.read_text())
        metas.append(meta)
        traces[(meta["table"], meta["strategy"], int(meta["seed"]))] = pd.read_parquet(meta_path.parent / TRACE)
    if not metas:
        raise FileNotFoundError(f"{root}: no finished runs")
    frame = pd.DataFrame(metas)
    settings = metas[0]["settings"]
    by_trials = settings.get("time_budget_s") is None
    budget = float(settings["max_trials"] if by_trials else settings["time_budget_s"])
    order = _plan_order(root)
    if order:
        frame["_t"] = frame["table"].map({t: i for i, t in enumerate(order[0])})
        frame["_s"] = frame["strategy"].map({s: i for i, s in enumerate(order[1])})
        frame = frame.sort_values(["_t", "_s", "seed"]).drop(columns=["_t", "_s"]).reset_index(drop=True)
    return Runs(frame, traces, budget, by_trials)


def _plan_order(root: Path) -> tuple[list[str], list[str]] | None:
    plan = root / "benchmark.json"
    if not plan.is_file():
        return None
    raw = json.loads(plan.read_text())
    return [t["name"] for t in raw.get("tables", [])], list(raw.get("strategies", []))


def anytime(runs: Runs, grid: np.ndarray) -> pd.DataFrame:
    """Best score so far of every run at each grid point (seconds or trials): columns
    table, strategy, seed, x, best (NaN before the run's first result), normalised."""
    parts = []
    best_any = _best_per_table(runs)
    for (table, strategy, seed), trace in runs.traces.items():
        meta = runs.meta[(runs.meta["table"] == table) & (runs.meta["strategy"] == strategy)].iloc[0]
        done = trace[trace["status"] == "done"]
        x = (done["trial"].to_numpy() + 1.0) if runs.by_trials else done["time_s"].to_numpy(dtype=float)
        best = done["best_so_far"].to_numpy(dtype=float)
        position = np.searchsorted(x, grid, side="right") - 1
        values = np.where(position >= 0, best[np.clip(position, 0, None)] if len(best) else np.nan, np.nan)
        norm = _normalise(values, float(meta["dummy_score"]), best_any[table], bool(meta["greater_is_better"]))
        parts.append(
            pd.DataFrame(
                {"table": table, "strategy": strategy, "seed": seed, "x": grid, "best": values, "normalised": norm}
            )
        )
    return pd.concat(parts, ignore_index=True)


def _best_per_table(runs: Runs) -> dict[str, float]:
    best = {}
    for table, group in runs.meta.groupby("table", sort=False):
        values = group["best"].dropna().astype(float)
        greater = bool(group["greater_is_better"].iloc[0])
        best[str(table)] = float(values.max() if greater else values.min()) if len(values) else math.nan
    return best


def _normalise(values: np.ndarray, dummy: float, best: float, greater: bool) -> np.ndarray:
    """0 at the dummy's score, 1 at the best any strategy found; 0 before a first result."""
    span = (best - dummy) if greater else (dummy - best)
    if not math.isfinite(span) or span <= 0:
        out = np.where(np.isnan(values), 0.0, 1.0)
    else:
        out = ((values - dummy) if greater else (dummy - values)) / span
    return np.where(np.isnan(values), 0.0, out)


def ranks_over_time(curves: pd.DataFrame, runs: Runs) -> pd.DataFrame:
    """Each strategy's rank (1 = best, ties averaged, no result yet = last) per table and
    seed at each grid point, averaged over them: columns x, strategy, rank."""
    greater = runs.meta.groupby("table")["greater_is_better"].first().to_dict()
    frame = curves.copy()
    frame["goodness"] = np.where(frame["table"].map(greater).astype(bool), frame["best"], -frame["best"])
    frame["goodness"] = frame["goodness"].fillna(-np.inf)
    frame["rank"] = frame.groupby(["table", "seed", "x"])["goodness"].rank(ascending=False, method="average")
    return frame.groupby(["x", "strategy"], sort=False)["rank"].mean().reset_index()


def final_table(runs: Runs) -> pd.DataFrame:
    """Per table and strategy: the final best score's mean and std over seeds, the
    normalised score, configurations evaluated, time to the first result."""
    best_any = _best_per_table(runs)
    rows = []
    for (table, strategy), group in runs.meta.groupby(["table", "strategy"], sort=False):
        scores = group["best"].astype(float)
        norm = _normalise(
            scores.to_numpy(),
            float(group["dummy_score"].iloc[0]),
            best_any[str(table)],
            bool(group["greater_is_better"].iloc[0]),
        )
        first = [_first_result(runs.traces[(str(table), str(strategy), int(seed))]) for seed in group["seed"]]
        rows.append(
            {
                "table": table,
                "metric": group["metric"].iloc[0],
                "strategy": strategy,
                "seeds": len(group),
                "mean": scores.mean(),
                "std": scores.std(ddof=1) if scores.notna().sum() > 1 else 0.0,
                "models": int(scores.notna().sum()),
                "normalised": float(np.mean(norm)),
                "evaluated": float(group["done"].mean()),
                "first_result_s": float(np.nanmean(first)) if not all(np.isnan(first)) else math.nan,
                "dummy": float(group["dummy_score"].iloc[0]),
            }
        )
    return pd.DataFrame(rows)


def _first_result(trace: pd.DataFrame) -> float:
    done = trace[trace["status"] == "done"]
    return float(done["time_s"].min()) if len(done) else math.nan


def fallback_table(runs: Runs) -> pd.DataFrame:
    """Per strategy: how it meets the space, and the share of its parameters chosen one at
    a time (at random, for strategies whose independent sampling is random)."""
    rows = []
    for strategy, group in runs.meta.groupby("strategy", sort=False):
        relative = sum(int(s.get("relative", 0)) for s in group["sampled"])
        independent = sum(int(s.get("independent", 0)) for s in group["sampled"])
        total = relative + independent
        fallback = bool(group["random_fallback"].iloc[0])
        rows.append(
            {
                "strategy": strategy,
                "modelled": relative / total if total else math.nan,
                "random_fallback": (independent / total if total else math.nan) if fallback else 0.0,
                "scheduler": bool(group["scheduler"].iloc[0]),
                "space": group["space"].iloc[0],
            }
        )
    return pd.DataFrame(rows)


def block_scores(curves: pd.DataFrame, runs: Runs, fraction: float) -> pd.DataFrame:
    """Tables x strategies: the normalised score at `fraction` of the budget, seeds averaged."""
    x = _grid(runs)[int(round(fraction * (GRID_POINTS - 1)))]
    at = curves[np.isclose(curves["x"], x)]
    table = at.groupby(["table", "strategy"], sort=False)["normalised"].mean().unstack("strategy")
    return table.reindex(columns=runs.strategies)


@dataclass
class Tests:
    fraction: float
    friedman_p: float | None = None
    critical_difference: float | None = None
    mean_ranks: dict[str, float] | None = None
    wilcoxon: pd.DataFrame | None = None  # strategy, p, p_holm, against
    note: str = ""
    figure: Any = None  # the CD diagram (a matplotlib figure)


def run_tests(scores: pd.DataFrame, fraction: float) -> Tests:
    """Friedman + Nemenyi (autorank) and Wilcoxon against the best, over tables as blocks."""
    from scipy import stats

    tests = Tests(fraction)
    scores = scores.dropna(axis=1, how="all").fillna(0.0)
    if scores.shape[1] < 2:
        tests.note = "one strategy: nothing to compare"
        return tests
    ranks = scores.rank(axis=1, ascending=False).mean()
    tests.mean_ranks = {str(k): float(v) for k, v in ranks.items()}
    best = str(ranks.idxmin())
    rows = []
    for strategy in scores.columns:
        if strategy == best:
            continue
        difference = scores[best] - scores[strategy]
        p = math.nan
        if len(scores) >= 2 and np.any(difference != 0):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = float(stats.wilcoxon(scores[best], scores[strategy], zero_method="zsplit").pvalue)
        rows.append({"strategy": strategy, "against": best, "p": p})
    wilcoxon = pd.DataFrame(rows, columns=["strategy", "against", "p"])
    wilcoxon["p_holm"] = _holm(wilcoxon["p"].to_numpy())
    tests.wilcoxon = wilcoxon
    if len(scores) < MIN_TABLES_FOR_FRIEDMAN or scores.shape[1] < 3:
        tests.note = (
            f"{len(scores)} tables and {scores.shape[1]} strategies: a Friedman test needs at least "
            f"{MIN_TABLES_FOR_FRIEDMAN} tables and 3 strategies"
        )
        return tests
    import matplotlib.pyplot as plt
    from autorank import autorank, plot_stats

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # it prints its tables
        warnings.simplefilter("ignore")
        result = autorank(scores, alpha=ALPHA, verbose=False, order="descending", force_mode="nonparametric")
        tests.friedman_p = float(result.pvalue)
        tests.critical_difference = None if result.cd is None else float(result.cd)
        figure, axis = plt.subplots(figsize=(7, 2.6))
        plot_stats(result, allow_insignificant=True, ax=axis)
        axis.set_title(f"critical differences at {fraction:.0%} of the budget (Nemenyi, alpha {ALPHA})", fontsize=9)
        tests.figure = figure
    return tests


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment (NaN stays NaN)."""
    out = np.full(len(p), np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid])]
    running = 0.0
    for position, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - position) * p[index]))
        out[index] = running
    return out


def _grid(runs: Runs) -> np.ndarray:
    return np.linspace(0.0, runs.budget, GRID_POINTS)


def write_report(root: str | Path) -> Path:
    """Write `report.md`, `report.html`, `final.csv` and the plots; return the HTML's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = Path(root)
    runs = load_runs(root)
    grid = _grid(runs)
    curves = anytime(runs, grid)
    final = final_table(runs)
    final.to_csv(root / "final.csv", index=False)
    plots = root / "plots"
    plots.mkdir(exist_ok=True)
    figures: list[tuple[str, str, Any]] = []  # (file name, caption, figure)
    unit = "trials" if runs.by_trials else "s"
    for table in runs.tables:
        figures.append(
            (
                f"anytime-{_slug(table)}.png",
                f"{table}: best score so far (mean over seeds, 95% interval)",
                _anytime_figure(curves[curves["table"] == table], runs, table, unit),
            )
        )
    figures.append(
        (
            "normalised.png",
            "normalised score over the budget, averaged over tables",
            _line_figure(
                curves.groupby(["x", "strategy"], sort=False)["normalised"].mean().reset_index(),
                "normalised",
                runs,
                "normalised score (0 dummy, 1 best found)",
            ),
        )
    )
    figures.append(
        (
            "ranks.png",
            "average rank over the budget (1 = best), over tables and seeds",
            _line_figure(ranks_over_time(curves, runs), "rank", runs, "average rank", invert=True),
        )
    )
    tests = [run_tests(block_scores(curves, runs, f), f) for f in TEST_FRACTIONS]
    for test in tests:
        if test.figure is not None:
            figures.append(
                (f"cd-{int(test.fraction * 100)}.png", f"critical differences at {test.fraction:.0%}", test.figure)
            )
    images = {}
    for name, _, figure in figures:
        figure.savefig(plots / name, dpi=110, bbox_inches="tight")
        images[name] = base64.b64encode((plots / name).read_bytes()).decode()
        plt.close(figure)
    sections = _sections(runs, final, fallback_table(runs), tests, figures)
    atomic_write(root / "report.md", _markdown(sections))
    atomic_write(root / "report.html", _html(sections, images))
    return root / "report.html"


def _anytime_figure(curves: pd.DataFrame, runs: Runs, table: str, unit: str) -> Any:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 3.6))
    for strategy in runs.strategies:
        group = curves[curves["strategy"] == strategy]
        if group.empty:
            continue
        wide = group.pivot_table(index="x", columns="seed", values="best", aggfunc="first")
        complete = wide.dropna()  # from the point every seed has a result
        if complete.empty:
            continue
        mean = complete.mean(axis=1)
        axis.plot(mean.index, mean.to_numpy(), label=strategy)
        if complete.shape[1] > 1:
            half = _t95(complete.shape[1]) * complete.std(axis=1, ddof=1) / math.sqrt(complete.shape[1])
            axis.fill_between(mean.index, (mean - half).to_numpy(), (mean + half).to_numpy(), alpha=0.15)
    metric = runs.meta[runs.meta["table"] == table]["metric"].iloc[0]
    axis.set_xlabel(f"{'trials' if unit == 'trials' else 'search time (s)'}")
    axis.set_ylabel(f"best {metric} so far")
    axis.set_title(table, pad=24)  # above the "% of budget" axis
    budget = runs.budget
    top = axis.secondary_xaxis(
        "top", functions=(lambda x: np.asarray(x) * (100 / budget), lambda p: np.asarray(p) * (budget / 100))
    )
    top.set_xlabel("% of budget", fontsize=8)
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3)
    return figure


def _line_figure(frame: pd.DataFrame, column: str, runs: Runs, label: str, invert: bool = False) -> Any:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 3.6))
    for strategy in runs.strategies:
        group = frame[frame["strategy"] == strategy]
        axis.plot(100 * group["x"] / runs.budget, group[column], label=strategy)
    axis.set_xlabel("% of budget")
    axis.set_ylabel(label)
    if invert:
        axis.invert_yaxis()
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3)
    return figure


def _t95(n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1))


def _sections(
    runs: Runs, final: pd.DataFrame, fallback: pd.DataFrame, tests: list[Tests], figures: list[tuple[str, str, Any]]
) -> list[tuple[str, str, Any]]:
    """(kind, title, content) in reading order: the Markdown and HTML writers render them."""
    settings = runs.meta["settings"].iloc[0]
    budget = f"{runs.budget:g} {'trials' if runs.by_trials else 's'}"
    seeds = int(runs.meta.groupby(["table", "strategy"]).size().max())
    shares = sorted(set(float(c) for c in runs.meta["cpu_share"]))
    intro = (
        f"{len(runs.tables)} tables x {len(runs.strategies)} strategies x {seeds} seeds, {budget} per run, "
        f"{settings['cv_folds']}-fold CV (the same folds for every run of a table), CPU share per run: "
        f"{', '.join(f'{c:g}' for c in shares)}. Portfolio: {'on' if settings['portfolio'] else 'off (cold start)'}; "
        f"early stopping of boosting: {'on' if settings['early_stopping'] else 'off (rounds are searched)'}."
    )
    sections: list[tuple[str, str, Any]] = [("text", "Benchmark of search strategies", intro)]
    wide = final.pivot_table(index=["table", "metric"], columns="strategy", values="mean", sort=False)
    std = final.pivot_table(index=["table", "metric"], columns="strategy", values="std", sort=False)
    models = final.pivot_table(index=["table", "metric"], columns="strategy", values="models", sort=False)
    seeds_of = final.pivot_table(index=["table", "metric"], columns="strategy", values="seeds", sort=False)
    cells = wide.copy().astype(object)
    for column in wide.columns:
        cells[column] = [
            _mean_cell(m, s, n, k)
            for m, s, n, k in zip(wide[column], std[column], models[column], seeds_of[column], strict=True)
        ]
    cells = cells.reindex(columns=runs.strategies).reset_index()
    summary = final.groupby("strategy", sort=False)[["normalised", "evaluated", "first_result_s"]].mean()
    final_ranks = next((t.mean_ranks for t in tests if t.fraction == 1.0), None) or {}
    summary["mean rank"] = pd.Series(final_ranks)
    sections.append(("table", "Final scores (mean ± std over seeds)", cells))
    sections.append(("table", "Per strategy, over tables", summary.reindex(runs.strategies).reset_index()))
    for test in tests:
        lines = [f"at {test.fraction:.0%} of the budget:"]
        if test.mean_ranks:
            lines.append(
                "mean ranks "
                + ", ".join(f"{k} {v:.2f}" for k, v in sorted(test.mean_ranks.items(), key=lambda kv: kv[1]))
            )
        if test.friedman_p is not None:
            lines.append(
                f"Friedman p = {test.friedman_p:.3g}; Nemenyi critical difference = "
                f"{test.critical_difference:.2f} ranks"
            )
        if test.note:
            lines.append(test.note)
        sections.append(("text", f"Tests at {test.fraction:.0%}", " ".join(lines[:1]) + " " + "; ".join(lines[1:])))
        if test.wilcoxon is not None and len(test.wilcoxon):
            sections.append(
                ("table", f"Wilcoxon signed-rank against the best at {test.fraction:.0%} (Holm)", test.wilcoxon)
            )
    sections.append(("table", "How each strategy meets the conditional space", fallback))
    for name, caption, _ in figures:
        sections.append(("image", caption, name))
    return sections


def _mean_cell(mean: float, std: float, models: float, seeds: float) -> str:
    """mean ± std over the seeds that found a model, and how many did when not all."""
    if not models:
        return "no model"
    text = f"{mean:.4f} ± {0.0 if pd.isna(std) else std:.4f}"
    return text if models == seeds else f"{text} ({int(models)} of {int(seeds)} seeds with a model)"


def _markdown(sections: list[tuple[str, str, Any]]) -> str:
    out = []
    for kind, title, content in sections:
        if kind == "text":
            out += [f"## {title}", "", str(content), ""]
        elif kind == "table":
            out += [f"### {title}", "", _markdown_table(content), ""]
        else:
            out += [f"![{title}](plots/{content})", ""]
    return "\n".join(out)


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value).replace("|", "/")


def _html(sections: list[tuple[str, str, Any]], images: dict[str, str]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Benchmark of search strategies</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}table{border-collapse:collapse;"
        "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
        "td:first-child{text-align:left}img{max-width:100%}</style></head><body>",
    ]
    for kind, title, content in sections:
        if kind == "text":
            parts.append(f"<h2>{html.escape(title)}</h2><p>{html.escape(str(content))}</p>")
        elif kind == "table":
            header = "".join(f"<th>{html.escape(str(c))}</th>" for c in content.columns)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                for row in content.itertuples(index=False)
            )
            parts.append(f"<h3>{html.escape(title)}</h3><table><tr>{header}</tr>{rows}</table>")
        else:
            parts.append(
                f"<figure><img alt='{html.escape(title)}' src='data:image/png;base64,{images[content]}'>"
                f"<figcaption>{html.escape(title)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "".join(parts)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
