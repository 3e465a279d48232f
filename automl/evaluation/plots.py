"""The run report's plots, each a PNG inlined as a data URI so the page needs no other file.

Figures are `matplotlib.figure.Figure` objects on their own Agg canvas, never pyplot's:
drawing a report changes no global backend, figure registry or rcParams of the process
(a notebook or a server that also plots). Every helper takes plain values (the report
reads them from `summary.json`) and returns a `Plot` with its `<img>` alt text.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

BLUE, RED, GREY = "#4a7dbd", "#d9534f", "#888888"
DPI = 100
#: longer axis labels are cut, so a long column name cannot squeeze the plot away
LABEL_CHARS = 40


@dataclass(frozen=True)
class Plot:
    """One figure: `src` is a `data:image/png;base64,...` URI, `alt` says what it shows."""

    alt: str
    src: str


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    value_label: str,
    errors: Sequence[float] | None = None,
) -> Plot:
    """Horizontal bars, the first label on top (with `errors`: error bars of that size)."""
    figure, axes = _figure(7.0, 1.0 + 0.3 * len(labels))
    positions = range(len(labels))
    axes.barh(positions, values, xerr=errors, color=BLUE, ecolor=GREY, capsize=3 if errors is not None else 0)
    axes.set_yticks(list(positions), [_short(label) for label in labels], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel(value_label)
    axes.set_title(title, fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    return _encode(figure, f"{title}: {len(labels)} bars")


def score_over_time(
    x: Sequence[float], scores: Sequence[float], *, x_label: str, metric: str, greater_is_better: bool
) -> Plot:
    """Each finished trial's score (dots, in `x` order) and the best score so far (a step line)."""
    best: list[float] = []
    for score in scores:
        best.append(score if not best else (max if greater_is_better else min)(best[-1], score))
    figure, axes = _figure(7.0, 3.2)
    axes.scatter(x, scores, s=14, color=BLUE, alpha=0.7, label="trial")
    axes.step(x, best, where="post", color=RED, linewidth=2, label="best so far")
    axes.set_xlabel(x_label)
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} ({'higher' if greater_is_better else 'lower'} is better)", fontsize=10)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return _encode(figure, f"best {metric} so far against {x_label}, {len(scores)} finished trials")


def reliability_curve(predicted: Sequence[float], observed: Sequence[float], *, brier: float | None) -> Plot:
    """Mean predicted probability against the observed frequency per bin, with the diagonal."""
    figure, axes = _figure(4.5, 4.5)
    axes.plot([0, 1], [0, 1], linestyle="--", color=GREY, label="perfectly calibrated")
    axes.plot(predicted, observed, marker="o", color=BLUE, label="model")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("mean predicted probability")
    axes.set_ylabel("observed frequency")
    axes.set_title("Reliability" + ("" if brier is None else f" (Brier {brier:.4g})"), fontsize=10)
    axes.legend(fontsize=8, loc="upper left")
    axes.grid(alpha=0.3)
    return _encode(figure, f"reliability curve over {len(predicted)} bins, against the diagonal")


def confusion_matrix(labels: Sequence[str], matrix: Sequence[Sequence[float]]) -> Plot:
    """A heatmap of counts, true class by row, predicted class by column, each cell's count written in it."""
    n = len(labels)
    side = min(3.0 + 0.35 * n, 12.0)
    figure, axes = _figure(side + 1.0, side)
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, shrink=0.8)
    short = [_short(label, 20) for label in labels]
    axes.set_xticks(range(n), short, rotation=90 if n > 6 else 0, fontsize=8)
    axes.set_yticks(range(n), short, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Confusion matrix (counts)", fontsize=10)
    peak = max((max(row) for row in matrix if len(row)), default=0) or 1
    font = 8 if n <= 12 else 6
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            colour = "white" if count > peak / 2 else "black"
            axes.text(j, i, f"{count:g}", ha="center", va="center", fontsize=font, color=colour)
    return _encode(figure, f"confusion matrix of {n} classes with the count in each cell")


def residuals(predicted: Sequence[float], actual: Sequence[float]) -> Plot:
    """Residual (actual minus predicted) against the prediction, with the zero line."""
    residual = [a - p for p, a in zip(predicted, actual, strict=True)]
    figure, axes = _figure(7.0, 3.5)
    axes.scatter(predicted, residual, s=8, color=BLUE, alpha=0.5)
    axes.axhline(0.0, color=RED, linewidth=1)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual - predicted")
    axes.set_title("Residuals", fontsize=10)
    axes.grid(alpha=0.3)
    return _encode(figure, f"residuals against predictions, {len(residual)} rows")


def rate_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, metric: str, title: str, x_label: str = "rate"
) -> Plot:
    """One line per curve (name -> (xs, scores)), score against the perturbation rate (or `x_label`)."""
    figure, axes = _figure(6.0, 3.5)
    for name, (rates, scores) in curves.items():
        axes.plot(rates, scores, marker="o", label=name)
    axes.set_xlabel(x_label)
    axes.set_ylabel(metric)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return _encode(figure, f"{title}: {metric} against the {x_label} for {', '.join(curves)}")


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    # imported here: a job imports the report module, and only writing the report needs matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # this figure's own canvas: no backend is selected for the process
    return figure, figure.add_subplot()


def _encode(figure: Figure, alt: str) -> Plot:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return Plot(alt=alt, src="data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))


def _short(label: str, limit: int = LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


__all__ = ["Plot", "bar_chart", "confusion_matrix", "rate_curves", "reliability_curve", "residuals", "score_over_time"]
