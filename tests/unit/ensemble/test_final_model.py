"""The final model from a search's trials: which trials it is made of, which fold models it
reads, bagging or refit, and the error when no trial finished. No Ray: trials run inline."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace

import numpy as np
import pytest
from tables import make_mixed_table
from threadpoolctl import threadpool_limits

from automl.budget import Budget
from automl.data import coerce_features, infer_schema, make_folds
from automl.ensemble.final import Repeated, build_final_model
from automl.ensemble.scored import ranked_trials
from automl.errors import SearchError
from automl.evaluation.metrics import get_metric
from automl.models import get_family
from automl.pipeline.trial import TrialData, TrialOutcome, TrialRow, TrialStatus, evaluate_config, join_config

CONFIGS = {
    "t-linear": ("linear", {"C": 1.0}),
    "t-linear-weak": ("linear", {"C": 1e-4}),
    "t-knn": ("knn", {"n_neighbors": 10, "weights": "distance"}),
}


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(limits=1):  # two CPUs shared: no oversubscribed pools
        yield


@pytest.fixture(scope="module")
def data() -> TrialData:
    frame = make_mixed_table(n_rows=200, seed=4)
    schema = infer_schema(frame, "target")
    y = np.searchsorted(np.array(schema.classes, dtype=object), frame["target"].to_numpy(dtype=object))
    folds = make_folds(y, classification=True, n_folds=3, seed=0)
    families = {key: get_family(key) for key in ("linear", "knn")}
    return TrialData(coerce_features(frame, schema), y, schema, folds, "roc_auc", families, 0, 1)


@pytest.fixture(scope="module")
def searched(data) -> tuple[list[TrialRow], dict[str, list]]:
    """Three finished trials, one that failed and one still running, in start order."""
    rows, fold_models = [], {}
    for trial_id, (family, params) in CONFIGS.items():
        with threadpool_limits(limits=1):
            outcome = evaluate_config(join_config(family, params), data)
        assert outcome.ok, outcome.error
        fold_models[trial_id] = outcome.fold_models
        rows.append(TrialRow.of(trial_id, replace(outcome, fold_models=None)))
    rows.append(TrialRow("t-broken", "knn", {}, TrialStatus.FAILED, None, "ValueError: bad neighbours"))
    rows.append(TrialRow("t-running", "linear", {}, TrialStatus.RUNNING))
    return rows, fold_models


class RecordingModels(Mapping[str, list]):
    """Fold models by trial id that remember which were read, as the search's lazy store
    fetches each on first read."""

    def __init__(self, models: dict[str, list]) -> None:
        self.models, self.read = models, set()

    def __getitem__(self, trial_id: str) -> list:
        self.read.add(trial_id)
        return self.models[trial_id]

    def __contains__(self, trial_id: object) -> bool:  # as the store answers: without a fetch
        return trial_id in self.models

    def __iter__(self) -> Iterator[str]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)


def _build(data, rows, fold_models, *, method="selection", final_members="bagging", budget=None, **serving):
    return build_final_model(
        rows, fold_models, data, get_metric("roc_auc"), method=method, top_k=3, final_members=final_members,
        max_inference_ms_per_row=None, budget=budget or Budget(None), sample=make_mixed_table(20, seed=9),
        **serving,
    )  # fmt: skip


def _best_id(rows) -> str:
    done = [r for r in rows if r.status is TrialStatus.DONE]
    return max(done, key=lambda r: r.outcome.score).trial_id


def test_bagged_members_are_their_own_trials_fold_models(data, searched):
    rows, fold_models = searched
    models = RecordingModels(fold_models)
    final = _build(data, rows, models)
    assert final.final_members == "bagging"
    assert final.best_row.trial_id == _best_id(rows) and final.best_row.outcome is not None
    assert [m.trial_id for m in final.model.members] == final.plan.trial_ids
    for member in final.model.members:
        assert member.fold_models is fold_models[member.trial_id]
    assert final.best_single is not None
    assert final.best_single.members[0].fold_models is fold_models[final.best_row.trial_id]
    # only the members' and the best trial's fold models are fetched
    assert models.read == {*final.plan.trial_ids, final.best_row.trial_id}
    assert set(final.inference) >= {"model_batch_ms_per_row", "best_single_single_row_ms"}


def test_a_best_single_final_model_predicts_like_its_trial(data, searched):
    rows, fold_models = searched
    final = _build(data, rows, fold_models, method="best")
    assert final.plan.method == "best" and len(final.model.members) == 1
    frame = make_mixed_table(30, seed=5)
    np.testing.assert_array_equal(final.model.predict_proba(frame), final.best_single.predict_proba(frame))


def test_refit_members_are_fitted_once_on_every_row(data, searched):
    rows, fold_models = searched
    final = _build(data, rows, fold_models, method="best", final_members="refit_full")
    (member,) = final.model.members
    assert final.final_members == "refit_full" and len(member.fold_models) == 1
    assert member.fold_models[0] is not fold_models[member.trial_id][0]
    assert len(member.fold_models[0].named_steps["preprocess"].transform(data.X)) == len(data.y)


@pytest.mark.parametrize(("time_s", "mode"), [(1e6, "refit_full"), (1e-9, "bagging")], ids=["ample-time", "no-time"])
def test_auto_members_refit_only_when_the_budget_allows(data, searched, time_s, mode):
    rows, fold_models = searched
    final = _build(data, rows, fold_models, method="best", final_members="auto", budget=Budget(time_s))
    assert final.final_members == mode


def test_refit_is_the_same_as_refit_full(data, searched):
    rows, fold_models = searched
    assert _build(data, rows, fold_models, method="best", final_members="refit").final_members == "refit_full"


def test_for_serving_saves_the_fastest_final_model_within_the_tolerance(data, searched):
    rows, fold_models = searched
    metric = get_metric("roc_auc")
    final = _build(data, rows, fold_models, for_serving=True, score_tolerance=1.0)  # any score will do
    names = [a["name"] for a in final.serving]
    assert names[0].startswith(final.plan.method) and "best single refit_full" in names
    fastest = min(final.serving, key=lambda a: (a["single_row_ms"], a["batch_ms_per_row"]))
    assert final.serving_choice == fastest["name"]
    assert final.final_members == fastest["final_members"]
    assert final.model.reference is not None  # a served model monitors drift, whichever was chosen
    assert all(len(m.fold_models) == 1 for m in final.model.members) == (fastest["final_members"] == "refit_full")
    frame = make_mixed_table(30, seed=5)
    assert final.model.predict_proba(frame).shape == (30, 2)

    strict = _build(data, rows, fold_models, for_serving=True, score_tolerance=0.0)
    best = (
        max(a["score"] for a in strict.serving) if metric.greater_is_better else min(a["score"] for a in strict.serving)
    )
    chosen = next(a for a in strict.serving if a["name"] == strict.serving_choice)
    assert chosen["score"] == best  # no score given up: only the best-scoring ones (and their refits) qualify


def test_no_budget_keeps_the_fold_models_for_auto(data, searched):
    rows, fold_models = searched
    assert _build(data, rows, fold_models, method="best", final_members="auto").final_members == "bagging"


def test_no_finished_trial_is_a_search_error_quoting_the_failures(data, searched):
    rows, _ = searched
    unfinished = [r for r in rows if r.status is not TrialStatus.DONE]
    with pytest.raises(SearchError, match=r"no trial finished .*\(2 started\).*Failures: ValueError: bad neighbours"):
        _build(data, unfinished, {})


def test_ranking_skips_trials_without_kept_predictions_and_keeps_start_order_on_ties():
    oof = np.zeros((4, 2))

    def row(trial_id: str, score: float, out_of_fold=oof) -> TrialRow:
        outcome = TrialOutcome("linear", {}, score=score, out_of_fold=out_of_fold)
        return TrialRow.of(trial_id, outcome)

    rows = [row("a", 0.7), row("b", 0.9), row("c", 0.9), row("forgotten", 0.99, None), row("unkept", 0.95)]
    kept = {"a", "b", "c", "forgotten"}
    assert [t.trial_id for t in ranked_trials(rows, kept, get_metric("roc_auc"))] == ["b", "c", "a"]
    assert [t.trial_id for t in ranked_trials(rows, kept, get_metric("log_loss"))] == ["a", "b", "c"]


def _repeat(data, trial_id, fold_models, seed):
    """The trial cross-validated on a second split, as `job.repeats` does."""
    family, params = CONFIGS[trial_id]
    folds = make_folds(data.y, classification=True, n_folds=3, seed=seed)
    second = evaluate_config(join_config(family, params), replace(data, folds=folds))
    oof = (second.out_of_fold + ranked_oof(data, trial_id)) / 2
    return Repeated(oof, [*fold_models[trial_id], *second.fold_models], get_metric("roc_auc")(data.y, oof, 2))


def ranked_oof(data, trial_id):
    family, params = CONFIGS[trial_id]
    return evaluate_config(join_config(family, params), data).out_of_fold


def test_repeated_trials_are_kept_only_when_the_nested_score_improves(data, searched):
    rows, fold_models = searched
    one_split = _build(data, rows, fold_models, method="best")
    best = one_split.best_row.trial_id
    repeated = {best: _repeat(data, best, fold_models, seed=1)}
    final = build_final_model(
        rows, fold_models, data, get_metric("roc_auc"), method="best", top_k=3, final_members="bagging",
        max_inference_ms_per_row=None, budget=Budget(None), sample=make_mixed_table(20, seed=9), repeated=repeated,
    )  # fmt: skip
    kept = get_metric("roc_auc").is_better(repeated[best].score, one_split.plan.cv_score)
    assert any(n.startswith("repeated bagging: " + ("1 trial" if kept else "not kept")) for n in final.notes)
    (member,) = final.model.members
    assert len(member.fold_models) == (6 if kept else 3)
    # better averaged predictions are kept, with both bags
    perfect = np.eye(2, dtype=np.float32)[data.y]
    better = {best: Repeated(perfect, repeated[best].fold_models, 1.0)}
    final = build_final_model(
        rows, fold_models, data, get_metric("roc_auc"), method="best", top_k=3, final_members="bagging",
        max_inference_ms_per_row=None, budget=Budget(None), sample=make_mixed_table(20, seed=9), repeated=better,
    )  # fmt: skip
    assert final.plan.cv_score == 1.0 and len(final.model.members[0].fold_models) == 6
    assert final.model.members[0].fold_models == repeated[best].fold_models
    # worse averaged predictions are never kept
    worse = {best: Repeated(np.full_like(repeated[best].out_of_fold, 0.5), repeated[best].fold_models, 0.5)}
    final = build_final_model(
        rows, fold_models, data, get_metric("roc_auc"), method="best", top_k=3, final_members="bagging",
        max_inference_ms_per_row=None, budget=Budget(None), sample=make_mixed_table(20, seed=9), repeated=worse,
    )  # fmt: skip
    assert len(final.model.members[0].fold_models) == 3
    assert any(n.startswith("repeated bagging: not kept") for n in final.notes)


def test_a_second_layer_learns_on_the_first_layers_out_of_fold_predictions(data, searched):
    from automl.data.coercion import feature_columns
    from automl.ensemble.second_layer import ID_PREFIX, fit_second_layer
    from automl.pipeline.layers import PREFIX, with_layer_columns
    from automl.pipeline.model import TabularModel

    rows, fold_models = searched
    ranked = ranked_trials(rows, fold_models, get_metric("roc_auc"))
    layer = fit_second_layer(ranked, data, None)
    assert [t.trial_id for t in layer.base] == [t.trial_id for t in ranked]  # three trials: all of them
    assert {t.row.family for t in layer.trials} == {"linear", "knn"}  # the best of each family
    assert all(t.trial_id.startswith(ID_PREFIX) for t in layer.trials)
    fitted = layer.trials[0].outcome.fold_models[0]
    assert any(name.startswith(PREFIX) for name in fitted.named_steps["preprocess"].feature_names_in_)
    # as a model: the base's bagged predictions become the members' extra columns
    base = [t.member(fold_models[t.trial_id]) for t in layer.base]
    members = [t.member(t.outcome.fold_models) for t in layer.trials]
    model = TabularModel(data.schema, "roc_auc", members, base=base)
    frame = make_mixed_table(25, seed=6)
    X = data.X.iloc[:25]
    first = [m.predict_raw(X, "binary", 2) for m in base]
    expected = np.mean([m.predict_raw(with_layer_columns(X, first, "binary", 2), "binary", 2) for m in members], axis=0)
    np.testing.assert_allclose(model.predict_features(X), expected / expected.sum(axis=1, keepdims=True))
    # served rows arrive as column arrays: the same predictions
    records = frame.drop(columns=["target"]).to_dict(orient="records")
    np.testing.assert_allclose(
        model.predict_features(feature_columns(records, data.schema)), model.predict_proba(frame), atol=1e-9
    )


def test_the_second_layer_is_kept_only_when_its_nested_score_improves(data, searched):
    rows, fold_models = searched
    budget = Budget(None)
    budget.reserve("layer2", 1.0)
    final = _build(data, rows, fold_models, budget=budget)
    (note,) = [n for n in final.notes if n.startswith("second layer:")]
    one_layer = _build(data, rows, fold_models)
    if note.split(";")[-1].strip().startswith("kept ("):
        assert final.model.base and final.plan.cv_score > one_layer.plan.cv_score
        assert all(m.trial_id.startswith("layer2:") for m in final.model.members)
    else:
        assert final.model.base is None and final.plan.cv_score == one_layer.plan.cv_score
    assert final.best_single.members[0].trial_id == one_layer.best_single.members[0].trial_id
