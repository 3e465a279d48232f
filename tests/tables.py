"""Small, seeded tables and helpers the tests share (importable: pyproject puts tests/ on the path)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_mixed_table(n_rows: int = 200, seed: int = 0, task: str = "binary") -> pd.DataFrame:
    """Numbers, categories (low and high cardinality), a boolean, a date, an ID, missing values."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n_rows)
    x2 = rng.uniform(0, 10, size=n_rows)
    colour = rng.choice(["red", "green", "blue"], n_rows)
    city = rng.choice([f"c{i}" for i in range(30)], n_rows)
    flag = rng.random(n_rows) < 0.5
    when = (pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n_rows), unit="D")).strftime("%Y-%m-%d")
    signal = 1.5 * x1 + 0.3 * x2 + np.where(colour == "red", 1.0, -0.5) + 0.5 * flag
    if task == "regression":
        target = signal + rng.normal(scale=0.3, size=n_rows)
    elif task == "multiclass":
        target = np.digitize(signal, np.quantile(signal, [0.33, 0.66]))
        target = np.array(["low", "mid", "high"])[target]
    else:
        target = np.where(signal + rng.normal(scale=0.5, size=n_rows) > np.median(signal), "yes", "no")
    frame = pd.DataFrame(
        {
            "row_id": np.arange(n_rows),
            "x1": x1,
            "x2": x2,
            "colour": colour,
            "city": city,
            "flag": flag,
            "when": when,
            "target": target,
        }
    )
    frame.loc[rng.random(n_rows) < 0.05, "x2"] = np.nan
    frame.loc[rng.random(n_rows) < 0.05, "colour"] = None
    return frame


def predict_in_subprocess(model_dir: Path, data: Path, out: Path) -> pd.DataFrame:
    """Run `automl predict` in a fresh process, as a user would; return what it wrote."""
    result = subprocess.run(
        [sys.executable, "-m", "automl.cli", "predict", str(model_dir), str(data), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)


def small_trial_data(families: tuple[str, ...], *, n_rows: int = 120, seed: int = 9, n_folds: int = 3, **fields):
    """The trials' data of a binary mixed table, for tests that call `run_search` directly."""
    from automl.data import coerce_features, infer_schema, make_folds
    from automl.models import get_family
    from automl.pipeline.trial import TrialData

    frame = make_mixed_table(n_rows=n_rows, seed=seed)
    schema = infer_schema(frame, "target")
    y = (frame["target"] == "yes").to_numpy(dtype=int)
    folds = make_folds(y, classification=True, n_folds=n_folds, seed=0)
    return TrialData(
        coerce_features(frame, schema), y, schema, folds, "roc_auc", {k: get_family(k) for k in families}, 0, 1,
        **fields,
    )  # fmt: skip


def assert_sampler_takes_points(families, points, n_rows: int, task: str) -> None:
    """Each enqueued point comes back from the conditional space as it is: the sampler
    neither resamples nor rejects any of its values."""
    import optuna

    from automl.search.space import ConditionalSpace

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for point in points:
        study.enqueue_trial(point)
    space = ConditionalSpace(families, n_rows, task)
    for point in points:
        trial = study.ask()
        space(trial)
        assert trial.params == point
        study.tell(trial, 0.0)


#: the sections of `report.html`, in their order
REPORT_SECTIONS = (
    "summary",
    "data-quality",
    "privacy",
    "leaderboard",
    "score-over-time",
    "ensemble",
    "feature-importance",
    "evaluation",
    "fairness",
    "robustness",
)


def wait_for(condition, timeout: float = 120.0, interval: float = 0.25, what: str = "condition") -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds (generous: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
