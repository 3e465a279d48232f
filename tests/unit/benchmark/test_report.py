"""The benchmark's report, on a benchmark directory written as runs write it: synthetic
traces whose scores follow a known order of the strategies (`write_fake_benchmark`, which
the replay's integration test shares)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fake_benchmark import BUDGET_S, STRATEGIES, write_fake_benchmark

from automl.benchmark.report import GRID_POINTS, anytime, load_runs, write_report


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return write_fake_benchmark(tmp_path_factory.mktemp("bench"))


def test_the_report_has_the_final_table_tests_and_plots(bench):
    html_path = write_report(bench)
    text = (bench / "report.md").read_text()
    assert "Friedman p = " in text and "Nemenyi critical difference" in text
    assert "mean ranks tpe 1.00, random 2.00, cmaes 3.00" in text
    final = pd.read_csv(bench / "final.csv")
    assert set(final["strategy"]) == set(STRATEGIES) and (final["seeds"] == 2).all()
    assert (final[final["strategy"] == "tpe"]["normalised"] > 0.99).all()
    for name in ["anytime-t0.png", "normalised.png", "ranks.png", "cd-25.png", "cd-50.png", "cd-100.png"]:
        assert (bench / "plots" / name).stat().st_size > 1000
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") == 5 + 2 + 3 and "src='plots/" not in page
    assert "Wilcoxon signed-rank against the best" in text


def test_anytime_best_never_gets_worse_and_is_the_dummy_before_a_first_result(bench):
    runs = load_runs(bench)
    curves = anytime(runs, np.linspace(0, BUDGET_S, GRID_POINTS))
    for _, run in curves.groupby(["table", "strategy", "seed"]):
        best = run["best"].dropna().to_numpy()
        assert len(best) and np.all(np.diff(best) >= 0)
        assert (run[run["best"].isna()]["normalised"] == 0.0).all()
    assert curves[curves["x"] == 0.0]["best"].isna().all()  # the first result comes after the start-up
