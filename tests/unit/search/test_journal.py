"""The search journal and the Optuna history a resumed search is rebuilt from."""

from __future__ import annotations

import pickle
import time

import numpy as np
import optuna
from ray.tune.search.optuna import OptunaSearch

from automl.models import get_family
from automl.pipeline.trial import TrialOutcome
from automl.search.batching import BatchingSearcher
from automl.search.batching_keys import BATCH_KEY
from automl.search.journal import JournalState, SearchJournal
from automl.search.resume import remaining_defaults, restored_storage
from automl.search.space import ConditionalSpace, default_points, make_sampler
from automl.search.store import TrialStore

FAMILIES = {k: get_family(k) for k in ("linear", "knn")}


def _outcome(family: str, params: dict, score: float | None = None, **kw) -> TrialOutcome:
    if score is None:
        return TrialOutcome(family, params, error=kw.pop("error", "failed"), **kw)
    return TrialOutcome(family, params, score=score, out_of_fold=np.full(4, score, dtype=np.float32), **kw)


def test_batches_round_trip_in_order_and_later_copies_win(tmp_path):
    journal = SearchJournal(str(tmp_path / "search"))
    assert not journal.exists()
    journal.start({"max_trials": 3})
    journal.append({"a.0": _outcome("linear", {"C": 1.0}, 0.7)}, elapsed_s=1.5)
    journal.append({"b.0": _outcome("knn", {"n_neighbors": 5}, 0.6), "a.0": _outcome("linear", {"C": 1.0}, 0.8)}, 3.0)
    state = SearchJournal(str(tmp_path / "search")).load()
    assert list(state.outcomes) == ["a.0", "b.0"] and state.outcomes["a.0"].score == 0.8
    assert state.n_records == 3 and state.elapsed_s == 3.0 and state.meta["max_trials"] == 3
    np.testing.assert_array_equal(state.outcomes["b.0"].out_of_fold, np.full(4, 0.6, dtype=np.float32))
    journal.start({"max_trials": 3}, resume=True)  # a resume keeps what is there
    assert len(journal.load().outcomes) == 2
    journal.start({"max_trials": 9})  # a new search in the same run directory starts afresh
    state = journal.load()
    assert state.outcomes == {} and state.meta["max_trials"] == 9


def test_torn_or_altered_batches_are_ignored(tmp_path):
    journal = SearchJournal(f"file://{tmp_path}/search")  # URIs work as paths do
    journal.start({})
    journal.append({"a.0": _outcome("linear", {"C": 1.0}, 0.7)}, 1.0)
    journal.append({"b.0": _outcome("linear", {"C": 2.0}, 0.9)}, 2.0)
    journal.append({"c.0": _outcome("linear", {"C": 3.0}, 0.5)}, 3.0)
    batches = sorted((tmp_path / "search").glob("batch-*.pkl"))
    batches[1].write_bytes(batches[1].read_bytes()[:-5] + b"xxxxx")  # altered after its checksum
    batches[2].with_suffix(".sha256").unlink()  # written, but its checksum never was: torn
    state = journal.load()
    assert list(state.outcomes) == ["a.0"] and state.elapsed_s == 1.0


def test_resumed_store_keeps_earlier_trials_and_journals_only_new_ones(tmp_path):
    journal = SearchJournal(str(tmp_path / "search"))
    journal.start({})
    journal.append({"a.0": _outcome("linear", {"C": 1.0}, 0.7, fold_models=["m"])}, 10.0)  # the earlier run
    store = TrialStore("roc_auc", keep_models=2, journal=journal, started_at=time.time() - 10.0)
    store.add_many({"b.0": _outcome("knn", {"n_neighbors": 3}, 0.6, fold_models=["k"])})
    assert set(store.outcomes()) == {"a.0", "b.0"}
    assert store.fold_models(["a.0", "b.0"]) == {"a.0": ["m"], "b.0": ["k"]}
    state = journal.load()
    assert state.n_records == 2 and state.elapsed_s >= 10.0


def test_a_restarted_store_reads_back_every_batch_and_writes_under_a_new_name(tmp_path):
    journal = SearchJournal(str(tmp_path / "search"))
    journal.start({})
    first = TrialStore("roc_auc", keep_models=2, journal=pickle.loads(pickle.dumps(journal)))
    first.add_many({"a.0": _outcome("linear", {"C": 1.0}, 0.7, fold_models=["m"])})
    first.add_many({"b.0": _outcome("linear", {"C": 2.0}, 0.8, fold_models=["n"])})
    # Ray restarts an actor from its constructor's arguments: the same pickled journal
    restarted = TrialStore("roc_auc", keep_models=2, journal=pickle.loads(pickle.dumps(journal)))
    assert set(restarted.outcomes()) == {"a.0", "b.0"}
    assert restarted.fold_models(["a.0", "b.0"]) == {"a.0": ["m"], "b.0": ["n"]}
    restarted.add_many({"c.0": _outcome("linear", {"C": 3.0}, 0.9, fold_models=["o"])})
    assert set(journal.load().outcomes) == {"a.0", "b.0", "c.0"}  # no batch was overwritten


def test_only_candidates_keep_out_of_fold_predictions_and_models():
    store = TrialStore("roc_auc", keep_models=1)
    store.add_many({"a.0": _outcome("linear", {"C": 1.0}, 0.7, fold_models=["m"])})
    store.add_many({"b.0": _outcome("linear", {"C": 2.0}, 0.8, fold_models=["n"])})  # beats a.0: a.0 goes
    store.add_many({"c.0": _outcome("knn", {"n_neighbors": 3}, 0.6, fold_models=["k"])})  # knn's best stays
    outcomes = store.outcomes()
    assert outcomes["a.0"].out_of_fold is None and store.fold_models(["a.0"]) == {}
    assert outcomes["b.0"].out_of_fold is not None and outcomes["c.0"].out_of_fold is not None
    assert sorted(store.kept_ids()) == ["b.0", "c.0"]
    assert outcomes["a.0"].score == 0.7  # the leaderboard keeps every score


def test_restored_history_reaches_optuna_and_counts_toward_the_limit():
    space = ConditionalSpace(FAMILIES, 500, "binary")
    defaults = default_points(FAMILIES, 500, "binary")
    linear_default = _outcome("linear", {k.split("__", 1)[1]: v for k, v in defaults[0].items() if "__" in k}, 0.8)
    state = JournalState(
        meta={},
        outcomes={
            "a.0": linear_default,
            "b.0": _outcome("knn", {"n_neighbors": 7, "weights": "distance", "p": 2}, None),
            "c.0": _outcome("linear", {"nonsense": 1}, 0.9),  # no longer fits the space: left out
        },
    )
    storage = restored_storage(state.outcomes, space, "max")
    trials = optuna.load_study(study_name="optuna", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"] and trials[0].value == 0.8
    remaining = remaining_defaults(defaults, state)
    assert remaining == defaults[1:]  # linear's default ran before the driver was lost

    inner = OptunaSearch(
        space=space,
        metric="score",
        mode="max",
        points_to_evaluate=remaining,
        sampler=make_sampler("tpe", 0),
        storage=storage,
    )
    searcher = BatchingSearcher(inner, metric="score", mode="max", max_configs=4, already_suggested=3)
    searcher.set_search_properties("score", "max", {})
    batch = searcher.suggest("t")
    assert batch[BATCH_KEY] == [defaults[1]]  # the default still to run, then the limit
    assert searcher.suggest("u") is None
    assert len(inner._ot_study.trials) == 3  # Optuna holds the restored history plus the new trial
