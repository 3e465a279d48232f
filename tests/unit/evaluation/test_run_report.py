"""The run report (`automl.evaluation.report`): sections, inlined plots, escaping, rebuild."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tables import REPORT_SECTIONS as SECTIONS

from automl.cli import main
from automl.errors import DataError
from automl.evaluation import report
from automl.evaluation.plots import Plot
from automl.evaluation.report import rebuild_report, render_report, write_report

#: sections whose data an old summary (before data quality and evaluation) lacks
NEW_SECTIONS = ("data-quality", "privacy", "ensemble", "feature-importance", "evaluation", "fairness", "robustness")


def full_summary() -> dict[str, Any]:
    """A binary classification run with every section's data."""
    return {
        "name": "unit-report",
        "task": "binary",
        "metric": "roc_auc",
        "best_model": "lightgbm",
        "best_cv_score": 0.91,
        "ensemble_method": "selection",
        "ensemble_requested": "selection",
        "ensemble_cv_score": 0.92,
        "ensemble_score_kind": "nested cv",
        "ensemble_reason": "selection beat the best trial by 0.01 in nested CV",
        "ensemble_nested_scores": {"selection": 0.92, "stacking": 0.915, "best": 0.91},
        "ensemble_members": [
            {"trial_id": "t1", "model": "lightgbm", "weight": 0.6},
            {"trial_id": "t2", "model": "random_forest", "weight": 0.4},
        ],
        "n_trials": 3,
        "n_failed": 1,
        "n_rows": 200,
        "n_features": 4,
        "wall_s": 12.5,
        "best_params": {"num_leaves": 31},
        "notes": ["dropped column id: an identifier"],
        "data_quality": {
            "n_rows": 200,
            "n_columns": 5,
            "sampled_rows": 200,
            "duplicate_rows": 2,
            "duplicate_share": 0.01,
            "columns": [
                {"name": "age", "kind": "numeric", "missing_share": 0.1, "cardinality": 50, "outlier_share": 0.02},
                {"name": "<script>", "kind": "categorical", "missing_share": 0.0, "cardinality": 3, "note": None},
            ],
            "class_balance": {"no": 0.7, "yes": 0.3},
            "checks": [
                {"check": "missing", "columns": ["age"], "severity": "warning", "message": "age is 10% missing"},
                {"check": "duplicates", "columns": [], "severity": "info", "message": "2 duplicate rows"},
            ],
            "shift": [{"column": "age", "test": "ks", "statistic": 0.3, "p_value": 0.001, "psi": 0.2, "shifted": True}],
            "actions": ["imputed age with its median"],
        },
        "privacy": {
            "flagged": [{"column": "email", "kind": "email", "share": 0.98, "action": "dropped"}],
            "dropped": ["email"],
            "hashed": [],
        },
        "evaluation": {
            "source": "out_of_fold",
            "n_rows": 200,
            "metric": "roc_auc",
            "metrics": {"roc_auc": 0.92, "accuracy": 0.85},
            "baseline": {"roc_auc": 0.5, "accuracy": 0.7},
            "calibration": {
                "brier": 0.11,
                "curve": [
                    {"predicted": 0.1, "observed": 0.12, "count": 80},
                    {"predicted": 0.5, "observed": 0.45, "count": 40},
                    {"predicted": 0.9, "observed": 0.88, "count": 80},
                ],
            },
            "confusion": {"labels": ["no", "yes"], "matrix": [[130, 10], [20, 40]]},
            "residuals": None,
            "subsample": {"rows": 200, "of": 250},
            "notes": ["importance on 200 rows"],
            "importance": [
                {"feature": "age", "mean": 0.05, "std": 0.01},
                {"feature": "<script>", "mean": 0.02, "std": None},
            ],
            "fairness": {
                "sex": {
                    "groups": [
                        {"group": "f", "count": 90, "roc_auc": 0.9, "accuracy": 0.84},
                        {"group": "m", "count": 110, "roc_auc": 0.93, "accuracy": 0.86},
                    ],
                    "demographic_parity_difference": 0.05,
                    "equalized_odds_difference": None,
                }
            },
            "robustness": {
                "score": 0.92,
                "noise": [{"rate": 0.1, "score": 0.9}, {"rate": 0.3, "score": 0.85}],
                "missing": [{"rate": 0.1, "score": 0.91}, {"rate": 0.3, "score": 0.88}],
                "worst_slices": [{"feature": "age", "value": "(60, 90]", "count": 20, "score": 0.7}],
            },
        },
    }


def leaderboard(with_times: bool = True) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "rank": [1, 2, None],
            "trial": [2, 1, 3],
            "trial_id": ["t1", "t2", "t3"],
            "model": ["lightgbm", "random_forest", "knn"],
            "status": ["done", "done", "failed"],
            "cv_score": [0.91, 0.88, None],
            "params": ["{}", "{}", "{}"],
            "error": ["", "", "ValueError: <b>bad</b>"],
        }
    )
    if with_times:
        frame["finished_s"] = [3.5, 1.2, None]
    return frame


@pytest.fixture(scope="module")
def page() -> str:
    """The full summary's page, rendered once (each render draws every plot)."""
    return render_report(full_summary(), leaderboard())


def _section(page: str, section: str) -> str:
    match = re.search(rf'<section id="{section}">(.*?)</section>', page, flags=re.S)
    assert match, section
    return match.group(1)


def test_every_section_is_present_in_order_with_a_heading(page):
    positions = [page.index(f'<section id="{s}">') for s in SECTIONS]
    assert positions == sorted(positions)
    for section in SECTIONS:
        assert "<h2>" in _section(page, section)
        assert 'class="absent"' not in _section(page, section).split("<h3>")[0], section


@pytest.mark.parametrize(
    ("section", "plots"),
    [
        ("data-quality", 2),  # missing share, class balance
        ("score-over-time", 1),
        ("ensemble", 1),
        ("feature-importance", 1),
        ("evaluation", 2),  # reliability, confusion (no residuals: classification)
        ("fairness", 1),
        ("robustness", 1),
    ],
)
def test_each_plot_is_an_embedded_png_with_alt_text(page, section, plots):
    body = _section(page, section)
    images = re.findall(r"<img [^>]*>", body)
    assert len(images) == plots
    for image in images:
        assert 'src="data:image/png;base64,iVBOR' in image  # the PNG signature, base64
        assert re.search(r'alt="[^"]+"', image)


def test_a_regression_run_gets_a_residual_plot():
    summary = full_summary()
    summary["evaluation"].update(
        calibration=None, confusion=None, residuals={"predicted": [1.0, 2.0, 3.0], "actual": [1.5, 1.8, None]}
    )
    body = _section(render_report(summary, leaderboard()), "evaluation")
    assert body.count("data:image/png;base64,") == 1
    assert "No calibration curve" in body and "Residuals" in body


def test_the_page_is_self_contained(page):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.replace("&lt;script&gt;", "")
    assert "<link" not in page


def test_values_are_escaped(page):
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "&lt;b&gt;bad&lt;/b&gt;" in page


def test_an_old_summary_without_the_new_keys_renders_and_says_what_is_absent():
    summary = {k: v for k, v in full_summary().items() if k in ("name", "task", "metric", "best_model", "n_trials")}
    page = render_report(summary, leaderboard(with_times=False))
    for section in NEW_SECTIONS:
        assert 'class="absent"' in _section(page, section), section
    assert "No sensitive columns were given" in _section(page, "fairness")
    assert "against trial number" in _section(page, "score-over-time")


def test_none_everywhere_does_not_crash():
    summary = full_summary()
    summary["data_quality"] = {key: None for key in summary["data_quality"]}
    summary["privacy"] = {"flagged": None}
    summary["ensemble_members"] = [{"trial_id": None, "model": None, "weight": None}]
    summary["evaluation"] = {key: None for key in summary["evaluation"]} | {"source": "test"}
    page = render_report(summary, pd.DataFrame())
    assert "the test table" in _section(page, "evaluation")
    assert "The leaderboard is empty" in page
    assert "No finished trial" in _section(page, "score-over-time")


def test_the_x_axis_is_seconds_when_the_leaderboard_has_finish_times(page):
    body = _section(page, "score-over-time")
    assert "seconds into the search" in body


def test_a_confusion_matrix_keeps_the_30_most_frequent_classes(monkeypatch):
    drawn: list[list[str]] = []

    def confusion_matrix(labels, matrix):  # records what would be drawn: 900 cells take seconds
        drawn.append(list(labels))
        assert len(matrix) == len(labels) and all(len(row) == len(labels) for row in matrix)
        return Plot(alt="confusion", src="data:image/png;base64,")

    monkeypatch.setattr(report.plots, "confusion_matrix", confusion_matrix)
    summary = full_summary()
    summary["evaluation"]["confusion"] = {
        "labels": [f"c{i}" for i in range(32)],
        "matrix": [[i + 1 if i == j else 0 for j in range(32)] for i in range(32)],  # c31 most frequent
    }
    body = _section(render_report(summary, leaderboard()), "evaluation")
    assert "The 30 most frequent of 32 classes" in body
    assert drawn == [[f"c{i}" for i in range(2, 32)]]  # c0 and c1 are the rarest, the order is kept


def test_rebuilding_from_the_run_directory_gives_the_page_again(tmp_path: Path):
    summary = {k: v for k, v in full_summary().items() if k != "evaluation"}  # fewer plots to draw
    written = write_report(tmp_path, summary, leaderboard()).read_text()
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    leaderboard().to_csv(tmp_path / "leaderboard.csv", index=False)
    (tmp_path / "report.html").unlink()
    path = rebuild_report(tmp_path)
    assert path == tmp_path / "report.html"
    assert _text(path.read_text()) == _text(written)


def _text(page: str) -> str:
    """The page without its images (PNG bytes may differ between renders)."""
    return re.sub(r"base64,[^\"]+", "", page)


def test_rebuild_without_a_summary_is_a_typed_error(tmp_path: Path):
    with pytest.raises(DataError, match="no summary.json"):
        rebuild_report(tmp_path)
    with pytest.raises(DataError, match="no such directory"):
        rebuild_report(tmp_path / "missing")
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(DataError, match="cannot read"):
        rebuild_report(tmp_path)


def test_the_cli_prints_the_path_or_one_line_and_exit_code_2(tmp_path: Path, capsys):
    (tmp_path / "summary.json").write_text(json.dumps(full_summary()))
    leaderboard().to_csv(tmp_path / "leaderboard.csv", index=False)
    assert main(["report", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "report.html")
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "not a run directory" in err


def test_drawing_leaves_matplotlib_global_state_alone():
    import sys

    import matplotlib

    def settings() -> dict[str, Any]:  # read raw: reading "backend" through rcParams would resolve it
        return {key: dict.__getitem__(matplotlib.rcParams, key) for key in dict.keys(matplotlib.rcParams)}

    before = settings()
    figures = sys.modules["matplotlib.pyplot"].get_fignums() if "matplotlib.pyplot" in sys.modules else None
    summary = {"metric": "rmse", "evaluation": {"residuals": {"predicted": [1.0, 2.0], "actual": [1.2, 1.9]}}}
    assert "data:image/png;base64," in render_report(summary, leaderboard())
    assert settings() == before  # the backend too: still what it was (unresolved, or the user's choice)
    if figures is not None:  # pyplot was loaded by someone else: no figure of ours is left in it
        assert sys.modules["matplotlib.pyplot"].get_fignums() == figures
