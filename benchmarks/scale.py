"""Scale: how the whole `automl fit` process's wall time and memory grow with the table.

For each synthetic table (10k, 100k and 1M rows x 50 mixed columns, and 50k rows x 1,000
mostly numeric columns by default) the script runs, as a user would,

    python -m automl.cli fit TRAIN --target y --time-budget B --test TEST --output DIR --quiet

in a subprocess and measures, from outside:

* wall time, from just before the process is spawned until it exits: Ray's start-up and
  shutdown, reading the table and scoring the test table are included, because a user
  waits for all of it. It is compared with the budget (`wall - budget` must stay <= 20 s).
* peak memory of the job: every 0.5 s a thread sums the PSS (proportional set size,
  psutil's `memory_full_info().pss`) of the CLI process and all its descendants (Ray's
  GCS, raylet, dashboard, workers and actors) and keeps the maximum. PSS divides each
  shared page between the processes that map it, so the object store's shared memory
  (and shared libraries) is counted once, not once per worker as a sum of RSS would;
  that RSS sum is recorded too, to show the difference. Where PSS is not readable the
  RSS is used instead and the result says so. Pages of the object store's /dev/shm file
  that no process maps at a sampling instant are not seen; spikes shorter than 0.5 s
  can be missed.
* the exit code, and the test score from the run's `summary.json` (`test_score`, in the
  metric named by `metric`) against a dummy baseline computed here from the train
  table's target (0.5 for roc_auc; sklearn.dummy's prior / most-frequent / mean for the
  other metrics).

The tables come from one seeded generator (a binary target with real signal from
several columns, noise on top; numeric columns with missing values and a few infs,
low-cardinality categoricals, one high-cardinality categorical, a boolean and an ISO date
string; the wide table is numeric plus some categoricals) and are cached as Parquet in
`--cache`, so re-runs do not regenerate them. The test table (20% of the train rows, at
most 50,000) comes from the same generator with another random stream.

`--contention` starts one CPU-bound process of this script's own beside each fit (and
stops it, by its handle, after), and labels the figures as under contention.

Each finished table's result is appended as one JSON line to OUTPUT/results.jsonl; a
re-run skips sizes already there (same budget, seed and contention) unless `--fresh`.
The script prints the table, then how wall time and memory grow from 10k to 1M rows
(ratios and the log-log slope of peak memory against rows), and exits 1 when a bound is
missed: wall > budget + 20 s, peak > 12 GiB at 1M rows or more, a test score not better
than the dummy's, or a failed fit.

    python benchmarks/scale.py [--sizes 10000x50,100000x50,1000000x50,50000x1000] [--budget 120]
        [--contention] [--output runs/scale] [--cache runs/scale-cache] [--seed 0] [--fresh] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

GENERATOR_VERSION = 1  # bump when the generator changes: cached tables are then regenerated
WALL_SLACK_S = 20.0
PEAK_LIMIT_GIB = 12.0
PEAK_LIMIT_ROWS = 1_000_000  # the memory bound applies to tables this long or longer
SAMPLE_INTERVAL_S = 0.5
TEST_FRACTION, TEST_MAX_ROWS = 0.2, 50_000
WIDE_COLS = 200  # tables with more feature columns than this get the "mostly numeric" layout
CELLS_PER_CHUNK = 5_000_000
LOWER_IS_BETTER = {"log_loss", "rmse", "mae"}
DEFAULT_METRIC = "roc_auc"  # binary default, used for the dummy when a failed fit wrote no summary
TARGET = "y"
GIB = 2**30


# ----------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Size:
    rows: int
    cols: int

    @property
    def label(self) -> str:
        return f"{_short(self.rows)}x{_short(self.cols)}"

    @property
    def test_rows(self) -> int:
        return max(1_000, min(TEST_MAX_ROWS, round(TEST_FRACTION * self.rows)))


def _short(n: int) -> str:
    for unit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= unit and n % (unit // 10) == 0:
            value = n / unit
            return f"{value:g}{suffix}"
    return str(n)


def parse_sizes(text: str) -> list[Size]:
    sizes = []
    for item in text.split(","):
        rows, _, cols = item.strip().lower().partition("x")
        if not rows.isdigit() or not cols.isdigit() or int(rows) < 100 or int(cols) < 5:
            raise argparse.ArgumentTypeError(f"bad size {item!r}: use ROWSxCOLS, e.g. 10000x50 (>= 100 rows, 5 cols)")
        sizes.append(Size(int(rows), int(cols)))
    return sizes


@dataclass(frozen=True)
class Layout:
    """Which feature columns a table has, and the fixed effects that make the target."""

    numeric: int
    categorical: int
    cardinalities: list[int]
    scales: np.ndarray  # per numeric column
    shifts: np.ndarray
    missing_rate: np.ndarray  # per numeric column, 0 for most
    inf_columns: tuple[int, ...]
    cat_weights: list[np.ndarray]  # per categorical column, each level's probability
    cat_effects: list[np.ndarray]  # per categorical column, one effect per level
    mixed: bool  # also a high-cardinality categorical, a boolean and a date string
    high_card_levels: int
    high_card_effects: np.ndarray


def make_layout(size: Size, seed: int) -> Layout:
    """The table's structure and signal: depends on the seed and the train size only, so
    the train and the test tables share it."""
    rng = np.random.default_rng([seed, GENERATOR_VERSION, size.rows, size.cols])
    mixed = size.cols <= WIDE_COLS
    extra = 3 if mixed else 0  # high-cardinality categorical, boolean, date
    categorical = max(2, round((0.2 if mixed else 0.05) * size.cols))
    numeric = size.cols - categorical - extra
    cardinalities = [int(c) for c in rng.integers(3, 21, categorical)]
    missing_rate = np.where(np.arange(numeric) % 3 == 2, rng.uniform(0.01, 0.2, numeric), 0.0)
    levels = int(min(50_000, max(100, size.rows // 20)))  # ~20 rows a level: never ID-like
    return Layout(
        numeric=numeric,
        categorical=categorical,
        cardinalities=cardinalities,
        scales=10 ** rng.uniform(-2, 3, numeric),
        shifts=rng.normal(0, 5, numeric),
        missing_rate=missing_rate,
        inf_columns=tuple(range(5, min(numeric, 7))),
        cat_weights=[np.full(c, 1 / c) if j < 2 else rng.dirichlet(np.ones(c)) for j, c in enumerate(cardinalities)],
        cat_effects=[rng.normal(0, 0.6, c) for c in cardinalities],
        mixed=mixed,
        high_card_levels=levels,
        high_card_effects=rng.normal(0, 1.0, levels),
    )


def make_chunk(layout: Layout, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """`rows` rows: features and a target y ~ Bernoulli(sigmoid(signal)), the signal from
    numeric columns 0-4 (linear, an interaction, a non-linear term), the first two
    categoricals and, in mixed tables, the high-cardinality categorical, the boolean and
    the date's month."""
    z = rng.standard_normal((rows, layout.numeric))
    logit = 0.9 * z[:, 0] - 0.7 * z[:, 1] + 0.5 * z[:, 2] * z[:, 3] + 0.6 * (np.abs(z[:, 4]) - 0.8) - 0.8
    columns: dict[str, Any] = {}
    for j in range(layout.numeric):
        values = z[:, j] * layout.scales[j] + layout.shifts[j]
        if layout.missing_rate[j] > 0:
            values[rng.random(rows) < layout.missing_rate[j]] = np.nan
        if j in layout.inf_columns:
            hit = rng.random(rows) < 0.001
            values[hit] = np.where(rng.random(int(hit.sum())) < 0.5, np.inf, -np.inf)
        columns[f"num_{j}"] = values
    for j, cardinality in enumerate(layout.cardinalities):
        codes = rng.choice(cardinality, size=rows, p=layout.cat_weights[j])
        if j < 2:
            logit += layout.cat_effects[j][codes]
        names = np.array([f"c{j}_{k}" for k in range(cardinality)], dtype=object)[codes]
        names[rng.random(rows) < 0.02] = None
        columns[f"cat_{j}"] = names
    if layout.mixed:
        codes = rng.integers(0, layout.high_card_levels, rows)
        logit += 0.4 * layout.high_card_effects[codes]
        columns["high_card"] = np.char.add("u", codes.astype(str)).astype(object)
        flag = rng.random(rows) < 0.4
        logit += 0.5 * flag
        columns["flag"] = flag
        days = rng.integers(0, 3650, rows)
        dates = np.datetime64("2015-01-01") + days.astype("timedelta64[D]")
        month = dates.astype("datetime64[M]").astype(int) % 12
        logit += 0.4 * np.sin(2 * np.pi * month / 12)
        text = np.datetime_as_string(dates, unit="D").astype(object)
        text[rng.random(rows) < 0.01] = None
        columns["date"] = text
    columns[TARGET] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame(columns)


def write_table(path: Path, layout: Layout, rows: int, seed: int, stream: int) -> None:
    """Generate in chunks (seeded per chunk) and write Parquet atomically: a table cut short
    by an interrupt is never reused."""
    chunk_rows = max(1_000, CELLS_PER_CHUNK // (layout.numeric + layout.categorical + 3))
    partial = path.with_name(path.name + f".partial-{os.getpid()}")
    writer: pq.ParquetWriter | None = None
    try:
        for index, start in enumerate(range(0, rows, chunk_rows)):
            rng = np.random.default_rng([seed, GENERATOR_VERSION, stream, index])
            chunk = make_chunk(layout, min(chunk_rows, rows - start), rng)
            if writer is None:
                table = pa.Table.from_pandas(chunk, preserve_index=False)
                writer = pq.ParquetWriter(partial, table.schema)
            else:
                table = pa.Table.from_pandas(chunk, schema=writer.schema, preserve_index=False)
            writer.write_table(table)
        assert writer is not None
        writer.close()
        writer = None
        partial.replace(path)
    finally:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)


def ensure_tables(size: Size, cache: Path, seed: int) -> tuple[Path, Path]:
    """The train and test Parquet files for `size`, generated only when not cached."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = f"scale-v{GENERATOR_VERSION}-s{seed}-{size.rows}x{size.cols}"
    train, test = cache / f"{stem}-train.parquet", cache / f"{stem}-test.parquet"
    if train.is_file() and test.is_file():
        return train, test
    layout = make_layout(size, seed)
    started = time.monotonic()
    log(f"generating {size.label} into {cache} ...")
    if not train.is_file():
        write_table(train, layout, size.rows, seed, stream=0)
    if not test.is_file():
        write_table(test, layout, size.test_rows, seed, stream=1)
    log(f"generated {size.label} in {time.monotonic() - started:.0f}s ({train.stat().st_size / 2**20:.0f} MiB)")
    return train, test


# ----------------------------------------------------------------------------- baseline


def dummy_score(metric: str, train: Path, test: Path) -> float:
    """The test score of sklearn's dummy fitted on the train table's target."""
    from sklearn import metrics as skm
    from sklearn.dummy import DummyClassifier, DummyRegressor

    if metric == "roc_auc":
        return 0.5  # a constant score ranks every pair as a tie
    y_train = pd.read_parquet(train, columns=[TARGET])[TARGET].to_numpy()
    y_test = pd.read_parquet(test, columns=[TARGET])[TARGET].to_numpy()
    x_train, x_test = np.zeros((len(y_train), 1)), np.zeros((len(y_test), 1))
    if metric in ("rmse", "mae", "r2"):
        prediction = DummyRegressor(strategy="mean").fit(x_train, y_train).predict(x_test)
        if metric == "rmse":
            return float(np.sqrt(skm.mean_squared_error(y_test, prediction)))
        if metric == "mae":
            return float(skm.mean_absolute_error(y_test, prediction))
        return float(skm.r2_score(y_test, prediction))
    dummy = DummyClassifier(strategy="prior").fit(x_train, y_train)
    if metric == "log_loss":
        return float(skm.log_loss(y_test, dummy.predict_proba(x_test), labels=dummy.classes_))
    prediction = dummy.predict(x_test)
    if metric == "accuracy":
        return float(skm.accuracy_score(y_test, prediction))
    if metric == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y_test, prediction))
    if metric == "f1":
        return float(skm.f1_score(y_test, prediction, pos_label=dummy.classes_[-1], zero_division=0))
    raise ValueError(f"no dummy baseline for metric {metric!r}")


def beats(score: float | None, baseline: float, metric: str) -> bool:
    if score is None or not math.isfinite(score):
        return False
    return score < baseline if metric in LOWER_IS_BETTER else score > baseline


# ----------------------------------------------------------------------------- measuring


@dataclass
class TreeSampler:
    """Samples the summed PSS (and RSS) of a process and all its descendants in a thread."""

    root: psutil.Process
    interval_s: float = SAMPLE_INTERVAL_S
    peak_pss: int = 0
    peak_rss_sum: int = 0
    max_processes: int = 0
    samples: int = 0
    pss_denied: bool = False
    seen: dict[tuple[int, float], psutil.Process] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="pss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval_s):
                return

    def sample(self) -> None:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            processes = []
        # a descendant whose parent exited is reparented out of the tree: keep counting it
        in_tree = {process.pid for process in processes}
        processes += [p for p in self.survivors() if p.pid not in in_tree]
        if not processes:
            return
        pss = rss = counted = 0
        for process in processes:
            try:
                key = (process.pid, process.create_time())
                self.seen.setdefault(key, process)
                try:
                    info = process.memory_full_info()
                    pss += info.pss
                    rss += info.rss
                except psutil.AccessDenied:
                    self.pss_denied = True
                    resident = process.memory_info().rss
                    pss += resident
                    rss += resident
                counted += 1
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        self.samples += 1
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_rss_sum = max(self.peak_rss_sum, rss)
        self.max_processes = max(self.max_processes, counted)

    def survivors(self) -> list[psutil.Process]:
        """Descendants seen during the run that still run (identity checked by create time)."""
        alive = []
        for process in self.seen.values():
            if process.pid == self.root.pid:
                continue
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(process)
            except psutil.NoSuchProcess:
                continue
        return alive


def stop_processes(processes: list[psutil.Process], grace_s: float) -> None:
    """Terminate, then kill, exactly these processes (psutil checks each is still the one seen)."""
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=grace_s)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace_s)


class Contention:
    """One CPU-bound process beside the job: a busy loop in a child of this script."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Contention:
        self.process = subprocess.Popen([sys.executable, "-c", "while True:\n    pass"])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Measured:
    exit_code: int | None  # None: stopped after running past --kill-after
    timed_out: bool
    wall_s: float
    peak_pss: int
    peak_rss_sum: int
    pss_denied: bool
    max_processes: int
    samples: int
    leftover: list[str]  # descendants still running 15 s after the CLI exited (then stopped)


def measure(command: list[str], env: dict[str, str], log_path: Path, kill_after: float, label: str) -> Measured:
    """Run `command`, timing it from just before the spawn to its exit while sampling its
    process tree's memory; afterwards stop (by pid, identity checked) any descendant left."""
    timed_out, exit_code, wall = False, None, float("nan")
    sampler: TreeSampler | None = None
    leftover: list[str] = []
    with open(log_path, "wb") as log_file:
        started = time.monotonic()
        fit = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        try:
            try:
                sampler = TreeSampler(psutil.Process(fit.pid))
                sampler.start()
            except psutil.NoSuchProcess:  # exited before we looked: nothing to sample
                sampler = None
            try:
                exit_code = fit.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                timed_out = True
                log(f"{label}: still running after {kill_after:.0f}s: stopping it")
                fit.terminate()
                try:
                    fit.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    fit.kill()
                    fit.wait()
            wall = time.monotonic() - started
        finally:
            if sampler is not None:
                sampler.stop()
            if fit.poll() is None:  # interrupted: stop what we started
                fit.kill()
                fit.wait()
            if sampler is not None:
                # Ray's processes leave with the driver; give them a moment, then stop those still there
                deadline = time.monotonic() + 15
                while sampler.survivors() and time.monotonic() < deadline:
                    time.sleep(0.5)
                survivors = sampler.survivors()
                leftover = sorted({_name(p) for p in survivors})
                stop_processes(survivors, grace_s=5)
    return Measured(
        exit_code=exit_code,
        timed_out=timed_out,
        wall_s=wall,
        peak_pss=sampler.peak_pss if sampler else 0,
        peak_rss_sum=sampler.peak_rss_sum if sampler else 0,
        pss_denied=bool(sampler and sampler.pss_denied),
        max_processes=sampler.max_processes if sampler else 0,
        samples=sampler.samples if sampler else 0,
        leftover=leftover,
    )


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def run_fit(size: Size, train: Path, test: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One `automl fit` in a subprocess, measured from outside; its result as a JSON-able dict."""
    tmp_root = args.output / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{size.label}-", dir=tmp_root))
    run_dir, log_path = work / "run", work / "fit.log"
    command = [
        sys.executable, "-m", "automl.cli", "fit", str(train), "--target", TARGET,
        "--time-budget", f"{args.budget:g}", "--test", str(test), "--output", str(run_dir),
        "--seed", str(args.seed), "--quiet",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a new local Ray: its tree is measured
    kill_after = args.kill_after if args.kill_after is not None else 3 * args.budget + 300
    fit = measure(command, env, log_path, kill_after, size.label)

    summary: dict[str, Any] = {}
    if (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
    metric = summary.get("metric", DEFAULT_METRIC)
    test_score = summary.get("test_score")
    baseline = dummy_score(metric, train, test)
    result = {
        "size": size.label,
        "rows": size.rows,
        "cols": size.cols,
        "test_rows": size.test_rows,
        "budget": args.budget,
        "seed": args.seed,
        "contention": args.contention,
        "wall_s": round(fit.wall_s, 2),
        "over_budget_s": round(fit.wall_s - args.budget, 2),
        "job_wall_s": summary.get("wall_s"),
        "peak_pss_gib": round(fit.peak_pss / GIB, 3) if fit.samples else None,
        "peak_rss_sum_gib": round(fit.peak_rss_sum / GIB, 3) if fit.samples else None,
        "memory_measure": "rss (PSS not permitted)" if fit.pss_denied else "pss",
        "max_processes": fit.max_processes,
        "samples": fit.samples,
        "exit_code": fit.exit_code,
        "timed_out": fit.timed_out,
        "metric": metric,
        "test_score": test_score,
        "dummy_score": baseline,
        "beats_dummy": beats(test_score, baseline, metric),
        "best_model": summary.get("best_model"),
        "n_trials": summary.get("n_trials"),
        "n_failed": summary.get("n_failed"),
        "leftover_processes": fit.leftover,
        "log_tail": _tail(log_path) if fit.exit_code != 0 or test_score is None else "",
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if args.keep:
        result["work_dir"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _name(process: psutil.Process) -> str:
    try:
        return f"{process.name()}[{process.pid}]"
    except psutil.Error:
        return f"[{process.pid}]"


# ----------------------------------------------------------------------------- results


def result_key(row: dict[str, Any]) -> tuple[int, int, float, int, bool]:
    return int(row["rows"]), int(row["cols"]), float(row["budget"]), int(row["seed"]), bool(row["contention"])


def load_results(path: Path) -> dict[tuple[int, int, float, int, bool], dict[str, Any]]:
    """The latest result per (rows, cols, budget, seed, contention)."""
    results: dict[tuple[int, int, float, int, bool], dict[str, Any]] = {}
    if not path.is_file():
        return results
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                row = json.loads(line)
                results[result_key(row)] = row
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                log(f"ignoring an unreadable line of {path}")
    return results


def violations(row: dict[str, Any]) -> list[str]:
    """The bounds this result misses."""
    missed = []
    if row["exit_code"] != 0:
        missed.append("timed out" if row.get("timed_out") else f"exit {row['exit_code']}")
    if row["wall_s"] > row["budget"] + WALL_SLACK_S:
        missed.append(f"wall > budget+{WALL_SLACK_S:g}s")
    peak = row.get("peak_pss_gib")
    if row["rows"] >= PEAK_LIMIT_ROWS and (peak is None or peak > PEAK_LIMIT_GIB):
        missed.append(f"peak > {PEAK_LIMIT_GIB:g} GiB")
    if not row["beats_dummy"]:
        missed.append("not above dummy" if row.get("test_score") is not None else "no test score")
    return missed


def print_table(rows: list[dict[str, Any]], contention: bool) -> None:
    label = "under contention (one CPU-bound process beside the job)" if contention else "no contention"
    print(
        f"\n`automl fit` as a whole process, {label}; bounds: wall - budget <= {WALL_SLACK_S:g}s, "
        f"peak PSS <= {PEAK_LIMIT_GIB:g} GiB at >= {_short(PEAK_LIMIT_ROWS)} rows, test score above the dummy's"
    )
    table = pd.DataFrame(
        {
            "size": r["size"],
            "rows": r["rows"],
            "cols": r["cols"],
            "budget": r["budget"],
            "wall_s": r["wall_s"],
            "wall-budget": r["over_budget_s"],
            "peak_pss_gib": r["peak_pss_gib"],
            "rss_sum_gib": r["peak_rss_sum_gib"],
            "procs": r["max_processes"],
            "metric": r["metric"],
            "test_score": r["test_score"],
            "dummy": r["dummy_score"],
            "beats_dummy": r["beats_dummy"],
            "exit": "timeout" if r.get("timed_out") else r["exit_code"],
            "bounds": ", ".join(violations(r)) or "ok",
        }
        for r in rows
    )
    with pd.option_context("display.width", 220, "display.max_columns", 30, "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))
    for r in rows:
        if r.get("memory_measure", "pss") != "pss":
            print(
                f"note: {r['size']}: memory is a sum of RSS, PSS was not permitted (shared memory counted per process)"
            )
        if r.get("leftover_processes"):
            print(f"note: {r['size']}: processes outlived the CLI by 15s and were stopped: {r['leftover_processes']}")
        if r.get("log_tail"):
            print(f"note: {r['size']}: end of the fit's output:\n    " + r["log_tail"].replace("\n", "\n    "))


def print_growth(rows: list[dict[str, Any]]) -> None:
    """Wall and memory growth along rows, over the tables with the most common column count."""
    measured = [r for r in rows if r.get("peak_pss_gib")]
    if not measured:
        return
    cols = pd.Series([r["cols"] for r in measured]).mode().iloc[0]
    line = sorted((r for r in measured if r["cols"] == cols), key=lambda r: r["rows"])
    if len(line) < 2:
        print(f"\ngrowth: needs two or more sizes with {cols} columns")
        return
    first, last = line[0], line[-1]
    factor = last["rows"] / first["rows"]
    rows_log = np.log([r["rows"] for r in line])
    slope_mem = float(np.polyfit(rows_log, np.log([r["peak_pss_gib"] for r in line]), 1)[0])
    slope_wall = float(np.polyfit(rows_log, np.log([r["wall_s"] for r in line]), 1)[0])
    print(
        f"\ngrowth at {cols} columns, {first['size']} -> {last['size']} ({factor:g}x rows): "
        f"wall x{last['wall_s'] / first['wall_s']:.2f}, peak PSS x{last['peak_pss_gib'] / first['peak_pss_gib']:.2f}; "
        f"log-log slope vs rows over {len(line)} sizes: memory {slope_mem:.2f}, wall {slope_wall:.2f} "
        "(1 = linear, 0 = flat; wall is held near the budget by design)"
    )


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_sizes = "10000x50,100000x50,1000000x50,50000x1000"
    parser.add_argument(
        "--sizes", type=parse_sizes, default=parse_sizes(default_sizes), help=f"ROWSxCOLS,... ({default_sizes})"
    )
    parser.add_argument("--seed", type=int, default=0, help="generator and search seed")
    parser.add_argument("--budget", type=float, default=120.0, help="--time-budget of each fit, seconds")
    parser.add_argument("--contention", action="store_true", help="one CPU-bound process beside each fit")
    parser.add_argument("--output", type=Path, default=Path("runs/scale"), help="results.jsonl and run dirs")
    parser.add_argument("--cache", type=Path, default=Path("runs/scale-cache"), help="generated Parquet tables")
    parser.add_argument("--fresh", action="store_true", help="rerun sizes already in results.jsonl")
    parser.add_argument("--keep", action="store_true", help="keep each fit's run directory and log")
    parser.add_argument("--kill-after", type=float, help="stop a fit running this long (default 3*budget + 300 s)")
    args = parser.parse_args()
    if args.budget <= 0:
        parser.error("--budget must be positive")

    args.output.mkdir(parents=True, exist_ok=True)
    results_path = args.output / "results.jsonl"
    done = load_results(results_path)
    rows = []
    for size in args.sizes:
        key = (size.rows, size.cols, float(args.budget), args.seed, args.contention)
        if key in done and not args.fresh:
            log(f"{size.label}: already in {results_path} ({done[key]['finished_at']}), skipped (--fresh reruns)")
            rows.append(done[key])
            continue
        train, test = ensure_tables(size, args.cache, args.seed)
        log(f"{size.label}: automl fit, budget {args.budget:g}s{' under contention' if args.contention else ''} ...")
        if args.contention:
            with Contention():
                row = run_fit(size, train, test, args)
        else:
            row = run_fit(size, train, test, args)
        log(f"{size.label}: {json.dumps({k: v for k, v in row.items() if k != 'log_tail'})}")
        with open(results_path, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        rows.append(row)

    print_table(rows, args.contention)
    print_growth(rows)
    missed = [(r["size"], violations(r)) for r in rows if violations(r)]
    if missed:
        print("\nBOUNDS MISSED: " + "; ".join(f"{size}: {', '.join(v)}" for size, v in missed))
        return 1
    print("\nall bounds met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
