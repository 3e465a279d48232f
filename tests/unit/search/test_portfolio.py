"""The portfolio: shipped as data, valid in the search space, evaluated first."""

from __future__ import annotations

import json

import pytest
from tables import assert_sampler_takes_points

from automl.errors import SpecError
from automl.models import family_keys, get_family
from automl.pipeline.trial import join_config
from automl.search.portfolio import PORTFOLIO_FILE, fit_to_space, load_portfolio, portfolio_points, relative_costs
from automl.search.runner import SearchSettings, _first_points

FAMILIES = {key: get_family(key) for key in family_keys()}


def test_the_shipped_portfolio_is_packaged_data_that_says_how_it_was_built():
    document = json.loads(PORTFOLIO_FILE.read_text())
    assert document["configs"] and len(document["tables"]) >= 10
    assert "greedy" in document["method"]
    assert set(document["relative_cost"]) <= set(family_keys())
    assert load_portfolio("default") == document["configs"]
    assert relative_costs()["linear"] == 1.0


@pytest.mark.parametrize("n_rows", [300, 5_000, 1_000_000])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_portfolio_points_lie_inside_the_search_space(task, n_rows):
    """The sampler takes every point as it is: none is resampled or rejected."""
    points = portfolio_points(load_portfolio("default"), FAMILIES, n_rows, task)
    assert {p["model"] for p in points} == set(FAMILIES)  # families the portfolio lacks: their defaults
    assert_sampler_takes_points(FAMILIES, points, n_rows, task)


def test_a_configuration_is_clipped_into_the_tables_ranges():
    config = join_config("lightgbm", {"learning_rate": 5.0, "min_child_samples": 10_000, "gone": 1})
    fitted = fit_to_space(config, get_family("lightgbm"), 200, "binary")
    assert fitted["lightgbm__learning_rate"] == 0.3  # the range's top
    assert fitted["lightgbm__min_child_samples"] == 10  # 200 rows allow leaves of at most 10
    assert "lightgbm__gone" not in fitted
    assert fitted["lightgbm__num_leaves"] == get_family("lightgbm").default_params(200, "binary")["num_leaves"]


def test_the_portfolio_comes_first_after_the_fallback_then_missing_defaults(tmp_path):
    from tables import small_trial_data

    data = small_trial_data(families=["linear", "lightgbm", "random_forest"])
    portfolio = [
        {"model": "lightgbm", "lightgbm__learning_rate": 0.1},
        {"model": "knn", "knn__n_neighbors": 5},  # not searched: left out
        {"model": "lightgbm", "lightgbm__learning_rate": 0.02},
    ]
    floor = join_config("linear", get_family("linear").default_params(data.folds.n_rows, "binary"))
    points = _first_points(data, SearchSettings(portfolio=portfolio, floor_config=floor))
    assert points[0] == floor
    assert [p["model"] for p in points] == ["linear", "lightgbm", "lightgbm", "random_forest"]
    assert points[1]["lightgbm__learning_rate"] == 0.1 and points[2]["lightgbm__learning_rate"] == 0.02
    # without a portfolio: each family's default, as before
    plain = _first_points(data, SearchSettings(portfolio=[], floor_config=floor))
    assert [p["model"] for p in plain] == ["linear", "lightgbm", "random_forest"]


def test_none_is_no_portfolio_and_a_bad_file_is_refused_in_one_line(tmp_path):
    assert load_portfolio("none") == []
    with pytest.raises(SpecError, match="no file") as missing:
        load_portfolio(str(tmp_path / "absent.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"configs": [{"learning_rate": 1}]}')
    with pytest.raises(SpecError, match="is not a portfolio") as malformed:
        load_portfolio(str(bad))
    assert "\n" not in str(missing.value) + str(malformed.value)
