"""The final model's evaluation (`automl.evaluation.assessment.evaluate`) on hand-built
predictors whose right answers are known."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl.evaluation.assessment import FoldPredictor, evaluate


def lookup_predictor(proba: np.ndarray) -> Any:
    """Probabilities looked up by the frame's `row` column (a row's position in X)."""

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return proba[frame["row"].to_numpy(dtype=np.int64)]

    return predict


def threshold_predictor(frame: pd.DataFrame) -> np.ndarray:
    """P(class 1) = 1 when x > 0, 0 when x <= 0 or missing; always wrong where g == "bad"."""
    x = frame["x"].to_numpy(dtype=np.float64, na_value=np.nan)
    positive = np.nan_to_num(x, nan=-1.0) > 0
    positive = np.where(frame["g"].to_numpy(dtype=object) == "bad", ~positive, positive)
    p = np.where(positive, 0.95, 0.05)
    return np.column_stack([1 - p, p])


def threshold_table(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = np.where(rng.random(n) < 0.2, "bad", "good")
    X = pd.DataFrame({"x": x, "z": rng.normal(size=n), "g": pd.Series(g, dtype="category")})
    return X, (x > 0).astype(np.int64)


def test_fairness_matches_hand_computed_values() -> None:
    # group A: y 1 1 0 0, predicted 1 0 1 0 -> selection 0.5, TPR 0.5, FPR 0.5, accuracy 0.5
    # group B: y 1 1 0 0, predicted 1 1 1 0 -> selection 0.75, TPR 1.0, FPR 0.5, accuracy 0.75
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    predicted = np.array([1, 0, 1, 0, 1, 1, 1, 0])
    p = np.where(predicted == 1, 0.8, 0.3)
    proba = np.column_stack([1 - p, p])
    X = pd.DataFrame({"row": np.arange(8)})
    sensitive = pd.DataFrame({"group": ["A"] * 4 + ["B"] * 4})
    record = evaluate(
        X, y, task="binary", classes=["no", "yes"], metric="accuracy", source="test",
        folds=[FoldPredictor(rows=np.arange(8), predict=lookup_predictor(proba))], sensitive=sensitive,
        noise_rates=(), missing_rates=(),
    )  # fmt: skip
    entry = record["fairness"]["group"]
    groups = {g["group"]: g for g in entry["groups"]}
    assert groups["A"]["count"] == 4 and groups["B"]["count"] == 4
    assert groups["A"]["accuracy"] == pytest.approx(0.5)
    assert groups["B"]["accuracy"] == pytest.approx(0.75)
    assert groups["A"]["selection_rate"] == pytest.approx(0.5)
    assert groups["B"]["selection_rate"] == pytest.approx(0.75)
    assert entry["demographic_parity_difference"] == pytest.approx(0.25)
    # largest of |TPR_A - TPR_B| = 0.5 and |FPR_A - FPR_B| = 0
    assert entry["equalized_odds_difference"] == pytest.approx(0.5)
    assert record["metrics"]["accuracy"] == pytest.approx(5 / 8)
    assert record["confusion"] == {"labels": ["no", "yes"], "matrix": [[2, 2], [1, 3]]}


def test_a_missing_sensitive_value_is_a_group_and_multiclass_has_no_parity() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, size=60)
    proba = np.full((60, 3), 0.1)
    proba[np.arange(60), y] = 0.8
    X = pd.DataFrame({"row": np.arange(60)})
    sensitive = pd.DataFrame({"region": [None if i % 6 == 0 else ("n" if i % 2 else "s") for i in range(60)]})
    record = evaluate(
        X, y, task="multiclass", classes=["a", "b", "c"], metric="log_loss", source="test",
        folds=[FoldPredictor(rows=np.arange(60), predict=lookup_predictor(proba))], sensitive=sensitive,
        noise_rates=(), missing_rates=(),
    )  # fmt: skip
    entry = record["fairness"]["region"]
    assert {g["group"] for g in entry["groups"]} == {"n", "s", "(missing)"}
    assert sum(g["count"] for g in entry["groups"]) == 60
    assert entry["demographic_parity_difference"] is None
    assert any("binary tasks only" in n for n in record["notes"])
    assert record["metrics"]["accuracy"] == pytest.approx(1.0)
    assert record["metrics"]["log_loss"] == pytest.approx(-np.log(0.8))


def test_each_fold_predicts_only_the_rows_it_never_saw() -> None:
    X, y = threshold_table(300)
    X.index = X.index + 1000  # evaluate reads positions, not labels (and predicts by position)
    owners = np.arange(300) % 3
    calls: list[tuple[int, int, bool]] = []

    def fold(k: int) -> FoldPredictor:
        rows = np.flatnonzero(owners == k)

        def predict(frame: pd.DataFrame) -> np.ndarray:
            calls.append((k, len(frame), bool(np.isin(frame.index, rows).all())))
            return threshold_predictor(frame)

        return FoldPredictor(rows=rows, predict=predict)

    record = evaluate(
        X, y, task="binary", classes=[0, 1], metric="accuracy", source="out_of_fold",
        folds=[fold(k) for k in range(3)], noise_rates=(0.5,), missing_rates=(0.5,), max_rows=150,
    )  # fmt: skip
    assert record["n_rows"] == 300
    first = calls[:3]  # the clean predictions: each fold on exactly its own rows
    assert [(k, n) for k, n, _ in first] == [(0, 100), (1, 100), (2, 100)]
    assert all(own for _, _, own in first)
    # the perturbed and shuffled calls: each fold on its sampled rows (50), or 3 shuffled copies of them
    assert all(n in (50, 150) for _, n, _ in calls[3:])
    assert record["subsample"] == {"rows": 150, "of": 300, "seed": 0}


def test_robustness_importance_and_the_worst_slice() -> None:
    X, y = threshold_table(2000)
    record = evaluate(
        X, y, task="binary", classes=[0, 1], metric="accuracy", source="out_of_fold",
        folds=[FoldPredictor(rows=np.arange(1000), predict=threshold_predictor),
               FoldPredictor(rows=np.arange(1000, 2000), predict=threshold_predictor)],
        noise_rates=(0.5, 2.0), missing_rates=(0.3,), seed=3,
    )  # fmt: skip
    robustness = record["robustness"]
    clean = robustness["score"]
    assert clean == pytest.approx(record["metrics"]["accuracy"])
    noisy = [p["score"] for p in robustness["noise"]]
    assert noisy[0] < clean and noisy[1] < noisy[0]
    assert robustness["missing"][0]["score"] < clean
    worst = robustness["worst_slices"][0]
    assert (worst["feature"], worst["value"], worst["score"]) == ("g", "bad", 0.0)
    importance = {i["feature"]: i["mean"] for i in record["importance"]}
    assert record["importance"][0]["feature"] == "x" and importance["x"] > 0.2
    assert abs(importance["z"]) < 1e-9  # the model never reads z
    # a shuffle keeps each fold's count of "bad" rows, and every one of them is wrong: no change
    assert abs(importance["g"]) < 1e-9
    assert record["calibration"]["brier"] == pytest.approx(float(np.mean((threshold_predictor(X)[:, 1] - y) ** 2)))
    assert sum(b["count"] for b in record["calibration"]["curve"]) == 2000


def test_regression_has_residuals_and_beats_its_baseline() -> None:
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"x": rng.normal(size=400)})
    y = 3 * X["x"].to_numpy() + rng.normal(scale=0.1, size=400)
    record = evaluate(
        X, y, task="regression", classes=None, metric="rmse", source="test",
        folds=[FoldPredictor(rows=np.arange(400), predict=lambda f: 3 * f["x"].to_numpy())],
        noise_rates=(0.5,), missing_rates=(),
    )  # fmt: skip
    assert record["metrics"]["rmse"] == pytest.approx(0.1, rel=0.2)
    assert record["baseline"]["rmse"] == pytest.approx(float(np.std(y)), rel=1e-6)
    assert len(record["residuals"]["predicted"]) == 400
    assert "calibration" not in record
    assert record["robustness"]["noise"][0]["score"] > record["metrics"]["rmse"]
    assert record["importance"][0]["mean"] > 1.0  # rmse grows when x is shuffled


def test_a_failing_fold_and_a_past_deadline_are_notes_not_errors() -> None:
    X, y = threshold_table(200)

    def broken(frame: pd.DataFrame) -> np.ndarray:
        raise RuntimeError("model file went missing")

    record = evaluate(
        X, y, task="binary", classes=[0, 1], metric="accuracy", source="out_of_fold",
        folds=[FoldPredictor(rows=np.arange(100), predict=threshold_predictor),
               FoldPredictor(rows=np.arange(100, 200), predict=broken)],
        deadline=time.time() - 1,
    )  # fmt: skip
    assert record["n_rows"] == 100
    notes = " | ".join(record["notes"])
    assert "fold 1's model could not predict its 100 rows" in notes and "model file went missing" in notes
    assert "100 of 200 rows were not predicted" in notes
    assert "time was up" in notes
    assert record["importance"] == []
    assert record["robustness"]["noise"] == []


def test_nothing_predicted_is_an_empty_record() -> None:
    X, y = threshold_table(20)
    record = evaluate(
        X, y, task="binary", classes=[0, 1], metric="accuracy", source="test",
        folds=[FoldPredictor(rows=np.arange(20), predict=lambda f: np.zeros((len(f), 5)))],
    )  # fmt: skip
    assert record["n_rows"] == 0
    assert any("expected probabilities of shape (20, 2)" in n for n in record["notes"])
