"""A trial's time limits (it stops inside a fold's fit, or between folds by projection,
with its reason, instead of overrunning) and its repeatability."""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest
from tables import make_mixed_table
from threadpoolctl import threadpool_limits

from automl.data import Folds, coerce_features, infer_schema, make_folds
from automl.models import family_keys, get_family
from automl.models.base import FitTimeout, check_fit_time, fit_time_limit
from automl.pipeline import trial
from automl.pipeline.trial import TrialData, TrialStopped, evaluate_config, join_config


@pytest.fixture(autouse=True)
def _one_thread():
    # as a trial's worker pins them: oversubscribed OpenMP pools crawl on a busy machine
    with threadpool_limits(limits=1):
        yield


def _data(n_rows: int = 200, holdout: bool = False, **limits) -> TrialData:
    frame = make_mixed_table(n_rows=n_rows, seed=4)
    schema = infer_schema(frame, "target")
    y = (frame["target"] == "yes").to_numpy(dtype=int)
    if holdout:  # one split, as a large table gets
        index = np.random.default_rng(0).permutation(n_rows)
        folds = Folds(splits=((np.sort(index[n_rows // 5 :]), np.sort(index[: n_rows // 5])),), n_rows=n_rows)
    else:
        folds = make_folds(y, classification=True, n_folds=4, seed=0)
    families = {key: get_family(key) for key in family_keys()}
    return TrialData(coerce_features(frame, schema), y, schema, folds, "roc_auc", families, 0, 1, **limits)


CONFIG = join_config("linear", get_family("linear").default_params(200, "binary"))


def test_a_trial_past_its_timeout_stops_inside_its_first_fold():
    outcome = evaluate_config(CONFIG, _data(max_trial_s=1e-6))
    assert outcome.stopped and not outcome.ok
    assert outcome.error == "stopped inside fold 1 of 4: the per-trial limit of 0.0s was reached"
    assert outcome.out_of_fold is None and outcome.fold_models is None


def test_a_trial_past_the_deadline_stops():
    outcome = evaluate_config(CONFIG, _data(deadline=time.time() + 1e-6))
    assert outcome.stopped and outcome.error == "stopped inside fold 1 of 4: the time budget ended"


def test_between_folds_a_trial_projected_past_its_limits_stops():
    # one fold took a second: four would take four, past a 2 s limit or a budget 2 s away
    with pytest.raises(TrialStopped, match=r"stopped after 1 fold\(s\): projected 4.0s exceeds the per-trial limit"):
        trial._check_time(_data(max_trial_s=2.0), time.time() - 1.0, 1)
    with pytest.raises(TrialStopped, match=r"stopped after 1 fold\(s\): .* past the time budget"):
        trial._check_time(_data(deadline=time.time() + 1.0), time.time() - 1.0, 1)
    trial._check_time(_data(max_trial_s=600.0, deadline=time.time() + 600), time.time() - 1.0, 1)


def test_within_its_limits_a_trial_runs_every_fold():
    outcome = evaluate_config(CONFIG, _data(max_trial_s=600, deadline=time.time() + 600))
    assert outcome.ok and len(outcome.fold_scores) == 4 and len(outcome.fold_models) == 4


def test_a_configuration_scores_the_same_every_time_it_is_evaluated():
    # target encoding (linear models, high-cardinality "city") cross-fits on shuffled rows
    data = _data()
    outcomes = [evaluate_config(CONFIG, data) for _ in range(3)]
    assert all(o.ok for o in outcomes)
    assert len({o.score for o in outcomes}) == 1
    assert all((o.out_of_fold == outcomes[0].out_of_fold).all() for o in outcomes)


# Configurations that take far longer than 0.3 s on a few thousand rows (each would run for
# many seconds); linear and k-NN fits are short whatever their settings, so they meet a
# limit that has passed by the time they fit (they are checked before the fit and between
# chunks of the validation prediction).
SLOW = {
    "lightgbm": ({"n_estimators": 5000, "learning_rate": 0.005, "num_leaves": 256, "min_child_samples": 2}, 0.3),
    "xgboost": ({"n_estimators": 5000, "learning_rate": 0.005, "max_depth": 10, "min_child_weight": 0.1}, 0.3),
    "catboost": ({"n_estimators": 5000, "learning_rate": 0.005, "depth": 10}, 0.3),
    "hist_gradient_boosting": (
        {
            "max_iter": 5000,
            "learning_rate": 0.01,
            "max_leaf_nodes": 128,
            "min_samples_leaf": 2,
            "early_stopping": False,
        },
        0.3,
    ),
    "random_forest": ({"n_estimators": 5000, "max_features": 1.0, "min_samples_leaf": 1}, 0.3),
    "extra_trees": ({"n_estimators": 5000, "max_features": 1.0, "min_samples_leaf": 1}, 0.3),
    "mlp": ({"n_estimators": 5000, "width": 512, "layers": 3, "batch_size": 32}, 0.3),
    "linear": (get_family("linear").default_params(3000, "binary"), 1e-6),
    "knn": (get_family("knn").default_params(3000, "binary"), 1e-6),
}


def test_every_family_has_a_slow_configuration():
    assert sorted(SLOW) == sorted(family_keys())


#: early stopping families end a fold's rounds on the round clock instead: no model is lost
ROUND_CLOCKED = sorted(f for f in SLOW if get_family(f).early_stopping)


@pytest.mark.parametrize("holdout", [False, True], ids=["4-fold", "holdout"])
@pytest.mark.parametrize("family", sorted(set(SLOW) - set(ROUND_CLOCKED)))
def test_a_slow_configuration_is_stopped_inside_its_first_fold(family, holdout):
    params, limit = SLOW[family]
    outcome = evaluate_config(join_config(family, params), _data(3000, holdout, max_trial_s=limit))
    assert outcome.stopped and not outcome.ok
    n_folds = 1 if holdout else 4
    assert outcome.error == f"stopped inside fold 1 of {n_folds}: the per-trial limit of {limit:.1f}s was reached"
    assert outcome.out_of_fold is None and outcome.fold_models is None and outcome.error_traceback is None


@pytest.mark.parametrize("holdout", [False, True], ids=["4-fold", "holdout"])
@pytest.mark.parametrize("family", ROUND_CLOCKED)
def test_a_slow_boosting_configuration_ends_its_folds_on_the_round_clock(family, holdout):
    """Within a 3 s limit it fits every fold, each with the rounds its share of the time
    allowed (far fewer than the 10,000 it could take), rather than being stopped."""
    params = {
        "lightgbm": {"num_leaves": 64, "learning_rate": 0.01},
        "xgboost": {"max_depth": 6, "learning_rate": 0.01},
        "catboost": {"depth": 6, "learning_rate": 0.01},
        "mlp": {"width": 512, "learning_rate_init": 1e-4},
    }[family]
    config = join_config(family, {**get_family(family).default_params(3000, "binary"), **params})
    outcome = evaluate_config(config, _data(3000, holdout, max_trial_s=3.0))
    assert outcome.ok, outcome.error
    assert len(outcome.rounds) == (1 if holdout else 4) and max(outcome.rounds) < 10_000


@pytest.mark.parametrize("holdout", [False, True], ids=["4-fold", "holdout"])
def test_the_sooner_limit_names_the_reason(holdout):
    config = join_config("extra_trees", SLOW["extra_trees"][0])
    n_folds = 1 if holdout else 4
    budget = evaluate_config(config, _data(3000, holdout, max_trial_s=600, deadline=time.time() + 0.3))
    assert budget.stopped and budget.error == f"stopped inside fold 1 of {n_folds}: the time budget ended"
    own = evaluate_config(config, _data(3000, holdout, max_trial_s=0.3, deadline=time.time() + 600))
    assert own.stopped and own.error == f"stopped inside fold 1 of {n_folds}: the per-trial limit of 0.3s was reached"


@pytest.mark.parametrize(
    "family", ["lightgbm", "xgboost", "catboost", "hist_gradient_boosting", "random_forest", "extra_trees", "mlp"]
)
def test_the_clock_stops_a_fit_from_inside(family):
    # the deadline is 0.3 s ahead as the fit starts: only a check inside the fit can stop it
    X, y = np.random.default_rng(0).normal(size=(3000, 8)), np.arange(3000) % 2
    estimator = get_family(family).make_estimator(SLOW[family][0], "binary", 0, 1)
    with pytest.raises(FitTimeout), fit_time_limit(time.time() + 0.3):
        estimator.fit(X, y)


def test_the_clock_is_checked_between_chunks_of_a_validation_prediction(monkeypatch):
    monkeypatch.setattr(trial, "PREDICT_CHUNK_ROWS", 100)
    chunks, passed = [], contextlib.ExitStack()

    class Predictor:
        def predict(self, rows):
            chunks.append(len(rows))
            passed.enter_context(fit_time_limit(time.time() - 1))  # the deadline passes meanwhile
            return np.zeros(len(rows))

    with fit_time_limit(time.time() + 600):
        with pytest.raises(FitTimeout):
            trial._predict_fold(Predictor(), make_mixed_table(n_rows=1000), regression=True, n_classes=0)
        passed.close()
    assert chunks == [100]
    check_fit_time()  # no limit left behind


def test_the_fit_clock_nests_and_restores():
    check_fit_time()  # no limit: never raises
    with fit_time_limit(time.time() + 600):
        with fit_time_limit(time.time() - 1), pytest.raises(FitTimeout):
            check_fit_time()
        check_fit_time()  # the outer, later deadline is back
        with fit_time_limit(None), fit_time_limit(time.time() + 1200):
            check_fit_time()  # neither loosens nor drops the outer one
            with fit_time_limit(time.time() - 1), pytest.raises(FitTimeout):
                check_fit_time()
    check_fit_time()


@pytest.mark.parametrize("holdout", [False, True], ids=["4-fold", "holdout"])
@pytest.mark.parametrize("family", sorted(SLOW))
def test_within_a_generous_limit_a_trial_scores_as_without_one(family, holdout):
    # the timed fits (forests grown in chunks, a check per boosting round) fit the same models
    data = _data(1000, holdout)
    config = join_config(family, get_family(family).default_params(1000, "binary"))
    free = evaluate_config(config, data)
    limited = evaluate_config(config, _data(1000, holdout, max_trial_s=600, deadline=time.time() + 600))
    assert free.ok and limited.ok
    assert limited.fold_scores == free.fold_scores
    np.testing.assert_array_equal(limited.out_of_fold, free.out_of_fold)
