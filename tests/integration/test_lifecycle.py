"""The stages around the search on a real job: data quality, privacy, evaluation, report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tables import REPORT_SECTIONS as SECTIONS
from tables import make_mixed_table

from automl.artifacts.store import load_model
from automl.data.coercion import coerce_features
from automl.data.privacy import hash_column
from automl.features.choices import describe_choices
from automl.job.run import run_job
from automl.spec import JobSpec

pytestmark = pytest.mark.usefixtures("ray_instance")


def _personal_table(n_rows: int = 300, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = make_mixed_table(n_rows=n_rows, seed=seed)
    frame["email"] = [f"user{i}.{rng.integers(1000)}@example.org" for i in range(n_rows)]
    frame["customer_name"] = rng.choice(["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"], n_rows)
    frame["group"] = rng.choice(["a", "b"], n_rows)
    frame["weight"] = rng.uniform(0.5, 2.0, n_rows)
    return frame


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    frame = _personal_table()
    root = tmp_path_factory.mktemp("lifecycle")
    frame.to_parquet(root / "train.parquet", index=False)
    spec = JobSpec.from_dict(
        {
            "name": "lifecycle",
            "data": {"train": str(root / "train.parquet"), "target": "target", "weight_column": "weight"},
            "budget": {"max_trials": 6},
            "search": {"models": ["linear", "lightgbm"], "cv_folds": 3},
            "data_quality": {"hash": ["city"]},
            "evaluation": {"sensitive_features": ["group"], "max_rows": 200},
        }
    )
    result, location = run_job(spec, root / "run", show_progress=False)
    return frame, result, root / "run"


def test_personal_data_is_flagged_and_left_out_and_hashed_columns_keep_their_salt(run):
    frame, result, directory = run
    schema = load_model(directory / "model").schema
    kinds = {c.name: c for c in schema.columns}
    for name in ("email", "customer_name"):
        assert kinds[name].kind == "excluded" and "personal data" in kinds[name].note
    assert "city" in schema.hashed and kinds["city"].kind == "categorical"
    privacy = json.loads((directory / "summary.json").read_text())["privacy"]
    flagged = {f["column"]: f for f in privacy["flagged"]}
    assert flagged["email"]["kind"] == "email" and flagged["email"]["action"] == "excluded"
    assert flagged["customer_name"]["kind"] == "person_name"
    assert privacy["hashed"] == ["city"]
    # prediction hashes the raw values with the job's salt: a loaded model predicts as the fitted one
    rows = frame.drop(columns=["target"]).head(20)
    np.testing.assert_allclose(load_model(directory / "model").predict_proba(rows), result.model.predict_proba(rows))
    coerced = coerce_features(rows, schema)["city"]
    assert not set(coerced) & set(rows["city"])  # the models see only hashes
    assert list(coerced) == list(hash_column(rows["city"], schema.hashed["city"]))


def test_the_summary_holds_the_quality_report_and_an_out_of_fold_evaluation(run):
    frame, _, directory = run
    summary = json.loads((directory / "summary.json").read_text())
    quality = summary["data_quality"]
    assert quality["n_rows"] == len(frame)
    assert "id_like" in {c["check"] for c in quality["checks"]}  # row_id
    assert any("personal data" in a for a in quality["actions"])
    evaluation = summary["evaluation"]
    assert evaluation["source"] == "out_of_fold" and evaluation["n_rows"] == len(frame)
    assert evaluation["metrics"]["roc_auc"] > evaluation["baseline"]["roc_auc"]
    # the out-of-fold score of the final model is what the ensemble was judged by
    assert evaluation["metrics"]["roc_auc"] == pytest.approx(summary["ensemble_cv_score"], abs=0.02)
    groups = {g["group"] for g in evaluation["fairness"]["group"]["groups"]}
    assert groups == {"a", "b"}
    assert evaluation["robustness"]["missing"] and evaluation["importance"]
    assert {i["feature"] for i in evaluation["importance"]} <= set(load_model(directory / "model").schema.features)


def test_feature_choices_are_trial_parameters_and_on_the_leaderboard(run):
    _, result, directory = run
    board = pd.read_csv(directory / "leaderboard.csv")
    done = board[board["status"] == "done"]
    assert len(done) >= 3
    for _, row in done.iterrows():
        params = json.loads(row["params"])
        assert {"fe_encoding", "fe_select", "fe_class_weight"} <= set(params), params
        assert row["features"] == describe_choices(params)
    linear = [json.loads(p) for p in done.loc[done["model"] == "linear", "params"]]
    assert linear and all("fe_scale" in p and "fe_pca" in p for p in linear)
    assert "weight" not in load_model(directory / "model").schema.features  # the weights are no feature


def test_the_report_has_every_section_with_its_plots(run):
    _, _, directory = run
    page = (directory / "report.html").read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in page, section
    assert page.count("data:image/png;base64,") >= 5
    assert "http://" not in page and "https://" not in page
