"""Quality benchmark: `automl fit` on every table of a suite, next to reference systems.

For each table in SUITE_DIR/manifest.json: drop rows with a missing target, split 75/25
(`train_test_split(test_size=0.25, random_state=0, stratify=target for classification)`),
run `automl fit` on the 75% with the given budget, score the saved model on the 25%
(binary AUC on the second class in sorted order, multiclass log loss with the classes in
sorted order, RMSE), and print our score next to the reference systems' scores.

    python benchmarks/quality.py ../shared/datasets \\
        --reference ../shared/reference/peers-60s.jsonl --time-budget 60 --output runs/quality [--ensemble best]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

from automl.artifacts import load_model

LOWER_IS_BETTER = {"log_loss", "rmse", "mae"}


def split(frame: pd.DataFrame, target: str, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = frame[frame[target].notna()].reset_index(drop=True)
    stratify = frame[target] if task != "regression" else None
    return train_test_split(frame, test_size=0.25, random_state=0, stratify=stratify)


def score(model_dir: Path, test: pd.DataFrame, target: str, task: str, metric: str) -> float:
    model = load_model(model_dir)
    if task == "regression":
        prediction = model.predict(test)
        return float(np.sqrt(skm.mean_squared_error(test[target].astype(float), prediction)))
    proba = model.predict_proba(test)
    classes = list(model.classes or [])  # sorted, as the reference scoring asks
    if metric == "roc_auc":
        return float(skm.roc_auc_score(test[target] == classes[1], proba[:, 1]))
    return float(skm.log_loss(test[target], np.clip(proba, 1e-15, 1), labels=classes))


def run_one(entry: dict, suite: Path, out: Path, budget: float, seed: int, ensemble: str) -> dict:
    name, target, task, metric = entry["name"], entry["target"], entry["task"], entry["metric"]
    train, test = split(pd.read_parquet(suite / entry["file"]), target, task)
    work = out / name
    work.mkdir(parents=True, exist_ok=True)
    train.to_parquet(work / "train.parquet", index=False)
    spec = {
        "name": name,
        "data": {"train": str(work / "train.parquet"), "target": target},
        "task": task,
        "metric": metric,
        "budget": {"time_s": budget},
        "search": {"seed": seed},
        "ensemble": {"method": ensemble, "save_best_single": True},
        "output": str(work / "run"),
    }
    (work / "job.yaml").write_text(yaml.safe_dump(spec))
    started = time.monotonic()
    fit = subprocess.run(
        [sys.executable, "-m", "automl.cli", "run", str(work / "job.yaml"), "--quiet"], capture_output=True, text=True
    )
    wall = time.monotonic() - started
    if fit.returncode != 0:
        error = (fit.stderr.strip().splitlines() or ["failed"])[-1]
        return {"system": "automl-ray", "dataset": name, "metric": metric, "error": error, "wall_s": round(wall, 1)}
    summary = json.loads((work / "run" / "summary.json").read_text())
    run = work / "run"
    single = run / "best_single_model" if (run / "best_single_model").is_dir() else run / "model"
    return {
        "system": "automl-ray",
        "dataset": name,
        "metric": metric,
        "score": score(run / "model", test, target, task, metric),
        "best_single_score": score(single, test, target, task, metric),
        "ensemble_method": summary.get("ensemble_method"),
        "cv_score": summary.get("ensemble_cv_score"),
        "best_model": summary.get("best_model"),
        "n_trials": summary.get("n_trials"),
        "budget_s": budget,
        "wall_s": round(wall, 1),
        "job_wall_s": summary.get("wall_s"),
    }


def load_reference(path: Path | None) -> dict[tuple[str, str], dict]:
    if path is None or not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["system"], r["dataset"]): r for r in rows}


def rank_table(ours: list[dict], reference: dict[tuple[str, str], dict]) -> pd.DataFrame:
    systems = ["automl-ray", *sorted({s for s, _ in reference})]
    lines = []
    for row in ours:
        line = {"dataset": row["dataset"], "metric": row["metric"]}
        for system in systems:
            r = row if system == "automl-ray" else reference.get((system, row["dataset"]), {})
            line[system] = r.get("score", np.nan)
        line["best_single"] = row.get("best_single_score", np.nan)
        line["method"] = row.get("ensemble_method", "")
        line["our_wall_s"] = row.get("wall_s")
        line["our_best_trial"] = row.get("best_model", row.get("error", ""))
        values = pd.Series({s: line[s] for s in systems}, dtype=float)
        ranks = values.rank(ascending=row["metric"] in LOWER_IS_BETTER, na_option="bottom", method="min")
        line["our_rank"] = int(ranks["automl-ray"])
        for system in systems:
            line[f"rank_{system}"] = ranks[system]
        lines.append(line)
    return pd.DataFrame(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", type=Path, help="folder with manifest.json and Parquet files")
    parser.add_argument("--reference", type=Path, help="JSONL of reference scores (system, dataset, score)")
    parser.add_argument("--time-budget", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ensemble", default="selection", choices=["selection", "stacking", "best"])
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--output", type=Path, default=Path("runs/quality"))
    args = parser.parse_args()

    manifest = json.loads((args.suite / "manifest.json").read_text())
    wanted = set(args.datasets.split(",")) if args.datasets else None
    reference = load_reference(args.reference)
    args.output.mkdir(parents=True, exist_ok=True)
    results = []
    for entry in manifest:
        if wanted and entry["name"] not in wanted:
            continue
        print(f"[{time.strftime('%H:%M:%S')}] {entry['name']} ...", file=sys.stderr, flush=True)
        row = run_one(entry, args.suite, args.output, args.time_budget, args.seed, args.ensemble)
        print(f"    {json.dumps(row)}", file=sys.stderr, flush=True)
        results.append(row)
        with open(args.output / "results.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")

    table = rank_table(results, reference)
    shown = [c for c in table.columns if not c.startswith("rank_")]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print(table[shown].to_string(index=False))
    rank_cols = [c for c in table.columns if c.startswith("rank_")]
    mean_ranks = table[rank_cols].mean().rename(lambda c: c.removeprefix("rank_")).sort_values()
    print("\nmean rank (1 = best):", ", ".join(f"{k} {v:.2f}" for k, v in mean_ranks.items()))
    scored = table.dropna(subset=["automl-ray", "best_single"])
    lower = scored["metric"].isin(LOWER_IS_BETTER)
    beats = np.where(lower, scored["automl-ray"] < scored["best_single"], scored["automl-ray"] > scored["best_single"])
    ties = scored["automl-ray"] == scored["best_single"]
    print(
        f"final model vs best single trial on the test split: better on {int(beats.sum())}, "
        f"equal on {int(ties.sum())}, worse on {int(len(scored) - beats.sum() - ties.sum())} of {len(scored)} tables"
    )
    table.to_csv(args.output / "table.csv", index=False)


if __name__ == "__main__":
    main()
