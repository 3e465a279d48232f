"""A trial's time limits (it stops between folds, with its reason, instead of overrunning)
and its repeatability."""

from __future__ import annotations

import time

from tables import make_mixed_table

from automl.data import coerce_features, infer_schema, make_folds
from automl.models import get_family
from automl.search.trial import TrialData, evaluate_config, join_config


def _data(**limits) -> TrialData:
    frame = make_mixed_table(n_rows=200, seed=4)
    schema = infer_schema(frame, "target")
    y = (frame["target"] == "yes").to_numpy(dtype=int)
    folds = make_folds(y, classification=True, n_folds=4, seed=0)
    return TrialData(
        coerce_features(frame, schema), y, schema, folds, "roc_auc", {"linear": get_family("linear")}, 0, 1, **limits
    )


CONFIG = join_config("linear", get_family("linear").default_params(200, "binary"))


def test_a_trial_past_its_timeout_stops_after_its_first_fold():
    outcome = evaluate_config(CONFIG, _data(max_trial_s=1e-6))
    assert outcome.stopped and not outcome.ok
    assert "stopped after 1 fold(s)" in outcome.error and "per-trial limit" in outcome.error
    assert outcome.out_of_fold is None and outcome.fold_models is None


def test_a_trial_that_would_end_past_the_deadline_stops():
    outcome = evaluate_config(CONFIG, _data(deadline=time.time() + 1e-6))
    assert outcome.stopped and "past the time budget" in outcome.error


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
