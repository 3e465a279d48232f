"""The batching searcher, driven directly (no Ray runtime needed), over a real OptunaSearch."""

from __future__ import annotations

import pytest
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from automl.models import get_family
from automl.pipeline.trial import TrialStatus
from automl.search.batching import PACE_WEIGHT_OF_NEWEST, BatchingSearcher
from automl.search.batching_keys import BATCH_KEY, EXPECTED_KEY, IDS_KEY
from automl.search.space import ConditionalSpace, make_sampler


def _searcher(max_configs=None, concurrency=1, families=("linear", "knn")):
    families = {k: get_family(k) for k in families}
    inner = OptunaSearch(
        space=ConditionalSpace(families, 500, "binary"), metric="score", mode="max", sampler=make_sampler("tpe", 0)
    )
    return BatchingSearcher(
        inner, metric="score", mode="max", max_configs=max_configs, target_batch_s=1.0, concurrency=concurrency
    )


def _finish(searcher, trial_id, batch, seconds=0.01, status="done"):
    outcomes = [(status, 0.5 + 0.01 * i if status == "done" else None) for i in range(len(batch[BATCH_KEY]))]
    paces = [seconds if status == "done" else None] * len(outcomes)
    searcher.on_trial_complete(trial_id, {"outcomes": outcomes, "seconds": paces})


def test_batches_grow_for_quick_configurations_and_stop_at_the_limit():
    searcher = _searcher(max_configs=50, families=("linear",))
    first = searcher.suggest("t0")
    assert len(first[BATCH_KEY]) == 1  # nothing measured yet
    assert first[IDS_KEY] == ["t0.0"]
    _finish(searcher, "t0", first, seconds=0.05)  # 50 ms a configuration: 20 per 1 s batch
    second = searcher.suggest("t1")
    assert len(second[BATCH_KEY]) == 20
    assert second[IDS_KEY] == [f"t1.{i}" for i in range(20)]
    total, n = 21, 2
    while (batch := searcher.suggest(f"t{n}")) not in (None, Searcher.FINISHED):
        total += len(batch[BATCH_KEY])
        _finish(searcher, f"t{n}", batch, seconds=0.05)
        n += 1
    _finish(searcher, "t1", second, seconds=0.05)
    assert total == 50
    assert searcher.suggest("late") == Searcher.FINISHED


def test_slow_configurations_are_not_batched():
    searcher = _searcher()
    batch = searcher.suggest("a")
    _finish(searcher, "a", batch, seconds=3.0)
    assert len(searcher.suggest("b")[BATCH_KEY]) == 1


def test_last_configurations_are_spread_over_parallel_trials():
    searcher = _searcher(max_configs=9, concurrency=2, families=("linear",))
    batch = searcher.suggest("a")
    _finish(searcher, "a", batch, seconds=0.01)
    assert len(searcher.suggest("b")[BATCH_KEY]) == 4  # ceil(8 left / 2 workers)


def test_a_crashed_batch_is_retried_one_configuration_at_a_time():
    searcher = _searcher(max_configs=30, families=("linear",))
    _finish(searcher, "a", searcher.suggest("a"), seconds=0.1)
    batch = searcher.suggest("b")
    assert len(batch[BATCH_KEY]) > 1
    searcher.on_trial_complete("b", None, error=True)  # the worker died mid-batch
    retried = []
    for i in range(len(batch[BATCH_KEY])):
        single = searcher.suggest(f"r{i}")
        assert len(single[BATCH_KEY]) == 1
        retried.append((single[IDS_KEY][0], single[BATCH_KEY][0]))
    assert retried == list(zip(batch[IDS_KEY], batch[BATCH_KEY], strict=True))  # same ids, same configurations
    # a single configuration that crashes again is a failure told to Optuna, not retried
    searcher.on_trial_complete("r0", None, error=True)
    assert searcher.suggest("next")[IDS_KEY][0].startswith("next.")


@pytest.mark.parametrize("status", ["failed", "stopped", TrialStatus.FAILED, TrialStatus.STOPPED])
def test_failures_and_stops_reach_optuna_as_such(status):
    searcher = _searcher()
    batch = searcher.suggest("a")
    _finish(searcher, "a", batch, status=status)
    study = searcher.inner._ot_study
    expected = {"failed": "FAIL", "stopped": "PRUNED"}[TrialStatus(status).value]
    assert [t.state.name for t in study.trials] == [expected]


def test_batches_are_filled_at_each_familys_own_pace():
    """k-NN at 10 ms and a slow linear model at 0.5 s: a batch holds about 1 s of work."""
    searcher = _searcher()
    paces = {"knn": 0.01, "linear": 0.5}
    seen = set()
    for n in range(40):
        batch = searcher.suggest(f"t{n}")
        families = [config["model"] for config in batch[BATCH_KEY]]
        known = [f for f in families if f in seen]
        expected = sum(paces[f] for f in known) + searcher.target_batch_s * (len(families) - len(known))
        last = paces[families[-1]] if families[-1] in seen else searcher.target_batch_s
        assert expected - last < searcher.target_batch_s  # it stopped at the configuration that filled it
        assert batch["expected_s"] == pytest.approx([paces[f] if f in seen else None for f in families])
        seen.update(families)
        outcomes = [("done", 0.5) for _ in families]
        searcher.on_trial_complete(f"t{n}", {"outcomes": outcomes, "seconds": [paces[f] for f in families]})
    assert searcher.expected_seconds({"model": "knn"}) == pytest.approx(0.01)
    assert searcher.expected_seconds({"model": "linear"}) == pytest.approx(0.5)
    assert searcher.expected_seconds({"model": "xgboost"}) is None


def test_a_familys_pace_moves_part_way_towards_each_new_measurement():
    searcher = _searcher(families=("linear",))
    _finish(searcher, "a", searcher.suggest("a"), seconds=1.0)
    _finish(searcher, "b", searcher.suggest("b"), seconds=2.0)
    assert searcher.expected_seconds({"model": "linear"}) == pytest.approx(1.0 + PACE_WEIGHT_OF_NEWEST)


def test_a_configuration_is_not_started_when_its_familys_pace_says_it_cannot_finish():
    import time

    from automl.search.worker import _no_time_for

    now = time.time()
    assert _no_time_for(None, None) is None
    assert _no_time_for(5.0, None) is None  # no budget
    assert _no_time_for(None, now + 10) is None  # not measured: try it
    assert _no_time_for(2.0, now + 10) is None
    assert "expected to take 5.0s, 3.0s of the budget was left" in _no_time_for(5.0, now + 3)
    assert "before it started" in _no_time_for(None, now - 1)


def test_a_prior_pace_sizes_batches_and_gives_way_to_the_measured_one():
    families = {"linear": get_family("linear")}
    inner = OptunaSearch(
        space=ConditionalSpace(families, 500, "binary"), metric="score", mode="max", sampler=make_sampler("tpe", 0)
    )
    searcher = BatchingSearcher(inner, metric="score", mode="max", target_batch_s=1.0, prior_pace={"linear": 0.125})
    first = searcher.suggest("t0")
    assert len(first[BATCH_KEY]) == 8  # 0.125 s each, before any was timed
    assert first[EXPECTED_KEY] == [0.125] * 8
    _finish(searcher, "t0", first, seconds=0.5)
    assert searcher.expected_seconds({"model": "linear"}) == pytest.approx(0.5)  # the first measurement replaces it
    assert len(searcher.suggest("t1")[BATCH_KEY]) == 2
