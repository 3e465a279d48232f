from __future__ import annotations

import pickle
import subprocess
import sys
import time

import numpy as np
import pytest
from tables import assert_sampler_takes_points
from threadpoolctl import threadpool_limits

from automl.data import coerce_features, infer_schema, make_folds
from automl.errors import SpecError
from automl.models import family_keys, get_family, register
from automl.models.base import fit_time_limit
from automl.models.linear import Linear
from automl.models.trees import FOREST_NODE_BUDGET, SMALL_TABLE_ROWS, leaves_per_tree
from automl.pipeline.trial import TrialData, evaluate_config
from automl.search.space import default_points

ALL = [
    "linear", "hist_gradient_boosting", "lightgbm", "xgboost", "catboost", "random_forest", "extra_trees", "knn", "mlp",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    # as a trial's worker pins them: oversubscribed OpenMP pools crawl on a busy machine
    with threadpool_limits(limits=1):
        yield


def test_registry_holds_every_family_cheapest_first():
    assert family_keys() == ALL


def test_registry_refuses_a_duplicate_key():
    with pytest.raises(ValueError, match="already registered"):
        register(Linear())


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(SpecError, match="choose from linear, hist_gradient_boosting"):
        get_family("tabpfn")


@pytest.mark.parametrize("n_rows", [500, 1_000_000])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_defaults_lie_inside_each_search_space(task, n_rows):
    """Enqueued defaults must be accepted by the sampler as they are (not resampled)."""
    families = {k: get_family(k) for k in ALL}
    assert_sampler_takes_points(families, default_points(families, n_rows, task), n_rows, task)


def _data(frame, task_metric):
    schema = infer_schema(frame, "target")
    y_raw = frame["target"]
    if schema.task == "regression":
        y = y_raw.to_numpy(dtype=float)
    else:
        y = np.searchsorted(np.array(schema.classes, dtype=object), y_raw.to_numpy(dtype=object))
    folds = make_folds(y, classification=schema.task != "regression", n_folds=3, seed=0)
    families = {k: get_family(k) for k in ALL}
    return TrialData(coerce_features(frame, schema), y, schema, folds, task_metric, families, 0, 1)


@pytest.mark.parametrize("family", ALL)
@pytest.mark.parametrize(
    "table, metric", [("binary_table", "roc_auc"), ("multiclass_table", "log_loss"), ("regression_table", "rmse")]
)
def test_each_family_cross_validates_each_task(family, table, metric, request):
    data = _data(request.getfixturevalue(table), metric)
    config = default_points({family: get_family(family)}, len(data.y), data.schema.task)[0]
    outcome = evaluate_config(config, data)
    assert outcome.error is None, outcome.error
    assert np.isfinite(outcome.score)
    assert len(outcome.fold_scores) == 3 and len(outcome.fold_models) == 3
    assert not np.isnan(outcome.out_of_fold).any()
    expected_shape = (len(data.y),) if metric == "rmse" else (len(data.y), data.n_classes)
    assert outcome.out_of_fold.shape == expected_shape
    if metric != "rmse":
        np.testing.assert_allclose(outcome.out_of_fold.sum(axis=1), 1.0, atol=1e-4)
    # the models learn something: better than a constant prediction
    if metric == "rmse":
        assert np.sqrt(np.mean((outcome.out_of_fold - data.y) ** 2)) < np.std(data.y)
    else:
        majority = np.bincount(data.y).max() / len(data.y)
        assert np.mean(outcome.out_of_fold.argmax(axis=1) == data.y) > majority


def test_a_broken_configuration_becomes_a_failed_outcome(binary_table):
    data = _data(binary_table, "roc_auc")
    outcome = evaluate_config({"model": "knn", "knn__n_neighbors": -3, "knn__weights": "uniform"}, data)
    assert not outcome.ok
    assert "n_neighbors" in outcome.error
    assert outcome.fold_models is None and outcome.out_of_fold is None
    assert "Traceback" in outcome.error_traceback


class _Recorder:
    """A `Suggester` that records each dimension's range and answers its lower bound."""

    def __init__(self) -> None:
        self.space: dict[str, tuple] = {}

    def suggest_int(self, name, low, high, *, log=False):
        self.space[name] = (low, high)
        return low

    suggest_float = suggest_int

    def suggest_categorical(self, name, choices):
        self.space[name] = tuple(choices)
        return choices[0]


def _space(family: str, n_rows: int, task: str = "regression") -> dict[str, tuple]:
    recorder = _Recorder()
    get_family(family).search_space(recorder, n_rows, task)
    return recorder.space


@pytest.mark.parametrize("n_rows", [10, 59, 60, 500, 2001, 20_000, 1_000_000])
def test_row_scaled_bounds_are_as_they_were(n_rows):
    # the expressions each family wrote out before one helper replaced them
    assert _space("lightgbm", n_rows)["min_child_samples"] == (2, max(3, min(100, n_rows // 20)))
    assert get_family("lightgbm").default_params(n_rows, "binary")["min_child_samples"] == min(
        20, max(3, min(100, n_rows // 20))
    )
    assert _space("hist_gradient_boosting", n_rows)["min_samples_leaf"] == (2, max(3, min(100, n_rows // 20)))
    assert get_family("hist_gradient_boosting").default_params(n_rows, "binary")["min_samples_leaf"] == min(
        20, max(2, min(100, n_rows // 20))
    )
    assert _space("knn", n_rows)["n_neighbors"] == (1, max(2, min(100, n_rows // 10)))
    assert get_family("knn").default_params(n_rows, "binary")["n_neighbors"] == min(10, max(2, min(100, n_rows // 10)))


@pytest.mark.parametrize("family", ["random_forest", "extra_trees"])
@pytest.mark.parametrize("n_rows", [50, 500, 5000, SMALL_TABLE_ROWS])
def test_forests_on_small_tables_are_searched_as_before(family, n_rows):
    assert _space(family, n_rows, "binary") == {
        "n_estimators": (50, 500),
        "max_features": ("sqrt", "log2", 0.5, 0.8, 1.0),
        "min_samples_leaf": (1, max(2, min(50, n_rows // 20))),
    }
    assert get_family(family).default_params(n_rows, "binary") == {
        "n_estimators": 200,
        "max_features": "sqrt",
        "min_samples_leaf": 1,
    }


@pytest.mark.parametrize("n_rows", [SMALL_TABLE_ROWS + 1, 200_000, 1_000_000, 10_000_000])
def test_forests_on_large_tables_keep_within_the_node_budget(n_rows):
    family = get_family("random_forest")
    space = _space("random_forest", n_rows)
    low, high = space["min_samples_leaf"]
    assert low == max(1, n_rows // 20_000) and high > low  # the smallest leaf rises with the rows
    # the recorder answers the fewest trees and smallest leaves: the largest trees searched
    cap = leaves_per_tree(space["n_estimators"][0])
    assert space["max_leaf_nodes"] == (cap, cap)
    defaults = family.default_params(n_rows, "regression")
    assert defaults["max_leaf_nodes"] == leaves_per_tree(defaults["n_estimators"])
    assert defaults["min_samples_leaf"] == low
    for n_estimators in range(space["n_estimators"][0], space["n_estimators"][1] + 1):
        assert n_estimators * (2 * leaves_per_tree(n_estimators) - 1) <= FOREST_NODE_BUDGET


def test_boosting_model_size_does_not_grow_with_rows():
    # rounds x leaves a round bound a boosted model's size; none of them grows past 20k rows
    # (the early-stopping families' rounds are capped by ROUND_CAP, not searched)
    for family, size in [
        ("lightgbm", ["num_leaves"]),
        ("xgboost", ["max_depth"]),
        ("catboost", ["depth"]),
        ("hist_gradient_boosting", ["max_iter", "max_leaf_nodes"]),
    ]:
        bounds = [{name: _space(family, n_rows)[name][1] for name in size} for n_rows in (20_001, 10_000_000)]
        assert bounds[0] == bounds[1], family
    assert _space("lightgbm", 10**7)["num_leaves"][1] <= 256 and _space("xgboost", 10**7)["max_depth"][1] <= 10


@pytest.mark.slow
@pytest.mark.parametrize("family", ["random_forest", "extra_trees"])
def test_a_forest_on_a_large_table_has_at_most_its_budgeted_nodes_a_tree(family):
    n_rows = 200_000
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_rows, 5))
    y = X @ rng.normal(size=5) + np.sin(3 * X[:, 0]) + rng.normal(scale=0.1, size=n_rows)
    params = get_family(family).default_params(n_rows, "regression")
    cap = params["max_leaf_nodes"]
    estimator = get_family(family).make_estimator({**params, "n_estimators": 2}, "regression", 0, 1)
    estimator.fit(X, y)  # two of the forest's trees: each is as large as one of its 100 may be
    assert all(tree.tree_.node_count <= 2 * cap - 1 for tree in estimator.estimators_)
    assert max(tree.get_n_leaves() for tree in estimator.estimators_) == cap  # the cap is what stopped it
    assert params["n_estimators"] * (2 * cap - 1) <= FOREST_NODE_BUDGET


def _fitted(family: str, X, y, *, clock: bool, n_threads: int = 1, **params):
    estimator = get_family(family).make_estimator(
        {**get_family(family).default_params(len(y), "binary"), **params}, "binary", 0, n_threads
    )
    if not clock:
        return estimator.fit(X, y)
    with fit_time_limit(time.time() + 600):
        return estimator.fit(X, y)


@pytest.mark.parametrize("family", ["random_forest", "extra_trees"])
def test_a_forest_grown_in_chunks_has_the_trees_of_one_fit(family):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 6))
    y = (X[:, 0] + rng.normal(size=2000) > 0).astype(int)
    free = _fitted(family, X, y, clock=False, n_threads=2, n_estimators=57)
    timed = _fitted(family, X, y, clock=True, n_threads=2, n_estimators=57)
    assert len(timed.estimators_) == 57 and timed.get_params() == free.get_params()
    for a, b in zip(free.estimators_, timed.estimators_, strict=True):
        np.testing.assert_array_equal(a.tree_.threshold, b.tree_.threshold)
        np.testing.assert_array_equal(a.tree_.value, b.tree_.value)


@pytest.mark.parametrize("early_stopping", [True, False])
def test_timed_histogram_boosting_fits_as_without_the_clock(early_stopping):
    # above 10k rows "auto" early stopping holds out a validation split: the same one
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12_000, 6))
    y = (X[:, 0] + rng.normal(size=12_000) > 0).astype(int)
    free = _fitted("hist_gradient_boosting", X, y, clock=False, early_stopping=early_stopping, learning_rate=0.3)
    timed = _fitted("hist_gradient_boosting", X, y, clock=True, early_stopping=early_stopping, learning_rate=0.3)
    assert timed.n_iter_ == free.n_iter_ and (timed.n_iter_ < 100) == early_stopping
    np.testing.assert_array_equal(timed.predict_proba(X), free.predict_proba(X))
    assert type(timed._loss) is type(free._loss)  # the fitted model keeps scikit-learn's loss


TIMED = ["lightgbm", "xgboost", "catboost", "hist_gradient_boosting", "random_forest", "extra_trees"]


def test_timed_models_pickle_and_predict_in_a_fresh_process(tmp_path):
    """A model fitted under a clock whose deadline is long past loads, predicts and refits
    without it (no stale deadline) in a process that never imported the model libraries."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 4))
    y = (X[:, 0] > 0).astype(int)
    models = {}
    for family in TIMED:
        with fit_time_limit(time.time() + 60):
            models[family] = (
                get_family(family)
                .make_estimator(get_family(family).default_params(500, "binary"), "binary", 0, 1)
                .fit(X, y)
            )
    expected = {family: model.predict_proba(X) for family, model in models.items()}
    (tmp_path / "models.pkl").write_bytes(pickle.dumps((models, expected, X, y)))
    script = f"""
import pickle, sys, time
import numpy as np
with open({str(tmp_path / "models.pkl")!r}, "rb") as handle:
    models, expected, X, y = pickle.load(handle)
assert "lightgbm" in sys.modules and "automl.models.lightgbm" in sys.modules
from automl.models.base import fit_time_limit
for family, model in models.items():
    np.testing.assert_array_equal(model.predict_proba(X), expected[family])
    model.fit(X, y)
    with fit_time_limit(time.time() + 60):
        model.fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), expected[family])
print("ok", sorted(type(m).__name__ for m in models.values()))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "TimedLGBMClassifier" in result.stdout and "XGBClassifier" in result.stdout
    assert "TimedCatBoostClassifier" in result.stdout


def test_timed_estimators_are_the_libraries_estimators():
    import lightgbm
    import xgboost
    from sklearn.base import clone

    lgbm = get_family("lightgbm").make_estimator(get_family("lightgbm").default_params(500, "binary"), "binary", 0, 1)
    assert isinstance(lgbm, lightgbm.LGBMClassifier)
    assert clone(lgbm).get_params() == lgbm.get_params()
    xgb = get_family("xgboost").make_estimator(get_family("xgboost").default_params(500, "binary"), "binary", 0, 1)
    assert isinstance(xgb, xgboost.XGBClassifier)
    (callback,) = xgb.get_params()["callbacks"]
    assert vars(callback) == {}  # nothing to go stale: the deadline is read when it runs
