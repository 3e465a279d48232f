"""The trial ledger: one row per configuration, from the store's outcomes or from what Tune saw."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from automl.evaluation.leaderboard import leaderboard_frame
from automl.evaluation.metrics import get_metric
from automl.pipeline.trial import TrialOutcome, TrialStatus
from automl.search.batching_keys import BATCH_KEY, IDS_KEY
from automl.search.ledger import STOPPED_AT_BUDGET, BatchState, TrialLedger

DONE, FAILED, STOPPED, RUNNING = TrialStatus.DONE, TrialStatus.FAILED, TrialStatus.STOPPED, TrialStatus.RUNNING


def _config(family: str = "linear", **params: float) -> dict:
    return {"model": family, **{f"{family}__{k}": v for k, v in params.items()}}


def _outcome(family: str = "linear", score: float = 0.8, **params: float) -> TrialOutcome:
    return TrialOutcome(family, dict(params), score=score)


def _batch(ledger: TrialLedger, trial_id: str, n: int) -> list[str]:
    ids = [f"{trial_id}.{i}" for i in range(n)]
    ledger.start(trial_id, ids, [_config(C=float(i)) for i in range(n)])
    return ids


def test_a_store_outcome_wins_over_what_tune_saw_of_its_batch():
    ledger = TrialLedger()
    ids = _batch(ledger, "t1", 2)
    ledger.report("t1", [("done", 0.7), ("done", 0.6)])
    ledger.finish("t1")
    received = _outcome(score=0.75, C=0.0)
    ledger.receive({ids[0]: received})
    first, second = ledger.rows()
    assert first.outcome is received and first.status is DONE and first.params == {"C": 0.0}
    # the store never received the second: a score without its outcome did not finish
    assert second.trial_id == ids[1] and second.status is STOPPED and second.outcome is None
    assert second.family == "linear" and second.params == {"C": 1.0}


def test_while_the_search_runs_a_reported_score_counts_as_done():
    ledger = TrialLedger()
    _batch(ledger, "t1", 1)
    ledger.report("t1", [("done", 0.7)])
    assert ledger.counts()[DONE] == 1  # the progress line, before the store's outcomes are in
    ledger.finish("t1")
    ledger.end()
    ledger.receive({})
    assert ledger.counts()[DONE] == 0 and ledger.counts()[STOPPED] == 1


def test_a_crashed_batch_the_search_ended_before_rerunning_keeps_its_configurations():
    ledger = TrialLedger()
    ids = _batch(ledger, "t1", 3)
    ledger.crash("t1", "RayActorError: the worker died")
    ledger.start("t2", [ids[0]], [_config(C=0.0)])  # only the first was run again on its own
    ledger.report("t2", [("done", 0.9)])
    ledger.finish("t2")
    ledger.end()
    ledger.receive({ids[0]: _outcome(score=0.9, C=0.0)})
    rows = ledger.rows()
    assert sorted(r.trial_id for r in rows) == sorted(ids)  # each configuration once
    by_id = {r.trial_id: r for r in rows}
    assert by_id[ids[0]].status is DONE
    assert {by_id[i].status for i in ids[1:]} == {FAILED}
    assert by_id[ids[1]].error == "RayActorError: the worker died"


def test_tune_only_records_become_failed_and_stopped_rows_with_their_reason():
    ledger = TrialLedger()
    _batch(ledger, "crashed", 1)
    ledger.crash("crashed", "RayActorError: the worker died")
    _batch(ledger, "late", 3)  # still running when the search ends
    ledger.end()
    rows = ledger.rows()
    assert [r.status for r in rows] == [FAILED, STOPPED, STOPPED, STOPPED]
    assert rows[0].error == "RayActorError: the worker died"
    assert {r.error for r in rows[1:]} == {STOPPED_AT_BUDGET}
    assert all(r.outcome is None for r in rows)
    # a finished batch the store knows nothing of is a stop too, not a silent loss
    ledger.start("lost", ["lost.0"], [_config(C=9.0)])
    ledger.finish("lost")
    assert ledger.rows()[-1].status is STOPPED and ledger.rows()[-1].error == STOPPED_AT_BUDGET


def test_a_crashed_batch_of_several_configurations_gives_its_rows_through_its_retries():
    ledger = TrialLedger()
    ids = _batch(ledger, "b", 3)
    ledger.crash("b", "the worker died")
    assert ledger.counts()[FAILED] == 0 and ledger.counts()[RUNNING] == 3  # each waits for its own run
    for n, config_id in enumerate(ids):  # BatchingSearcher retries each under its own id
        ledger.start(f"r{n}", [config_id], [_config(C=float(n))])
    ledger.crash("r1", "ValueError: the culprit")
    ledger.receive({ids[0]: _outcome(C=0.0), ids[2]: _outcome(C=2.0, score=0.9)})
    ledger.finish("r0")
    ledger.finish("r2")
    rows = ledger.rows()
    assert [r.trial_id for r in rows] == ids
    assert [r.status for r in rows] == [DONE, FAILED, DONE]
    assert rows[1].error == "ValueError: the culprit"


def test_counts_follow_each_configuration_through_the_search():
    ledger = TrialLedger()
    _batch(ledger, "a", 3)
    _batch(ledger, "b", 2)
    assert ledger.counts() == {RUNNING: 5, DONE: 0, FAILED: 0, STOPPED: 0}
    ledger.report("a", [(DONE, 0.8), (FAILED, None), (STOPPED, None)])
    ledger.finish("a")
    assert ledger.counts() == {RUNNING: 2, DONE: 1, FAILED: 1, STOPPED: 1}
    ledger.end()
    counts = ledger.counts()
    assert counts == {RUNNING: 0, DONE: 1, FAILED: 1, STOPPED: 3}
    assert sum(counts.values()) == len(ledger.rows())
    assert ledger.start("a", [], []).state is BatchState.FINISHED  # a batch is recorded once


def test_restored_trials_come_first_and_the_drivers_fallback_last():
    restored = {"old.0": _outcome(C=5.0, score=0.6), "old.1": TrialOutcome("knn", {}, error="boom")}
    ledger = TrialLedger(restored)
    _batch(ledger, "new", 1)
    ledger.report("new", [(DONE, 0.7)])
    ledger.finish("new")
    ledger.add("floor.0", _outcome(score=0.65))
    rows = ledger.rows()
    assert [r.trial_id for r in rows] == ["old.0", "old.1", "new.0", "floor.0"]
    assert [r.status for r in rows] == [DONE, FAILED, DONE, DONE]
    assert rows[1].family == "knn" and rows[1].error == "boom"
    assert ledger.counts()[DONE] == 3


def test_best_follows_the_metrics_direction_and_ignores_unscored_configurations():
    ledger = TrialLedger()
    assert ledger.best(get_metric("roc_auc")) is None
    ledger.start("a", ["a.0", "a.1", "a.2"], [_config("linear"), _config("knn"), _config("xgboost")])
    ledger.report("a", [(DONE, 0.9), (DONE, 0.7), (FAILED, None)])
    assert ledger.best(get_metric("roc_auc")) == (0.9, "linear")
    assert ledger.best(get_metric("rmse")) == (0.7, "knn")
    ledger.receive({"a.1": TrialOutcome("knn", {}, score=math.nan)})  # the store says it scored nothing
    assert ledger.best(get_metric("rmse")) == (0.9, "linear")


def test_first_result_time_and_retries():
    ledger = TrialLedger({"old.0": _outcome()})
    assert ledger.first_done_at is None  # a resumed search's earlier trials are not this run's results
    _batch(ledger, "a", 1)
    ledger.report("a", [(FAILED, None)])
    assert ledger.first_done_at is None
    ledger.recover("a")
    assert ledger.retried == 1 and ledger.counts()[FAILED] == 1
    _batch(ledger, "b", 1)
    ledger.report("b", [(DONE, 0.5)])
    assert ledger.first_done_at is not None


def test_the_leaderboard_writes_the_ledgers_statuses_as_the_same_strings():
    ledger = TrialLedger()
    _batch(ledger, "a", 3)
    ledger.report("a", [(DONE, 0.6), (FAILED, None), (STOPPED, None)])
    ledger.finish("a")
    ledger.receive({"a.0": _outcome(score=0.6, C=0.0)})
    _batch(ledger, "b", 1)
    ledger.receive({"b.0": _outcome(score=0.9, C=0.0)})
    ledger.finish("b")
    board = leaderboard_frame(ledger.rows(), get_metric("roc_auc"))
    assert board["status"].tolist() == ["done", "done", "failed", "stopped"]
    assert board["trial_id"].tolist() == ["b.0", "a.0", "a.1", "a.2"]
    assert board["trial"].tolist() == [4, 1, 2, 3]  # numbered in start order
    assert board["cv_score"].iloc[0] == pytest.approx(0.9) and board["cv_score"].isna().tolist()[2:] == [True, True]


def test_the_progress_monitor_feeds_the_ledger_and_reads_its_line_from_it():
    from automl.search.progress import SearchMonitor

    ledger = TrialLedger()
    monitor = SearchMonitor(ledger, get_metric("roc_auc"), budget_s=None, max_trials=None, show=False)

    def trial(trial_id: str, n: int) -> SimpleNamespace:
        ids = [f"{trial_id}.{i}" for i in range(n)]
        config = {BATCH_KEY: [_config(C=float(i)) for i in range(n)], IDS_KEY: ids}
        return SimpleNamespace(trial_id=trial_id, config=config, error_message="Traceback\n\nValueError: bad\n")

    quick, crashed, slow = trial("q", 2), trial("c", 1), trial("s", 2)
    for t in (quick, crashed, slow):
        monitor.on_trial_start(0, [], t)
    monitor.on_trial_result(0, [], quick, {"outcomes": [("done", 0.8), ("failed", None)]})
    monitor.on_trial_complete(0, [], quick)
    monitor.on_trial_error(0, [], crashed)
    assert monitor.summary_line().startswith("1 done, 2 failed, 2 running | best roc_auc 0.8000 (linear) |")
    monitor.on_experiment_end([])
    assert monitor.summary_line().startswith("1 done, 2 failed, 2 stopped, 0 running |")
    assert ledger.rows()[2].error == "ValueError: bad"


def test_each_row_says_when_its_result_arrived_and_the_leaderboard_shows_it():
    ledger = TrialLedger(restored={"old": _outcome(score=0.5, C=9.0)})
    _batch(ledger, "t1", 1)
    _batch(ledger, "t2", 1)
    ledger.report("t1", [("done", 0.7)])
    ledger.report("t2", [("done", 0.6)])
    ledger.add("driver-1", _outcome(score=0.65, C=3.0, fe_scale="robust"))
    old, first, second, driver = ledger.rows()
    assert old.finished_s is None  # a resumed search's earlier run: another clock
    assert 0 <= first.finished_s <= second.finished_s <= driver.finished_s
    board = leaderboard_frame(ledger.rows(), get_metric("roc_auc"))
    assert board.set_index("trial_id").loc["driver-1", "features"] == "scale=robust"
    assert board.set_index("trial_id").loc["t1.0", "features"] == ""
    assert math.isnan(board.set_index("trial_id").loc["old", "finished_s"])
