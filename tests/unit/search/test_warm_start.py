"""Which first configurations the driver evaluates while Ray and Tune's trial actors start."""

from __future__ import annotations

from automl.search.warm_start import WARM_START_MAX, driver_points, while_ray_starts

FLOOR = {"model": "linear", "linear__C": 1.0}
POINTS = [
    FLOOR,
    {"model": "catboost", "catboost__depth": 4},
    {"model": "lightgbm", "lightgbm__num_leaves": 16},
    {"model": "knn", "knn__n_neighbors": 10},
    {"model": "xgboost", "xgboost__max_depth": 6},
    {"model": "random_forest", "random_forest__n_estimators": 200},
]


def test_the_fallback_then_what_fits_a_share_of_the_budget():
    pace = {"linear": 0.5, "catboost": 9.0, "lightgbm": 1.0, "knn": 0.2, "xgboost": 0.5, "random_forest": 3.0}
    # a quarter of 12 s: 3 s; the fallback takes 0.5, then lightgbm 1.0, knn 0.2, xgboost 0.5 (catboost is too slow)
    taken = driver_points(POINTS, pace, 12.0, FLOOR)
    assert [p["model"] for p in taken] == ["linear", "lightgbm", "knn", "xgboost"]
    assert len(driver_points(POINTS, {k: 0.0 for k in pace}, 1000.0, FLOOR)) == WARM_START_MAX


def test_nothing_without_a_time_budget_or_a_fallback_and_unknown_costs_wait_for_tune():
    assert driver_points(POINTS, {"linear": 0.1}, None, FLOOR) == []
    assert driver_points(POINTS, {"linear": 0.1}, 60.0, None) == []
    assert driver_points(POINTS, {}, 60.0, FLOOR) == [FLOOR]  # nothing else has an expected cost


def test_until_ray_is_up_the_driver_may_go_on_with_any_point_a_trial_could_finish():
    pace = {"linear": 0.5, "catboost": 9.0, "lightgbm": 1.0, "knn": 0.2, "xgboost": 0.5, "random_forest": 4.0}
    taken = driver_points(POINTS, pace, 12.0, FLOOR)  # linear, lightgbm, knn, xgboost
    # a trial's most is 0.4 of 12 s: random forest's 4 s fits, catboost's 9 s does not
    extra = while_ray_starts(POINTS, pace, 12.0, taken, max_share=0.4)
    assert extra == [({"model": "random_forest", "random_forest__n_estimators": 200}, 4.0)]
    assert while_ray_starts(POINTS, pace, None, taken, max_share=0.4) == []
    assert while_ray_starts(POINTS, pace, 12.0, [], max_share=0.4) == []  # no driver: nothing beyond
    assert while_ray_starts(POINTS, {"linear": 0.5}, 12.0, [FLOOR], max_share=0.4) == []  # unknown costs wait
