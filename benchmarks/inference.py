"""Inference benchmark: how fast the final models predict, ours beside AutoGluon and FLAML.

For each table of a suite, split as `quality.py` splits it, `automl fit` runs at the time
budget (60 s) twice: with the default final model, and with `--for-serving` (the fastest
final model within the score tolerance). Each saved model is

- timed in-process as the peers are (`peers.time_predictions`: a batch of 1,000 rows,
  the test rows repeated, median of 3 calls; single rows, median of up to 200 calls),
  as saved and, where it has compiled trees, again with them left to their libraries;
- timed through `automl predict` on those 1,000 rows: the whole process, the
  interpreter's start and the artifact's loading included;
- scored on the test rows, so the sitting is also a quality one (`quality.py`'s table).

With `--peers`, FLAML and AutoGluon (medium_quality, best_quality) are fitted on the same
split, budget and CPUs from their own environment, and timed in-process the same way
right after their fit. The for-serving fit's summary lists every final model it weighed
(the ensemble, its members refit on all rows, the best single trial bagged and refit)
with its own in-process timing; the table shows which it kept.

Finished results are kept in OUTPUT/results.jsonl: rerunning the command skips them.

    python benchmarks/inference.py ../shared/datasets --peers --output runs/inference
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from peers import BATCH_ROWS, time_predictions  # noqa: E402
from quality import (  # noqa: E402
    OURS,
    PEERS,
    done_keys,
    keep_result,
    portfolio_for,
    report,
    run_ours,
    run_peer,
    write_split,
)

from automl.artifacts import load_model  # noqa: E402

SERVING = f"{OURS}-serving"


def time_ours(model_dir: Path, test: pd.DataFrame, target: str, work: Path) -> dict:
    """In-process timings (as the peers') and `automl predict` on a batch, whole process."""
    model = load_model(model_dir)
    features = test.drop(columns=[target])
    predict = model.predict if model.task == "regression" else model.predict_proba
    timing = time_predictions(predict, features)
    members = [*model.members, *(model.base or [])]
    if any(m.compiled for m in members):  # the same model with its trees on their libraries' path
        for member in members:
            member.compiled = None
        library = time_predictions(predict, features)
        timing.update({f"uncompiled_{k}": v for k, v in library.items()})
    batch = pd.concat([features] * (BATCH_ROWS // len(features) + 1), ignore_index=True).head(BATCH_ROWS)
    rows, out = work / "predict-rows.parquet", work / "predictions.parquet"
    batch.to_parquet(rows, index=False)
    walls = []
    for _ in range(3):
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "automl.cli", "predict", str(model_dir), str(rows), "--output", str(out)],
            capture_output=True,
            text=True,
        )
        walls.append(time.monotonic() - started)
        if done.returncode != 0:
            return {**timing, "predict_error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return {**timing, "predict_cli_ms_per_1000": round(sorted(walls)[1] * 1000 * 1000 / BATCH_ROWS, 1)}


def run_serving_fit(entry: dict, train_path: Path, test: pd.DataFrame, work: Path, budget: float, seed: int,
                    portfolio: str | None) -> dict:  # fmt: skip
    row = run_ours(
        entry, train_path, test, work, budget, seed, "selection", portfolio,
        ensemble_options={"for_serving": True}, run_name="run-serving",
    )  # fmt: skip
    row["system"] = SERVING
    summary_path = work / "run-serving" / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        row["serving_choice"] = summary.get("serving_choice")
        row["alternatives"] = summary.get("serving_alternatives")
        row["final_members"] = summary.get("final_members")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", type=Path, help="folder with manifest.json and Parquet files")
    parser.add_argument("--time-budget", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--output", type=Path, default=Path("runs/inference"))
    parser.add_argument("--peers", action="store_true", help="fit and time FLAML and AutoGluon too")
    parser.add_argument("--peers-python", type=Path, default=Path.home() / "peers" / "bin" / "python")
    parser.add_argument("--portfolio", default="loo", help="ours: loo, default, none, or a file (see quality.py)")
    args = parser.parse_args()

    manifest = json.loads((args.suite / "manifest.json").read_text())
    wanted = set(args.datasets.split(",")) if args.datasets else None
    entries = [e for e in manifest if not wanted or e["name"] in wanted]
    systems = [OURS, SERVING, *(PEERS if args.peers else ())]
    args.output.mkdir(parents=True, exist_ok=True)
    results_path = args.output / "results.jsonl"
    finished = done_keys(results_path)
    budget = args.time_budget
    for entry in entries:
        work = args.output / entry["name"]
        train_path, test_path, test = write_split(entry, args.suite, work)
        for system in systems:
            if (system, entry["name"], budget) in finished:
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {entry['name']} {system} ...", file=sys.stderr, flush=True)
            portfolio = portfolio_for(args.portfolio, entry["name"], args.output)
            if system == OURS:
                row = run_ours(entry, train_path, test, work, budget, args.seed, "selection", portfolio)
                if "error" not in row:
                    row.update(time_ours(work / "run" / "model", test, entry["target"], work))
            elif system == SERVING:
                row = run_serving_fit(entry, train_path, test, work, budget, args.seed, portfolio)
                if "error" not in row:
                    row.update(time_ours(work / "run-serving" / "model", test, entry["target"], work))
            else:
                row = run_peer(system, entry, train_path, test_path, work, budget, args.peers_python)
            keep_result(row, finished, results_path)

    names = {e["name"] for e in entries}
    rows = [r for (s, d, b), r in finished.items() if b == budget and d in names and s in systems]
    speed_report(rows, args.output / "table-inference.csv")
    print(f"\n=== quality at {budget:g} s (the default final model) ===")
    report([r for r in rows if r["system"] != SERVING], [s for s in systems if s != SERVING], {},
           args.output / "table-quality.csv")  # fmt: skip


def speed_report(rows: list[dict], csv: Path) -> None:
    """Per table: in-process batch (ms per 1,000 rows) and single row (ms) of each system,
    ours through `automl predict` too, and the issue's ratios against AutoGluon."""
    by = {(r["system"], r["dataset"]): r for r in rows}
    tables = sorted({r["dataset"] for r in rows})
    lines = []
    for name in tables:
        line: dict = {"dataset": name}
        for system in [OURS, SERVING, *PEERS]:
            row = by.get((system, name), {})
            line[f"{system}_batch"] = row.get("batch_ms_per_1000")
            line[f"{system}_single"] = row.get("single_row_ms")
            if system in (OURS, SERVING):
                line[f"{system}_single_uncompiled"] = row.get("uncompiled_single_row_ms")
                line[f"{system}_cli_batch"] = row.get("predict_cli_ms_per_1000")
                line[f"{system}_score"] = row.get("score")
        line["serving_choice"] = by.get((SERVING, name), {}).get("serving_choice")
        lines.append(line)
    table = pd.DataFrame(lines)
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.float_format", "{:.2f}".format):
        print(table.to_string(index=False))
    table.to_csv(csv, index=False)

    def count(ours: str, peer: str) -> str:
        pairs = table[[ours, peer]].dropna()
        return f"{int((pairs[ours] <= pairs[peer]).sum())} of {len(pairs)}"

    print(f"automl predict (whole process) per 1,000 rows <= AutoGluon best in-process: "
          f"{count(f'{OURS}_cli_batch', 'autogluon_best_batch')}; <= AutoGluon medium: "
          f"{count(f'{OURS}_cli_batch', 'autogluon_medium_batch')}")  # fmt: skip
    best, medium = (
        count(f"{SERVING}_cli_batch", "autogluon_best_batch"),
        count(f"{SERVING}_cli_batch", "autogluon_medium_batch"),
    )
    print(f"for-serving model: automl predict <= AutoGluon best: {best}; <= AutoGluon medium: {medium}")
    single = table[f"{SERVING}_single"].dropna()
    print(f"for-serving single row in-process <= 1 ms: {int((single <= 1.0).sum())} of {len(single)} "
          f"(default final model: {int((table[f'{OURS}_single'].dropna() <= 1.0).sum())})")  # fmt: skip


if __name__ == "__main__":
    main()
