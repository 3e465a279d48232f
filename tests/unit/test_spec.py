from __future__ import annotations

import pytest

from automl.errors import SpecError
from automl.spec import JobSpec


def _spec(**overrides):
    raw = {"data": {"train": "t.csv", "target": "y"}}
    raw.update(overrides)
    return JobSpec.from_dict(raw)


def test_defaults_fill_a_minimal_spec():
    spec = _spec()
    assert spec.task == "auto"
    assert spec.metric is None
    assert spec.budget.time_s == 60.0  # neither limit given: one minute
    assert spec.search.strategy == "tpe"
    assert spec.search.cv_folds == 5
    assert spec.resources.cpus_per_trial == 1


def test_max_trials_alone_leaves_time_open():
    spec = _spec(budget={"max_trials": 5})
    assert spec.budget.max_trials == 5
    assert spec.budget.time_s is None


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"budget": {"time_s": 0}}, "budget.time_s: must be positive"),
        ({"budget": {"time_s": -5}}, "budget.time_s: must be positive"),
        ({"budget": {"max_trials": 0}}, "budget.max_trials: must be positive"),
        ({"search": {"strategy": "grid"}}, "unknown strategy 'grid'"),
        ({"search": {"models": ["xgboost", "nope"]}}, "unknown model family 'nope'"),
        ({"search": {"models": []}}, "search.models is empty"),
        ({"metric": "auc"}, "unknown metric 'auc'"),
        ({"task": "ranking"}, "task"),
        ({"budgett": {}}, "budgett"),
        ({"search": {"cv_folds": 1}}, "search.cv_folds"),
        ({"search": {"trial_timeout_s": 0}}, "search.trial_timeout_s"),
        ({"search": {"max_retries": -1}}, "search.max_retries"),
        ({"resources": {"max_cpus": 0}}, "resources.max_cpus"),
    ],
    ids=[
        "zero-time",
        "negative-time",
        "zero-trials",
        "unknown-strategy",
        "unknown-family",
        "empty-families",
        "unknown-metric",
        "unknown-task",
        "misspelt-key",
        "one-fold",
        "zero-trial-timeout",
        "negative-retries",
        "zero-cpu-share",
    ],
)
def test_invalid_specs_raise_one_line(overrides, fragment):
    with pytest.raises(SpecError) as info:
        _spec(**overrides)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(
        "name: demo\n"
        "data: {train: a.parquet, target: label}\n"
        "budget: {time_s: 30, max_trials: 12}\n"
        "search: {strategy: random, models: [linear, knn], seed: 3}\n"
    )
    spec = JobSpec.from_yaml(path)
    assert spec.name == "demo"
    assert spec.budget.max_trials == 12
    assert spec.search.models == ["linear", "knn"]
    assert spec.search.seed == 3


@pytest.mark.parametrize(
    "text, fragment",
    [("- a\n- b\n", "must hold a mapping"), ("data: [unclosed\n", "not valid YAML")],
    ids=["list", "broken-yaml"],
)
def test_bad_yaml_files(tmp_path, text, fragment):
    path = tmp_path / "job.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=fragment):
        JobSpec.from_yaml(path)


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="spec file not found"):
        JobSpec.from_yaml(tmp_path / "nope.yaml")
