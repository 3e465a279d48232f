"""Every job setting reaches the JobSpec the same way from each face: CLI, AutoML, estimators."""

from __future__ import annotations

import inspect

import pytest
from sklearn.base import clone

from automl.api import AutoML
from automl.cli import build_parser
from automl.errors import SpecError
from automl.estimators import AutoMLClassifier, AutoMLRegressor
from automl.spec import OPTIONS, JobSpec, spec_from_options

# A value for each option that differs from its default: an option missing here fails
# `test_every_option_has_a_sample`, so a new option is tested the day it is added.
SAMPLES = {
    "task": "binary",
    "metric": "f1",
    "positive_class": "yes",
    "time_budget_s": 42.0,
    "max_trials": 7,
    "strategy": "random",
    "models": ["linear", "knn"],
    "cv_folds": 3,
    "seed": 11,
    "trial_timeout_s": 9.5,
    "max_retries": 3,
    "portfolio": "none",
    "ensemble": "stacking",
    "top_k": 4,
    "final_members": "refit_full",
    "max_inference_ms_per_row": 2.5,
    "save_best_single": True,
    "for_serving": True,
    "score_tolerance": 0.01,
    "drop_columns": ["notes"],
    "hash_columns": ["city", "zip"],
    "allow_personal_data": True,
    "clip_outliers": True,
    "sensitive_features": ["sex"],
    "fixed_features": True,
    "weight_column": "w",
    "cpus_per_trial": 2.0,
    "max_cpus": 3.0,
    "address": "ray://127.0.0.1:10001",
}


def _field(spec: JobSpec, path: tuple[str, ...]):
    node = spec
    for key in path:
        node = getattr(node, key)
    return node


def _flag_args(option, value) -> list[str]:
    if option.is_switch:
        return [option.cli_flag]
    return [option.cli_flag, ",".join(value) if option.is_list else str(value)]


def test_every_option_has_a_sample():
    assert set(SAMPLES) == {o.name for o in OPTIONS}


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_each_cli_flag_reaches_the_spec(option):
    args = build_parser().parse_args(["fit", "t.csv", "--target", "y", *_flag_args(option, SAMPLES[option.name])])
    options = {o.name: getattr(args, o.name) for o in OPTIONS}
    spec = spec_from_options(train=args.data, target=args.target, **options)
    assert _field(spec, option.path) == SAMPLES[option.name]


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_each_automl_keyword_reaches_the_spec(option):
    assert option.name in inspect.signature(AutoML).parameters
    spec = AutoML(**{option.name: SAMPLES[option.name]}).spec("y", train="t.csv")
    assert _field(spec, option.path) == SAMPLES[option.name]


@pytest.mark.parametrize("estimator", [AutoMLClassifier, AutoMLRegressor], ids=["classifier", "regressor"])
@pytest.mark.parametrize("option", [o for o in OPTIONS if o.estimators], ids=lambda o: o.name)
def test_each_estimator_parameter_reaches_the_spec(estimator, option):
    est = clone(estimator(**{option.name: SAMPLES[option.name]}))  # get_params / set_params keep it too
    task = "binary" if estimator is AutoMLClassifier else "regression"
    spec = est._automl(task).spec("y", train="t.csv")
    assert _field(spec, option.path) == SAMPLES[option.name]


def test_options_left_unset_keep_the_spec_defaults():
    assert AutoML(time_budget_s=None, max_trials=None).spec("y").model_dump() == JobSpec.from_dict(
        {"data": {"train": "<dataframe>", "target": "y"}, "task": "auto", "ensemble": {"method": "selection"},
         "search": {"strategy": "tpe", "cv_folds": 5, "seed": 0}, "resources": {"cpus_per_trial": 1.0}}
    ).model_dump()  # fmt: skip


def test_an_unknown_option_is_refused():
    with pytest.raises(SpecError, match="unknown option"):
        spec_from_options(train="t.csv", target="y", time_budget=5)
