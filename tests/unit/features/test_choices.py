"""Feature engineering as search choices: which a table offers, what each does to the
fitted pipeline, the compiled replay of each, and class and sample weights."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from tables import make_mixed_table

from automl.data import coerce_features, infer_schema
from automl.features.choices import (
    OPTIONS,
    FeatureChoices,
    TableTraits,
    choice_defaults,
    model_params,
    training_weights,
)
from automl.features.compiled import compile_pipeline
from automl.features.selection import TopShare
from automl.models import registry
from automl.pipeline.trial import build_pipeline, fit_pipeline
from automl.search.portfolio import fit_to_space, with_feature_defaults
from automl.search.space import ConditionalSpace


def _table(task: str = "binary", n_rows: int = 300, seed: int = 3):
    frame = make_mixed_table(n_rows=n_rows, seed=seed, task=task)
    schema = infer_schema(frame, "target")
    target = frame["target"]
    y = target.to_numpy(dtype=float) if task == "regression" else pd.factorize(target, sort=True)[0]
    return coerce_features(frame, schema), y, schema


def _awkward(schema) -> pd.DataFrame:
    rows = pd.DataFrame(
        {
            "row_id": [1, 2, 3, 4],
            "x1": [0.5, np.nan, -3.0, 1e6],
            "x2": [np.nan, 4.0, np.nan, 0.0],
            "colour": ["red", None, "purple", "blue"],
            "city": ["c1", "atlantis", None, "c7"],
            "flag": [True, False, None, True],
            "when": ["2021-03-04", None, "1969-12-31", "not a date"],
        }
    )
    return coerce_features(rows, schema)


def _steps(pipeline) -> dict[str, object]:
    """Every fitted step of the pipeline, the column transformer's parts flattened, by type name."""
    found: dict[str, object] = {}
    for _, step in pipeline.steps:
        found[type(step).__name__] = step
    for _, part, _ in pipeline.named_steps["preprocess"].transformers_:
        for inner in getattr(part, "steps", [(None, part)]):
            found[type(inner[1]).__name__] = inner[1]
            chosen = getattr(inner[1], "chosen_", None)
            for deeper in getattr(chosen, "steps", []):
                found[type(deeper[1]).__name__] = deeper[1]
    return found


def test_every_family_offers_only_known_choices_and_the_table_decides_which():
    for key in registry.family_keys():
        assert registry.get_family(key).feature_choices <= set(OPTIONS), key
    _, _, schema = _table("regression")
    traits = TableTraits.of(schema)
    assert traits.numeric_missing and traits.categorical and traits.datetime and not traits.classification
    linear = registry.get_family("linear")
    assert "fe_class_weight" not in traits.offered(linear)  # regression: no class weights
    assert {"fe_impute", "fe_scale", "fe_encoding", "fe_pca"} <= set(traits.offered(linear))
    catboost = registry.get_family("catboost")
    assert "fe_encoding" not in TableTraits.of(_table()[2]).offered(catboost)  # its own categories
    numbers_only = TableTraits(numeric_missing=False, categorical=False, datetime=False, classification=True)
    assert numbers_only.offered(linear) == ["fe_scale", "fe_select", "fe_pca", "fe_class_weight"]
    assert "fe_class_weight" not in numbers_only.offered(registry.get_family("knn"))  # no sample weights


def test_a_choice_with_an_unknown_value_is_refused():
    with pytest.raises(ValueError, match="fe_scale must be one of standard, robust, none"):
        FeatureChoices.of({"fe_scale": "minmax"})
    with pytest.raises(ValueError, match="fe_select_share"):
        FeatureChoices.of({"fe_select": "model", "fe_select_share": 0.0})
    assert model_params({"C": 1.0, "fe_scale": "none"}) == {"C": 1.0}


@pytest.mark.parametrize(
    ("params", "present", "absent"),
    [
        ({}, {"StandardScaler", "OneHotEncoder", "TargetEncoder"}, {"RobustScaler", "PCA", "TopShare"}),
        ({"fe_scale": "robust"}, {"RobustScaler"}, {"StandardScaler"}),
        ({"fe_scale": "none"}, set(), {"StandardScaler", "RobustScaler"}),
        ({"fe_encoding": "ordinal"}, {"OrdinalEncoder"}, {"OneHotEncoder", "TargetEncoder"}),
        ({"fe_encoding": "target"}, {"TargetEncoder"}, {"OneHotEncoder", "OrdinalEncoder"}),
        ({"fe_select": "variance"}, {"VarianceThreshold"}, {"TopShare"}),
        ({"fe_select": "mutual_info", "fe_select_share": 0.4}, {"TopShare"}, set()),
        ({"fe_select": "model"}, {"TopShare"}, set()),
        ({"fe_pca": "pca"}, {"PCA"}, set()),
    ],
)
def test_each_choice_changes_the_fitted_pipeline(params, present, absent):
    X, y, schema = _table()
    pipeline = build_pipeline(registry.get_family("linear"), {"C": 1.0, **params}, schema, 0, 1)
    pipeline.fit(X, y)
    steps = _steps(pipeline)
    assert present <= set(steps), (present, set(steps))
    assert not absent & set(steps), (absent, set(steps))
    width = pipeline.named_steps["preprocess"].transform(X).shape[1]
    if params.get("fe_select") in ("mutual_info", "model"):
        share = params.get("fe_select_share", 0.5)
        assert pipeline.named_steps["select"].get_support().sum() == max(1, round(share * width))
    if "fe_pca" in params:
        assert 1 <= pipeline.named_steps["pca"].n_components_ < width


def test_imputation_and_date_choices():
    X, y, schema = _table()
    family = registry.get_family("linear")
    mean = build_pipeline(family, {"C": 1.0, "fe_impute": "mean"}, schema, 0, 1).fit(X, y)
    imputer = mean.named_steps["preprocess"].named_transformers_["numeric"].steps[0][1]
    assert imputer.statistics_[list(schema.names_of("numeric")).index("x2")] == pytest.approx(np.nanmean(X["x2"]))
    parts = build_pipeline(family, {"C": 1.0}, schema, 0, 1).fit(X, y)
    days = build_pipeline(family, {"C": 1.0, "fe_datetime": "days"}, schema, 0, 1).fit(X, y)
    width = {name: p.named_steps["preprocess"].transform(X).shape[1] for name, p in (("parts", parts), ("days", days))}
    assert width["parts"] - width["days"] == 5  # year, month, day, weekday and hour dropped


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("linear", {"fe_scale": "robust", "fe_encoding": "target", "fe_impute": "mean", "fe_datetime": "days"}),
        ("linear", {"fe_select": "mutual_info", "fe_select_share": 0.5, "fe_pca": "pca"}),
        ("linear", {"fe_select": "variance", "fe_encoding": "ordinal", "fe_scale": "none"}),
        ("random_forest", {"fe_select": "model", "fe_select_share": 0.3, "fe_encoding": "ordinal"}),
        ("knn", {"fe_pca": "pca", "fe_scale": "robust"}),
    ],
)
def test_the_compiled_replay_of_each_choice_equals_scikit_learn(task, family, params):
    X, y, schema = _table(task)
    model = registry.get_family(family)
    base = model.default_params(len(X), task)
    pipeline = build_pipeline(model, {**base, **params}, schema, 0, 1).fit(X, y)
    compiled = compile_pipeline(pipeline)
    assert compiled is not None
    for rows in (X.head(1), X, _awkward(schema)):
        if task == "regression":
            np.testing.assert_allclose(compiled.predict(rows), pipeline.predict(rows), rtol=1e-9, atol=1e-9)
        else:
            np.testing.assert_allclose(compiled.predict_proba(rows), pipeline.predict_proba(rows), atol=1e-9)


def test_balanced_class_weights_and_sample_weights():
    y = np.array([0] * 90 + [1] * 10)
    weights = training_weights({"fe_class_weight": "balanced"}, y, None, classification=True)
    assert weights[:90] == pytest.approx(100 / (2 * 90)) and weights[90:] == pytest.approx(100 / (2 * 10))
    given = np.full(100, 2.0)
    assert training_weights({}, y, given, True) is not None
    assert training_weights({}, y, None, True) is None
    both = training_weights({"fe_class_weight": "balanced"}, y, given, True)
    np.testing.assert_allclose(both, 2 * weights)
    assert training_weights({"fe_class_weight": "balanced"}, y.astype(float), None, classification=False) is None


def test_class_weights_move_an_imbalanced_model_toward_the_rare_class():
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    frame["target"] = np.where(frame["x"] + rng.normal(scale=1.5, size=n) > 2.2, "rare", "common")
    schema = infer_schema(frame, "target")
    X, y = coerce_features(frame, schema), (frame["target"] == "rare").to_numpy().astype(int)
    linear = registry.get_family("linear")
    shares = {}
    for choice in ("none", "balanced"):
        params = {"C": 1.0, "fe_class_weight": choice}
        pipeline = build_pipeline(linear, params, schema, 0, 1)
        fit_pipeline(pipeline, linear, X, y, "binary", 0, training_weights(params, y, None, True))
        shares[choice] = float(np.mean(pipeline.predict(X) == 1))
    assert shares["balanced"] > 2 * shares["none"]


def test_the_space_declares_the_choices_and_defaults_fill_the_first_points():
    X, _, schema = _table()
    traits = TableTraits.of(schema)
    families = {"linear": registry.get_family("linear")}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: set[str] = set()
    for _ in range(30):
        trial = study.ask()
        ConditionalSpace(families, len(X), "binary", traits)(trial)
        seen |= set(trial.params)
        study.tell(trial, 0.5)
    assert {"linear__fe_scale", "linear__fe_encoding", "linear__fe_pca", "linear__fe_select_share"} <= seen
    without = optuna.create_study().ask()
    ConditionalSpace(families, len(X), "binary", None)(without)
    assert not any("fe_" in k for k in without.params)
    points = with_feature_defaults([{"model": "linear", "linear__C": 2.0}], families, traits)
    assert points == [
        {
            "model": "linear",
            "linear__C": 2.0,
            **{f"linear__{k}": v for k, v in choice_defaults(families["linear"], traits).items()},
        }
    ]
    assert points[0]["linear__fe_scale"] == "standard"


def test_a_portfolio_keeps_valid_choices_and_drops_bad_ones():
    config = {"model": "linear", "linear__C": 3.0, "linear__fe_scale": "robust", "linear__fe_pca": "maybe"}
    point = fit_to_space(config, registry.get_family("linear"), 500, "binary")
    assert point["linear__fe_scale"] == "robust" and "linear__fe_pca" not in point


def test_the_default_choices_fit_the_pipeline_of_no_choices():
    X, y, schema = _table()
    linear = registry.get_family("linear")
    defaults = choice_defaults(linear, TableTraits.of(schema))
    plain = build_pipeline(linear, {"C": 1.0}, schema, 0, 1).fit(X, y)
    chosen = build_pipeline(linear, {"C": 1.0, **defaults}, schema, 0, 1).fit(X, y)
    np.testing.assert_array_equal(plain.predict_proba(X), chosen.predict_proba(X))
    assert [type(s).__name__ for _, s in chosen.steps] == ["ColumnTransformer", "LogisticRegression"]


def test_top_share_scores_a_bounded_sample():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5000, 6))
    y = (X[:, 2] > 0).astype(int)
    step = TopShare("mutual_info", 1 / 6, True, 0).fit(X, y)
    assert np.flatnonzero(step.get_support()).tolist() == [2]
    assert step.transform(X).shape == (5000, 1)
