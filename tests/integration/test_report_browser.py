"""The run report in a real browser: headless Chromium renders every section and its plots.

Without Chromium the test is skipped, except in CI (`CI=true`, which `.ci/run` sets after
installing Debian's chromium), where a missing browser is a failure, not a silent skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tables import REPORT_SECTIONS as SECTIONS

from automl.evaluation.report import write_report

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: the plots' bar and dot colour (automl.evaluation.plots.BLUE), as RGB in [0, 1]
PLOT_BLUE = np.array([0x4A, 0x7D, 0xBD]) / 255


def _summary() -> dict[str, Any]:
    """A binary classification run with the data of every section."""
    features = ["age", "income", "hours", "<script>alert(1)</script>"]
    return {
        "name": "browser-check",
        "task": "binary",
        "metric": "roc_auc",
        "best_model": "lightgbm",
        "best_cv_score": 0.91,
        "ensemble_method": "selection",
        "ensemble_cv_score": 0.92,
        "ensemble_score_kind": "nested cv",
        "ensemble_reason": "selection beat the best trial in nested CV",
        "ensemble_nested_scores": {"selection": 0.92, "best": 0.91},
        "ensemble_members": [
            {"trial_id": "t1", "model": "lightgbm", "weight": 0.7},
            {"trial_id": "t4", "model": "extra_trees", "weight": 0.3},
        ],
        "n_trials": 8,
        "n_failed": 1,
        "notes": ["dropped column email: personal data"],
        "data_quality": {
            "n_rows": 500,
            "n_columns": 6,
            "sampled_rows": 500,
            "duplicate_rows": 3,
            "duplicate_share": 0.006,
            "columns": [
                {"name": name, "kind": "numeric", "missing_share": share, "cardinality": 40, "outlier_share": 0.01}
                for name, share in zip(features, [0.2, 0.05, 0.0, 0.1], strict=True)
            ],
            "class_balance": {"<=50K": 0.76, ">50K": 0.24},
            "checks": [{"check": "missing", "columns": ["age"], "severity": "warning", "message": "age: 20% missing"}],
            "shift": [],
            "actions": ["imputed missing values with the median"],
        },
        "privacy": {
            "flagged": [{"column": "email", "kind": "email", "share": 1.0, "action": "dropped"}],
            "dropped": ["email"],
            "hashed": [],
        },
        "evaluation": {
            "source": "test",
            "n_rows": 500,
            "metric": "roc_auc",
            "metrics": {"roc_auc": 0.92, "accuracy": 0.86, "log_loss": 0.31},
            "baseline": {"roc_auc": 0.5, "accuracy": 0.76, "log_loss": 0.55},
            "calibration": {
                "brier": 0.1,
                "curve": [
                    {"predicted": p, "observed": p * 0.9 + 0.05, "count": 50} for p in np.linspace(0.05, 0.95, 10)
                ],
            },
            "confusion": {"labels": ["<=50K", ">50K"], "matrix": [[360, 20], [50, 70]]},
            "residuals": None,
            "subsample": None,
            "notes": [],
            "importance": [{"feature": f, "mean": 0.1 / (i + 1), "std": 0.01} for i, f in enumerate(features)],
            "fairness": {
                "sex": {
                    "groups": [
                        {"group": "female", "count": 170, "roc_auc": 0.9, "accuracy": 0.88},
                        {"group": "male", "count": 330, "roc_auc": 0.93, "accuracy": 0.85},
                    ],
                    "demographic_parity_difference": 0.12,
                    "equalized_odds_difference": 0.08,
                }
            },
            "robustness": {
                "score": 0.92,
                "noise": [{"rate": 0.1, "score": 0.9}, {"rate": 0.3, "score": 0.84}],
                "missing": [{"rate": 0.1, "score": 0.91}, {"rate": 0.3, "score": 0.87}],
                "worst_slices": [{"feature": "age", "value": "(60, 90]", "count": 40, "score": 0.71}],
            },
        },
    }


def _leaderboard() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 8
    return pd.DataFrame(
        {
            "rank": range(1, n + 1),
            "trial": rng.permutation(n) + 1,
            "trial_id": [f"t{i}" for i in range(n)],
            "model": ["lightgbm", "xgboost", "random_forest", "extra_trees"] * 2,
            "status": ["done"] * (n - 1) + ["failed"],
            "cv_score": [*sorted(rng.uniform(0.8, 0.91, n - 1), reverse=True), None],
            "finished_s": [*rng.uniform(1, 30, n - 1), None],
            "params": ["{}"] * n,
            "error": [""] * (n - 1) + ["MemoryError"],
        }
    )


def _chromium() -> str:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    reason = "chromium not installed: apt-get install chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must run the browser check; none of {', '.join(BROWSERS)} is on PATH)")
    pytest.skip(reason)


def _browse(browser: str, page: Path, profile: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [
        browser,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1200,3000",
        *flags,
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{browser} exited {result.returncode}: {result.stderr[-2000:]}"
    return result


@pytest.fixture
def report_page(tmp_path: Path) -> Path:
    return write_report(tmp_path, _summary(), _leaderboard())


def test_chromium_draws_the_report(report_page: Path, tmp_path: Path):
    import matplotlib.image

    browser = _chromium()
    screenshot = tmp_path / "screenshot.png"
    _browse(browser, report_page, tmp_path / "profile", f"--screenshot={screenshot}")
    assert screenshot.is_file() and screenshot.stat().st_size > 0
    pixels = matplotlib.image.imread(screenshot)[..., :3]
    assert pixels.shape[:2] == (3000, 1200)
    assert pixels.std() > 0.05, "the screenshot is one flat colour"
    assert (pixels < 0.95).any(axis=-1).mean() > 0.01, "the screenshot is (nearly) all white"
    # the plots' blue (bars, dots) appears only inside the images: they were decoded and drawn
    plot_pixels = (np.abs(pixels - PLOT_BLUE) < 0.04).all(axis=-1).sum()
    assert plot_pixels > 2000, f"only {plot_pixels} pixels of the plots' colour: were the images drawn?"


def test_the_rendered_dom_has_every_section_and_inline_images(report_page: Path, tmp_path: Path):
    browser = _chromium()
    dom = _browse(browser, report_page, tmp_path / "profile", "--dump-dom").stdout
    for section in SECTIONS:
        assert f'id="{section}"' in dom, section
    images = dom.count("<img")
    assert images >= 9 and dom.count('src="data:image/png;base64,') == images
    assert "<script>alert(1)</script>" not in dom  # the column name was text, not markup
