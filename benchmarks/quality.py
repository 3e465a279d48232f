"""Quality benchmark: `automl fit` on every table of a suite, beside FLAML and AutoGluon.

For each table in SUITE_DIR/manifest.json: drop rows with a missing target, split 75/25
(`train_test_split(test_size=0.25, random_state=0, stratify=target for classification)`),
run `automl fit` on the 75% with the given budget (the whole process timed, Ray's start
included), score the saved model on the 25% (binary AUC on the second class in sorted
order, multiclass log loss with the classes in sorted order, RMSE), and with `--peers`
fit FLAML and AutoGluon (medium_quality and best_quality) on the same split, budget and
CPUs, back to back per table, from the virtual environment at `--peers-python`
(see `peers.py`). Prints the scores with ranks per budget.

Finished results are kept in OUTPUT/results.jsonl: rerunning the command skips them, so
an interrupted sitting resumes. Our runs use, by default, the portfolio rebuilt without
the table being scored (`--portfolio loo`, see `portfolio.py`).

    python -m venv ~/peers && ~/peers/bin/pip install torch==2.13.0 'flaml[automl]' \
        'autogluon.tabular[lightgbm,xgboost,catboost]'
    python benchmarks/quality.py ../shared/datasets --peers --time-budget 15,60 --output runs/quality
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).parent))

from automl.artifacts import load_model  # noqa: E402

LOWER_IS_BETTER = {"log_loss", "rmse", "mae"}
#: a peer's process is stopped after budget x this + PEER_TIMEOUT_S: FLAML's last refit
#: (a CatBoost on all rows) once took 714 s of a 60 s budget, and a sitting must end
PEER_TIMEOUT_FACTOR = 4
PEER_TIMEOUT_S = 120


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


PEERS = ("flaml", "autogluon_medium", "autogluon_best")
OURS = "automl-ray"


def write_split(entry: dict, suite: Path, work: Path) -> tuple[Path, Path, pd.DataFrame]:
    """The table's 75/25 split as Parquet files every system reads (written once)."""
    train_path, test_path = work / "train.parquet", work / "test.parquet"
    if not (train_path.is_file() and test_path.is_file()):
        train, test = split(pd.read_parquet(suite / entry["file"]), entry["target"], entry["task"])
        work.mkdir(parents=True, exist_ok=True)
        train.to_parquet(train_path, index=False)
        test.to_parquet(test_path, index=False)
    return train_path, test_path, pd.read_parquet(test_path)


def run_ours(
    entry: dict,
    train_path: Path,
    test: pd.DataFrame,
    work: Path,
    budget: float,
    seed: int,
    ensemble: str,
    portfolio: str | None,
    ensemble_options: dict | None = None,
    run_name: str = "run",
    search_options: dict | None = None,
) -> dict:
    """`automl run` of the table's job (the whole process timed), scored on the test rows;
    the run directory is WORK/RUN_NAME, the model and the best single trial's kept."""
    name, target, task, metric = entry["name"], entry["target"], entry["task"], entry["metric"]
    search: dict = {"seed": seed, **(search_options or {})}
    if portfolio is not None:
        search["portfolio"] = portfolio
    spec = {
        "name": name,
        "data": {"train": str(train_path), "target": target},
        "task": task,
        "metric": metric,
        "budget": {"time_s": budget},
        "search": search,
        "ensemble": {"method": ensemble, "save_best_single": True, **(ensemble_options or {})},
        "output": str(work / run_name),
    }
    job = work / f"job-{run_name}.yaml" if run_name != "run" else work / "job.yaml"
    job.write_text(yaml.safe_dump(spec))
    shutil.rmtree(work / run_name, ignore_errors=True)
    started = time.monotonic()
    fit = subprocess.run(
        [sys.executable, "-m", "automl.cli", "run", str(job), "--quiet"], capture_output=True, text=True
    )
    wall = time.monotonic() - started
    row = {"system": OURS, "dataset": name, "metric": metric, "budget_s": budget, "wall_s": round(wall, 1)}
    if fit.returncode != 0:
        return {**row, "error": (fit.stderr.strip().splitlines() or ["failed"])[-1]}
    run = work / run_name
    summary = json.loads((run / "summary.json").read_text())
    single = run / "best_single_model" if (run / "best_single_model").is_dir() else run / "model"
    return {
        **row,
        "score": score(run / "model", test, target, task, metric),
        "best_single_score": score(single, test, target, task, metric),
        "ensemble_method": summary.get("ensemble_method"),
        "cv_score": summary.get("ensemble_cv_score"),
        "best_model": summary.get("best_model"),
        "n_trials": summary.get("n_trials"),
        "job_wall_s": summary.get("wall_s"),
    }


def run_peer(
    system: str, entry: dict, train_path: Path, test_path: Path, work: Path, budget: float, python: Path
) -> dict:
    """One peer fit in its own process and virtual environment (see `peers.py`)."""
    out = work / f"{system}-{budget:g}.json"
    out.unlink(missing_ok=True)
    args = [entry["target"], entry["task"], entry["metric"], str(budget), str(out)]
    started = time.monotonic()
    row = {"system": system, "dataset": entry["name"], "metric": entry["metric"], "budget_s": budget}
    try:
        done = subprocess.run(
            [str(python), str(Path(__file__).with_name("peers.py")), system, str(train_path), str(test_path), *args],
            capture_output=True,
            text=True,
            timeout=PEER_TIMEOUT_FACTOR * budget + PEER_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:  # the run was killed: its overrun is the result
        wall = round(time.monotonic() - started, 1)
        return {**row, "error": f"stopped after {wall:.0f} s", "wall_s": wall}
    wall = time.monotonic() - started
    if out.is_file():
        row.update(json.loads(out.read_text()))
    else:
        row["error"] = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:300]
    return {**row, "wall_s": round(wall, 1)}


def keep_result(row: dict, finished: dict, path: Path) -> None:
    """Print a finished result and append it to the results file (a rerun skips it)."""
    print(f"    {json.dumps(row)}", file=sys.stderr, flush=True)
    finished[(row["system"], row["dataset"], float(row["budget_s"]))] = row
    with open(path, "a") as handle:
        handle.write(json.dumps(row) + "\n")


def done_keys(path: Path) -> dict[tuple[str, str, float], dict]:
    """Finished results, by (system, dataset, budget): a rerun skips them."""
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["system"], r["dataset"], float(r["budget_s"])): r for r in rows}


def load_reference(path: Path | None) -> dict[tuple[str, str], dict]:
    if path is None or not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["system"], r["dataset"]): r for r in rows}


def rank_table(ours: list[dict], reference: dict[tuple[str, str], dict], peers: list[str]) -> pd.DataFrame:
    systems = [OURS, *peers]
    lines = []
    for row in ours:
        line = {"dataset": row["dataset"], "metric": row["metric"]}
        for system in systems:
            r = row if system == OURS else reference.get((system, row["dataset"]), {})
            line[system] = r.get("score", np.nan)
        line["best_single"] = row.get("best_single_score", np.nan)
        line["method"] = row.get("ensemble_method", "")
        line["our_wall_s"] = row.get("wall_s")
        line["our_best_trial"] = row.get("best_model", row.get("error", ""))
        values = pd.Series({s: line[s] for s in systems}, dtype=float)
        ranks = values.rank(ascending=row["metric"] in LOWER_IS_BETTER, na_option="bottom", method="min")
        line["our_rank"] = int(ranks[OURS])
        peer_scores = values.drop(OURS).dropna()
        best_peer = (
            (peer_scores.min() if row["metric"] in LOWER_IS_BETTER else peer_scores.max())
            if len(peer_scores)
            else np.nan
        )
        line["at_least_best_peer"] = bool(
            np.isfinite(values[OURS])
            and (
                not np.isfinite(best_peer)
                or (values[OURS] <= best_peer if row["metric"] in LOWER_IS_BETTER else values[OURS] >= best_peer)
            )
        )
        for system in systems:
            line[f"rank_{system}"] = ranks[system]
        lines.append(line)
    return pd.DataFrame(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", type=Path, help="folder with manifest.json and Parquet files")
    parser.add_argument("--reference", type=Path, help="JSONL of stored reference scores (a hint, not a measurement)")
    parser.add_argument("--time-budget", default="60", help="seconds, or several: 15,60")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ensemble", default="selection", choices=["selection", "stacking", "best"])
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--output", type=Path, default=Path("runs/quality"))
    parser.add_argument("--peers", action="store_true", help="run FLAML and AutoGluon beside ours")
    parser.add_argument("--peers-python", type=Path, default=Path.home() / "peers" / "bin" / "python")
    parser.add_argument("--systems", help=f"comma-separated subset of {OURS},{','.join(PEERS)}")
    parser.add_argument(
        "--portfolio",
        default="loo",
        help="ours: loo (the shipped portfolio rebuilt without the table), default, none, or a file",
    )
    parser.add_argument("--models", help="ours: comma-separated model families to search (default: all)")
    args = parser.parse_args()
    search = {"models": args.models.split(",")} if args.models else None

    manifest = json.loads((args.suite / "manifest.json").read_text())
    wanted = set(args.datasets.split(",")) if args.datasets else None
    budgets = [float(b) for b in str(args.time_budget).split(",")]
    systems = args.systems.split(",") if args.systems else [OURS, *(PEERS if args.peers else ())]
    reference = load_reference(args.reference)
    args.output.mkdir(parents=True, exist_ok=True)
    results_path = args.output / "results.jsonl"
    finished = done_keys(results_path)
    entries = [e for e in manifest if not wanted or e["name"] in wanted]
    for entry in entries:
        work = args.output / entry["name"]
        train_path, test_path, test = write_split(entry, args.suite, work)
        for budget in budgets:
            for system in systems:
                if (system, entry["name"], budget) in finished:
                    continue
                print(
                    f"[{time.strftime('%H:%M:%S')}] {entry['name']} {system} {budget:g}s ...",
                    file=sys.stderr,
                    flush=True,
                )
                if system == OURS:
                    portfolio = portfolio_for(args.portfolio, entry["name"], args.output)
                    row = run_ours(
                        entry, train_path, test, work, budget, args.seed, args.ensemble, portfolio,
                        search_options=search,
                    )  # fmt: skip
                    row["portfolio"] = args.portfolio
                else:
                    row = run_peer(system, entry, train_path, test_path, work, budget, args.peers_python)
                keep_result(row, finished, results_path)

    names = [e["name"] for e in entries]
    for budget in budgets:
        rows = [r for (s, d, b), r in finished.items() if b == budget and d in names and s in systems]
        print(f"\n=== {budget:g} s ===")
        report(
            rows, systems, reference if budget == 60 and not args.peers else {}, args.output / f"table-{budget:g}s.csv"
        )


def portfolio_for(mode: str, table: str, output: Path) -> str | None:
    """The spec's `search.portfolio` for our run on `table`."""
    if mode != "loo":
        return mode
    from portfolio import leave_one_out

    path = output / "portfolios" / f"without-{table}.json"
    leave_one_out(table, path)
    return str(path)


def report(rows: list[dict], systems: list[str], reference: dict, csv: Path) -> None:
    """Scores side by side with ranks; the mean rank; ours against the best peer; the
    final model against the best single trial; our whole-process times against the budget."""
    ours = [r for r in rows if r["system"] == OURS]
    peers = {(r["system"], r["dataset"]): r for r in rows if r["system"] != OURS}
    peers.update(reference)
    if not ours:
        return
    table = rank_table(ours, peers, [s for s in systems if s != OURS] or sorted({s for s, _ in reference}))
    shown = [c for c in table.columns if not c.startswith("rank_")]
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.4f}".format):
        print(table[shown].to_string(index=False))
    rank_cols = [c for c in table.columns if c.startswith("rank_")]
    mean_ranks = table[rank_cols].mean().rename(lambda c: c.removeprefix("rank_")).sort_values()
    print("mean rank (1 = best):", ", ".join(f"{k} {v:.2f}" for k, v in mean_ranks.items()))
    print(f"ours at least the best peer on {int(table['at_least_best_peer'].sum())} of {len(table)} tables")
    scored = table.dropna(subset=[OURS, "best_single"])
    lower = scored["metric"].isin(LOWER_IS_BETTER)
    beats = np.where(lower, scored[OURS] < scored["best_single"], scored[OURS] > scored["best_single"])
    ties = scored[OURS] == scored["best_single"]
    print(
        f"final model vs best single trial on the test split: better on {int(beats.sum())}, "
        f"equal on {int(ties.sum())}, worse on {int(len(scored) - beats.sum() - ties.sum())} of {len(scored)} tables"
    )
    over = [(r["dataset"], r["wall_s"] - r["budget_s"]) for r in ours]
    worst = max(over, key=lambda item: item[1])
    print(f"our whole-process wall minus budget: at most {worst[1]:+.1f} s ({worst[0]})")
    table.to_csv(csv, index=False)


if __name__ == "__main__":
    main()
