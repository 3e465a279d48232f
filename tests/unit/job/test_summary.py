"""summary.json's model: strict JSON, every key documented, the contract's keys present."""

from __future__ import annotations

import json
import math

from automl.job.summary import EnsembleMember, RunSummary

CONTRACT_KEYS = {"task", "metric", "n_trials", "n_failed", "best_model", "best_cv_score", "ensemble_cv_score", "wall_s"}


def _summary(**changes: object) -> RunSummary:
    values: dict[str, object] = {
        "name": "t", "task": "binary", "metric": "roc_auc", "target": "y", "classes": ["no", "yes"],
        "positive_class": "yes", "positive_class_reason": "the minority class", "n_rows": 100, "n_features": 3,
        "n_trials": 4, "n_failed": 1, "n_stopped": 0, "n_retried": 0, "concurrent_trials": 2,
        "best_model": "linear", "best_trial": "t.0", "best_params": {"C": 1.0}, "best_cv_score": 0.9,
        "ensemble_method": "selection", "ensemble_requested": "selection", "ensemble_cv_score": 0.91,
        "ensemble_score_kind": "nested cv", "ensemble_reason": "r", "ensemble_nested_scores": {"best": 0.9},
        "ensemble_members": [EnsembleMember(trial_id="t.0", model="linear", weight=1.0)],
        "final_members": "bagging", "inference_ms": {"model_single_row_ms": 1.0}, "strategy": "tpe", "seed": 0,
        "cv_folds": 5, "time_budget_s": 30.0, "max_trials": None, "search_wall_s": 20.0, "first_result_s": 1.0,
        "ensemble_wall_s": 1.0, "notes": [], "spec": {}, "budget": {}, "wall_s": 29.0,
    }  # fmt: skip
    values.update(changes)
    return RunSummary.model_validate(values)


def test_every_key_is_documented_and_the_contract_keys_are_there():
    fields = RunSummary.model_fields
    assert CONTRACT_KEYS <= set(fields)
    undocumented = [name for name, field in fields.items() if not field.description]
    assert undocumented == []


def test_a_score_that_could_not_be_computed_is_written_as_null_not_nan(tmp_path):
    path = _summary(ensemble_cv_score=math.nan, ensemble_nested_scores={"stacking": math.nan}).write(
        tmp_path / "summary.json"
    )
    text = path.read_text()
    assert "NaN" not in text
    data = json.loads(text)  # strict JSON: json.loads would accept NaN, so check the text too
    assert data["ensemble_cv_score"] is None and data["ensemble_nested_scores"] == {"stacking": None}
    assert data["best_cv_score"] == 0.9 and data["ensemble_members"][0]["model"] == "linear"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary file left


def test_the_dictionary_form_is_what_the_file_holds(tmp_path):
    summary = _summary(test_score=0.8, resumed=True)
    written = json.loads(summary.write(tmp_path / "s.json").read_text())
    assert summary.to_json_dict() == written
    assert written["test_score"] == 0.8 and written["resumed"] is True
