"""Early stopping of the boosting families: on rows of the fold's training part only, the
best round count recorded per fold, a refit on their mean, and the round clock."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from tables import make_mixed_table
from threadpoolctl import threadpool_limits

from automl.data import coerce_features, infer_schema, make_folds
from automl.ensemble.refit import refit as refit_on_all_rows
from automl.models import family_keys, get_family
from automl.models.base import ROUNDS_PARAM, round_listener, round_time_limit
from automl.pipeline.trial import (
    TrialData,
    TrialRow,
    build_pipeline,
    early_stopping_split,
    evaluate_config,
    fit_pipeline,
    join_config,
)

EARLY_STOPPING = ["lightgbm", "xgboost", "catboost", "mlp"]
# the fastest and a slow learning rate of each family's range (a network's are lower)
FAST = {"mlp": {"learning_rate_init": 0.03}}
SLOW = {"mlp": {"learning_rate_init": 1e-4}}


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(limits=1):
        yield


def _data(n_rows: int = 400, y: np.ndarray | None = None) -> TrialData:
    frame = make_mixed_table(n_rows=n_rows, seed=4)
    schema = infer_schema(frame, "target")
    labels = (frame["target"] == "yes").to_numpy(dtype=int)
    folds = make_folds(labels, classification=True, n_folds=3, seed=0)
    families = {key: get_family(key) for key in family_keys()}
    return TrialData(
        coerce_features(frame, schema), labels if y is None else y, schema, folds, "roc_auc", families, 0, 1
    )


def _config(family: str, **params) -> dict:
    return join_config(family, {**get_family(family).default_params(400, "binary"), **params})


def test_early_stopping_families_do_not_search_their_rounds():
    for key in EARLY_STOPPING:
        family = get_family(key)
        assert family.early_stopping
        assert ROUNDS_PARAM not in family.default_params(1000, "binary")
    assert not get_family("random_forest").early_stopping


@pytest.mark.parametrize("family", EARLY_STOPPING)
def test_early_stopping_never_sees_a_validation_row(family):
    """Poison every target of the first fold's validation rows: its fitted model is the same
    model (its stopping rows come from the fold's training part), the later folds are not."""
    data = _data()
    clean = evaluate_config(_config(family), data)
    assert clean.ok, clean.error
    _, valid = data.folds.splits[0]
    poisoned_y = data.y.copy()
    poisoned_y[valid] = 1 - poisoned_y[valid]
    poisoned = evaluate_config(_config(family), replace(data, y=poisoned_y))
    assert poisoned.ok, poisoned.error
    X = data.X
    np.testing.assert_array_equal(clean.fold_models[0].predict_proba(X), poisoned.fold_models[0].predict_proba(X))
    assert clean.rounds[0] == poisoned.rounds[0]
    # the poison did reach the folds that train on those rows: the test can tell
    assert not np.array_equal(clean.fold_models[1].predict_proba(X), poisoned.fold_models[1].predict_proba(X))


@pytest.mark.parametrize("family", EARLY_STOPPING)
def test_the_best_round_count_is_recorded_per_fold_and_predicted_with(family):
    outcome = evaluate_config(_config(family, **FAST.get(family, {"learning_rate": 0.3})), _data())
    assert outcome.ok, outcome.error
    assert len(outcome.rounds) == 3 and all(1 <= r < 10_000 for r in outcome.rounds)


@pytest.mark.parametrize("family", EARLY_STOPPING)
def test_a_refit_takes_the_mean_of_the_folds_best_rounds(family):
    data = _data()
    outcome = evaluate_config(_config(family, **FAST.get(family, {"learning_rate": 0.3})), data)
    row = TrialRow.of("t.0", outcome)
    refit = refit_on_all_rows(row, data)
    model = refit.named_steps["model"]
    expected = round(float(np.mean(outcome.rounds)) * 3 / 2)  # three folds: all rows are 3/2 of a fold's
    assert model.get_params()[ROUNDS_PARAM] == expected
    trees = {
        "lightgbm": lambda m: m.booster_.num_trees(),
        "xgboost": lambda m: m.get_booster().num_boosted_rounds(),
        "catboost": lambda m: m.tree_count_,
        "mlp": lambda m: m.epochs_,
    }[family](model)
    assert trees == expected


@pytest.mark.parametrize("family", EARLY_STOPPING)
def test_the_round_clock_ends_a_fit_with_its_rounds_so_far(family):
    """Past its round clock a fit stops adding rounds but keeps a model (the fit clock,
    by contrast, throws the fit away)."""
    data = _data()
    config = _config(family, **SLOW.get(family, {"learning_rate": 0.01}))  # only the clock stops it early
    free = evaluate_config(config, data)
    with round_time_limit(time.time() - 1):
        train, valid = data.folds.splits[0]
        pipeline = build_pipeline(get_family(family), free.params, data.schema, 0, 1)
        rounds = fit_pipeline(pipeline, get_family(family), data.X.iloc[train], data.y[train], "binary", 1)
    assert rounds is not None and rounds < min(free.rounds)
    assert pipeline.predict_proba(data.X.iloc[valid]).shape == (len(valid), 2)


def test_the_stopping_split_is_stratified_and_keeps_every_class():
    y = np.array([0] * 80 + [1] * 18 + [2] * 2 + [3])
    fit, stop = early_stopping_split(y, classification=True, seed=0)
    assert len(np.intersect1d(fit, stop)) == 0 and len(fit) + len(stop) == len(y)
    assert set(y[fit]) == {0, 1, 2, 3}  # a class with one row stays in the fitting rows
    assert 10 <= len(stop) <= 17 and abs(np.mean(y[stop] == 0) - 0.8) < 0.1
    again = early_stopping_split(y, classification=True, seed=0)
    np.testing.assert_array_equal(stop, again[1])


@pytest.mark.parametrize("family", EARLY_STOPPING)
def test_the_rounds_reached_are_reported_as_the_fit_goes(family):
    """The fidelity an early-stopping scheduler acts on: one call a round, in order."""
    data = _data()
    train, _ = data.folds.splits[0]
    pipeline = build_pipeline(get_family(family), get_family(family).default_params(400, "binary"), data.schema, 0, 1)
    seen: list[int] = []
    with round_listener(seen.append):
        best = fit_pipeline(pipeline, get_family(family), data.X.iloc[train], data.y[train], "binary", 1)
    assert seen == list(range(1, len(seen) + 1)) and best <= len(seen)


def test_gains_below_a_share_of_the_first_score_count_as_none():
    """On rows a model separates perfectly the log loss falls for ever, by ever less."""
    from automl.models.base import MIN_RELATIVE_GAIN, StaleRounds

    rounds = StaleRounds(patience=3)
    assert not rounds.update(0.7)
    tiny = 0.5 * MIN_RELATIVE_GAIN * 0.7
    assert not rounds.update(0.5)  # a real gain
    assert [rounds.update(0.5 - tiny * i / 10) for i in range(1, 4)] == [False, False, True]
    higher = StaleRounds(patience=1, higher_is_better=True)
    higher.update(0.5)
    assert not higher.update(0.6) and higher.update(0.6)


@pytest.mark.parametrize("family", EARLY_STOPPING)
def test_a_perfectly_separable_table_stops_long_before_the_cap(family):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] > 0).astype(int)
    model = get_family(family)
    estimator = model.make_estimator(model.default_params(300, "binary"), "binary", 0, 1)
    assert model.fit_early_stopping(estimator, X[:250], y[:250], X[250:], y[250:], patience=20) < 2_000
