"""Build the search's portfolio (`automl/search/portfolio.json`) from our own runs.

Every candidate configuration below is cross-validated (5 folds, the job's own
preprocessing, early stopping and metric, one thread, at most `--limit-s` seconds each)
on the 75% training part of every table of a suite (the split `quality.py` scores on, so
no test row is seen). Per table, each candidate's score is normalised between the worst
and the best candidate (0 to 1; a failed or stopped one gets 0). The portfolio is then
chosen greedily: first the candidate with the best mean normalised score, then each time
the one that most raises the mean over tables of the best normalised score chosen so far,
a tie going to the cheaper one, until `--size` are chosen or nothing more helps.

The file keeps every candidate's scores and seconds per table, so that `leave_one_out`
rebuilds the portfolio without one table (`quality.py` scores a table with the portfolio
built without it), and the median cost of each family's default relative to the linear
model's (`relative_cost`), from which a job estimates a family's first configuration.

    python benchmarks/portfolio.py ../shared/datasets --output runs/portfolio   # resumes

`--from-shipped` starts from the evaluations the shipped file keeps, so only candidates
added since it was built are evaluated (the others keep the scores of the day it was).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from automl.evaluation.metrics import get_metric  # noqa: E402
from automl.search.portfolio import PORTFOLIO_FILE  # noqa: E402

#: the candidates: each family's default and configurations that do well across many
#: tables in AutoGluon's zeroshot portfolio (2023), in our parameters and ranges
CANDIDATES: list[dict[str, Any]] = [
    {"model": "linear"},
    {"model": "knn"},
    {"model": "hist_gradient_boosting"},
    {"model": "hist_gradient_boosting", "learning_rate": 0.05, "max_iter": 500, "max_leaf_nodes": 31},
    {"model": "lightgbm"},
    {"model": "lightgbm", "learning_rate": 0.03, "num_leaves": 128, "colsample_bytree": 0.9, "min_child_samples": 3},
    {
        "model": "lightgbm",
        "learning_rate": 0.0121,
        "num_leaves": 53,
        "colsample_bytree": 0.702,
        "min_child_samples": 14,
    },
    {
        "model": "lightgbm",
        "learning_rate": 0.0152,
        "num_leaves": 16,
        "colsample_bytree": 0.564,
        "min_child_samples": 48,
    },
    {
        "model": "lightgbm",
        "learning_rate": 0.0339,
        "num_leaves": 127,
        "colsample_bytree": 0.828,
        "min_child_samples": 6,
    },
    {"model": "lightgbm", "learning_rate": 0.1, "num_leaves": 15, "min_child_samples": 10},
    {"model": "xgboost"},
    {
        "model": "xgboost",
        "learning_rate": 0.0181,
        "max_depth": 10,
        "min_child_weight": 0.603,
        "colsample_bytree": 0.692,
    },
    {"model": "xgboost", "learning_rate": 0.0878, "max_depth": 5, "min_child_weight": 0.629, "colsample_bytree": 0.663},
    {"model": "xgboost", "learning_rate": 0.0929, "max_depth": 7, "min_child_weight": 0.804, "colsample_bytree": 0.909},
    {"model": "xgboost", "learning_rate": 0.01, "max_depth": 9, "min_child_weight": 0.857, "colsample_bytree": 0.517},
    {"model": "catboost"},
    {"model": "catboost", "learning_rate": 0.0686, "depth": 6, "l2_leaf_reg": 2.154, "one_hot_max_size": 10},
    {"model": "catboost", "learning_rate": 0.0314, "depth": 8, "l2_leaf_reg": 2.8},
    {"model": "catboost", "learning_rate": 0.0494, "depth": 4, "l2_leaf_reg": 4.559},
    {"model": "catboost", "learning_rate": 0.02, "depth": 8, "l2_leaf_reg": 3.327, "one_hot_max_size": 10},
    {"model": "random_forest"},
    {"model": "random_forest", "n_estimators": 300, "max_features": 0.8, "min_samples_leaf": 1},
    {"model": "random_forest", "n_estimators": 300, "max_features": 1.0, "min_samples_leaf": 5},
    {"model": "extra_trees"},
    {"model": "extra_trees", "n_estimators": 300, "max_features": 0.8, "min_samples_leaf": 1},
    {"model": "extra_trees", "n_estimators": 300, "max_features": 1.0, "min_samples_leaf": 4},
    {"model": "mlp"},
    {"model": "mlp", "width": 256, "layers": 2, "alpha": 1e-3, "learning_rate_init": 3e-3, "batch_size": 256},
    {"model": "mlp", "width": 64, "layers": 3, "alpha": 1e-5, "learning_rate_init": 1e-3, "batch_size": 64},
]


def candidate_id(candidate: dict[str, Any]) -> str:
    return json.dumps(candidate, sort_keys=True)


def evaluate_table(entry: dict, suite: str, limit_s: float, done: set[str]) -> list[dict]:
    """Every candidate not yet `done` on one table, in this process, one thread."""
    from quality import split
    from threadpoolctl import threadpool_limits

    from automl.job.preparation import prepare
    from automl.pipeline.trial import evaluate_config
    from automl.search.portfolio import fit_to_space
    from automl.spec import JobSpec

    threadpool_limits(limits=1)
    train, _ = split(pd.read_parquet(Path(suite) / entry["file"]), entry["target"], entry["task"])
    spec = JobSpec.model_validate(
        {"data": {"train": "unused", "target": entry["target"]}, "task": entry["task"], "metric": entry["metric"]}
    )
    prepared = prepare(train, spec)
    data = prepared.data
    rows = []
    for candidate in CANDIDATES:
        if candidate_id(candidate) in done or candidate["model"] not in data.families:
            continue
        family = data.families[candidate["model"]]
        config = fit_to_space(
            {
                "model": candidate["model"],
                **{f"{candidate['model']}__{k}": v for k, v in candidate.items() if k != "model"},
            },
            family,
            prepared.n_rows,
            prepared.schema.task,
        )
        started = time.perf_counter()
        outcome = evaluate_config(config, replace(data, deadline=None, max_trial_s=limit_s))
        rows.append(
            {
                "table": entry["name"],
                "candidate": candidate_id(candidate),
                "score": outcome.score if outcome.ok else None,
                "seconds": round(time.perf_counter() - started, 3),
                "rounds": list(outcome.rounds),
                "error": outcome.error,
            }
        )
    return rows


def normalised(scores: dict[str, dict[str, float | None]], greater_is_better: dict[str, bool]) -> dict[str, dict]:
    """Per table, each candidate's score scaled from the worst (0) to the best (1)."""
    out = {}
    for table, by_candidate in scores.items():
        values = {c: s for c, s in by_candidate.items() if s is not None and math.isfinite(s)}
        if not values:
            continue
        sign = 1.0 if greater_is_better[table] else -1.0
        best, worst = max(sign * v for v in values.values()), min(sign * v for v in values.values())
        span = best - worst
        out[table] = {
            c: ((sign * values[c] - worst) / span if span > 0 else 1.0) if c in values else 0.0 for c in by_candidate
        }
    return out


def greedy(norm: dict[str, dict[str, float]], cost: dict[str, float], size: int) -> list[str]:
    """The greedy order (see the module's note)."""
    tables = list(norm)
    candidates = sorted({c for t in tables for c in norm[t]})
    chosen: list[str] = []
    best_so_far = dict.fromkeys(tables, 0.0)
    while len(chosen) < size:

        def gain(c: str) -> float:
            return float(np.mean([max(best_so_far[t], norm[t].get(c, 0.0)) for t in tables]))

        pool = [c for c in candidates if c not in chosen]
        if not pool:
            break
        top = max(gain(c) for c in pool)
        if chosen and top <= float(np.mean(list(best_so_far.values()))) + 1e-9:
            break
        pick = min((c for c in pool if gain(c) >= top - 1e-12), key=lambda c: cost.get(c, math.inf))
        chosen.append(pick)
        for t in tables:
            best_so_far[t] = max(best_so_far[t], norm[t].get(pick, 0.0))
    return chosen


def build(rows: list[dict], manifest: list[dict], size: int, exclude: str | None = None) -> dict[str, Any]:
    """The portfolio document from the evaluated rows, without table `exclude`."""
    directions = {e["name"]: get_metric(e["metric"]).greater_is_better for e in manifest}
    tables = [e["name"] for e in manifest if e["name"] != exclude]
    scores: dict[str, dict[str, float | None]] = {t: {} for t in tables}
    seconds: dict[str, dict[str, float]] = {t: {} for t in tables}
    for row in rows:
        if row["table"] in scores:
            scores[row["table"]][row["candidate"]] = row["score"]
            seconds[row["table"]][row["candidate"]] = row["seconds"]
    norm = normalised(scores, directions)
    cost = {c: float(np.median([seconds[t].get(c, math.inf) for t in tables])) for c in {r["candidate"] for r in rows}}
    order = greedy(norm, cost, size)
    linear = candidate_id({"model": "linear"})
    relative: dict[str, float] = {}
    for candidate in CANDIDATES:
        if len(candidate) == 1:  # a family's default
            ratios = [
                seconds[t][candidate_id(candidate)] / seconds[t][linear]
                for t in tables
                if candidate_id(candidate) in seconds[t] and seconds[t].get(linear)
            ]
            if ratios:
                relative[candidate["model"]] = round(float(np.median(ratios)), 2)
    configs = []
    for c in order:
        candidate = json.loads(c)
        key = candidate.pop("model")
        configs.append({"model": key, **{f"{key}__{k}": v for k, v in candidate.items()}})
    return {
        "about": "Built by benchmarks/portfolio.py: greedy on per-table normalised 5-fold CV scores.",
        "tables": tables,
        "method": "greedy, mean over tables of the best normalised score so far (0 worst, 1 best candidate)",
        "configs": configs,
        "mean_normalised_best": [
            round(float(np.mean([max(norm[t].get(c, 0.0) for c in order[: i + 1]) for t in norm])), 4)
            for i in range(len(order))
        ],
        "relative_cost": relative,
        "candidates": [candidate_id(c) for c in CANDIDATES],
        "scores": {t: scores[t] for t in tables},
        "seconds": {t: seconds[t] for t in tables},
    }


def _stored(shipped: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """The evaluations and the tables' metrics a portfolio file keeps, as `build` takes them."""
    rows = [
        {"table": t, "candidate": c, "score": v, "seconds": shipped["seconds"][t].get(c, math.inf)}
        for t, by_candidate in shipped["scores"].items()
        for c, v in by_candidate.items()
    ]
    return rows, [{"name": t, "metric": shipped["metrics"][t]} for t in shipped["scores"]]


def leave_one_out(table: str, path: Path, size: int | None = None) -> Path:
    """Write the shipped portfolio rebuilt without `table` to `path` (from the scores the
    shipped file keeps: nothing is evaluated again)."""
    shipped = json.loads(PORTFOLIO_FILE.read_text())
    rows, manifest = _stored(shipped)
    document = build(rows, manifest, size or len(shipped["configs"]), exclude=table)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1))
    return path


def _best(scores: dict[str, float | None], ids: list[str], pick: Any) -> float:
    values = [scores[i] for i in ids if scores.get(i) is not None]
    return float(pick(values)) if values else math.nan


def loo_report(first: int) -> pd.DataFrame:
    """Per table, from the stored evaluations: the best CV score of the first `first`
    configurations of the portfolio built without that table, beside the best of the
    families' defaults (the warm start before the portfolio) and of every candidate."""
    shipped = json.loads(PORTFOLIO_FILE.read_text())
    rows, manifest = _stored(shipped)
    lines = []
    defaults = [candidate_id(c) for c in CANDIDATES if len(c) == 1]
    for table, by_candidate in shipped["scores"].items():
        greater = get_metric(shipped["metrics"][table]).greater_is_better
        pick = max if greater else min
        order = build(rows, manifest, len(shipped["configs"]), exclude=table)["configs"]
        chosen = [
            candidate_id({"model": c["model"], **{k.split("__", 1)[1]: v for k, v in c.items() if k != "model"}})
            for c in order[:first]
        ]

        loo, plain, every = (_best(by_candidate, ids, pick) for ids in (chosen, defaults, list(by_candidate)))
        lines.append({
            "table": table, "metric": shipped["metrics"][table], "defaults": plain, f"loo_first_{first}": loo,
            "all_candidates": every, "loo_better": (loo > plain) if greater else (loo < plain),
            "loo_at_least": (loo >= plain) if greater else (loo <= plain),
        })  # fmt: skip
    return pd.DataFrame(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", type=Path)
    parser.add_argument("--output", type=Path, default=Path("runs/portfolio"))
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--limit-s", type=float, default=60.0, help="a candidate's most seconds on one table")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--write", type=Path, default=PORTFOLIO_FILE, help="where the portfolio goes")
    parser.add_argument(
        "--from-shipped", action="store_true", help="evaluate only candidates the shipped file has not scored"
    )
    parser.add_argument(
        "--loo-report", type=int, metavar="N", help="only print the leave-one-table-out check of the first N"
    )
    args = parser.parse_args()
    if args.loo_report:
        report = loo_report(args.loo_report)
        with pd.option_context("display.width", 200, "display.float_format", "{:.5g}".format):
            print(report.to_string(index=False))
        print(
            f"leave-one-table-out portfolio (first {args.loo_report}) better than the family defaults on "
            f"{int(report['loo_better'].sum())}, at least as good on {int(report['loo_at_least'].sum())} "
            f"of {len(report)} tables"
        )
        return
    manifest = json.loads((args.suite / "manifest.json").read_text())
    args.output.mkdir(parents=True, exist_ok=True)
    results = args.output / "evaluations.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []
    if args.from_shipped and not rows:
        rows = _stored(json.loads(PORTFOLIO_FILE.read_text()))[0]
        with open(results, "w") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in rows)
    done = {(r["table"], r["candidate"]) for r in rows}
    with ProcessPoolExecutor(args.processes) as pool:
        futures = {
            pool.submit(evaluate_table, e, str(args.suite), args.limit_s, {c for t, c in done if t == e["name"]}): e[
                "name"
            ]
            for e in sorted(manifest, key=lambda e: -e["rows"] * e["columns"])
        }
        for future, name in futures.items():
            new = future.result()
            with open(results, "a") as handle:
                handle.writelines(json.dumps(r) + "\n" for r in new)
            rows.extend(new)
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {len(new)} candidates evaluated", file=sys.stderr, flush=True)
    document = build(rows, manifest, args.size)
    document["metrics"] = {e["name"]: e["metric"] for e in manifest}
    args.write.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps({k: document[k] for k in ("configs", "mean_normalised_best", "relative_cost")}, indent=1))


if __name__ == "__main__":
    main()
