"""Feature choices on against off: the same job per table, with the search's feature
engineering choices (`automl/features/choices.py`) and with each family's fixed
preprocessing (`search.fixed_features: true`), back to back in one sitting.

Each table of SUITE_DIR/manifest.json is split and scored as in `quality.py` (75/25, the
saved model on the 25%), both runs with the portfolio rebuilt without the table
(`quality.py --portfolio loo`). A test score is normalised per table from the dummy
model's (0: class shares or the training mean, on the test rows) to the better of the two
runs (1), so tables of different metrics average. The target: the mean normalised score
with choices is at most 0.01 below the one without.

Finished runs are kept in OUTPUT/results.jsonl; rerunning skips them.

    python benchmarks/feature_choices.py ../shared/datasets --time-budget 60 --output runs/feature-choices
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn.metrics as skm
from quality import LOWER_IS_BETTER, done_keys, keep_result, portfolio_for, run_ours, write_split

VARIANTS = {"choices": {}, "fixed": {"fixed_features": True}}
#: the most the mean normalised score may drop with the choices on
TOLERANCE = 0.01


def dummy_score(train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, metric: str) -> float:
    """The test score of a model that knows only the training target's shares or mean."""
    if task == "regression":
        prediction = np.full(len(test), float(train[target].astype(float).mean()))
        return float(np.sqrt(skm.mean_squared_error(test[target].astype(float), prediction)))
    if metric == "roc_auc":
        return 0.5
    classes = sorted(train[target].dropna().unique().tolist())
    shares = train[target].value_counts(normalize=True).reindex(classes).fillna(0).to_numpy()
    proba = np.tile(np.clip(shares, 1e-15, 1), (len(test), 1))
    return float(skm.log_loss(test[target], proba, labels=classes))


def normalised(value: float, dummy: float, best: float, lower_is_better: bool) -> float:
    """0 at the dummy's score, 1 at the best run's (negative: worse than the dummy)."""
    sign = -1.0 if lower_is_better else 1.0
    span = sign * (best - dummy)
    return 1.0 if span <= 0 else sign * (value - dummy) / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", type=Path)
    parser.add_argument("--time-budget", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--output", type=Path, default=Path("runs/feature-choices"))
    args = parser.parse_args()

    manifest = json.loads((args.suite / "manifest.json").read_text())
    wanted = set(args.datasets.split(",")) if args.datasets else None
    entries = [e for e in manifest if not wanted or e["name"] in wanted]
    args.output.mkdir(parents=True, exist_ok=True)
    results = args.output / "results.jsonl"
    finished = done_keys(results)
    budget = args.time_budget
    lines = []
    for entry in entries:
        work = args.output / entry["name"]
        train_path, _, test = write_split(entry, args.suite, work)
        for variant, options in VARIANTS.items():
            if (variant, entry["name"], budget) in finished:
                continue
            started = time.strftime("%H:%M:%S")
            print(f"[{started}] {entry['name']} {variant} {budget:g}s ...", file=sys.stderr, flush=True)
            portfolio = portfolio_for("loo", entry["name"], args.output)
            row = run_ours(
                entry, train_path, test, work, budget, args.seed, "selection", portfolio,
                run_name=variant, search_options=options,
            )  # fmt: skip
            keep_result({**row, "system": variant}, finished, results)
        rows = {v: finished.get((v, entry["name"], budget), {}) for v in VARIANTS}
        scores = {v: r.get("score") for v, r in rows.items()}
        if any(s is None for s in scores.values()):
            print(f"{entry['name']}: a run failed: {[r.get('error') for r in rows.values()]}", file=sys.stderr)
            continue
        lower = entry["metric"] in LOWER_IS_BETTER
        dummy = dummy_score(pd.read_parquet(train_path), test, entry["target"], entry["task"], entry["metric"])
        best = min(scores.values()) if lower else max(scores.values())
        line = {"dataset": entry["name"], "metric": entry["metric"], "dummy": dummy}
        for variant in VARIANTS:
            line[variant] = scores[variant]
            line[f"norm_{variant}"] = normalised(scores[variant], dummy, best, lower)
            line[f"trials_{variant}"] = rows[variant].get("n_trials")
            line[f"wall_{variant}"] = rows[variant].get("wall_s")
        line["drop"] = line["norm_fixed"] - line["norm_choices"]
        lines.append(line)
    if not lines:
        return
    table = pd.DataFrame(lines)
    table.to_csv(args.output / f"table-{budget:g}s.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.4f}".format):
        print(table.to_string(index=False))
    mean_drop = float(table["drop"].mean())
    better = int((table["drop"] < 0).sum())
    worse = int((table["drop"] > 0).sum())
    print(
        f"mean normalised score: choices {table['norm_choices'].mean():.4f}, fixed {table['norm_fixed'].mean():.4f}; "
        f"drop with the choices {mean_drop:+.4f} (target <= {TOLERANCE}); choices better on {better}, "
        f"worse on {worse} of {len(table)} tables"
    )


if __name__ == "__main__":
    main()
