"""Run a benchmark: every (table, strategy, seed) as a Ray task, resumably, then the report.

Each run is a task that holds no CPU itself (its Tune trials hold them), so on a 2-CPU
machine nothing waits on a driver's reservation; as many run at once as the cluster's
CPUs hold `cpus_per_run` shares. A run's directory gets its `meta.json` only when it
finished, so the same command run again skips the finished runs and runs the rest.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automl.benchmark.runs import RunKey, RunSettings, is_finished, run_one
from automl.benchmark.suite import Suite, SuiteTable
from automl.errors import SpecError
from automl.files import atomic_write, json_text
from automl.search.strategies import Strategy, get_strategy

PLAN = "benchmark.json"
#: settings a benchmark directory's runs must share with a command that continues it
SHARED_SETTINGS = (
    "time_budget_s",
    "max_trials",
    "cv_folds",
    "cpus_per_run",
    "cpus_per_trial",
    "portfolio",
    "early_stopping",
    "models",
)


@dataclass
class BenchmarkResult:
    """What a benchmark command did: the runs it ran now, those found finished, and the
    report it wrote (None when runs are missing)."""

    output: Path
    ran: list[RunKey] = field(default_factory=list)
    skipped: list[RunKey] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # run -> its error
    report: Path | None = None


def plan_runs(suite: Suite, strategies: Sequence[Strategy], seeds: int) -> list[tuple[SuiteTable, Strategy, int]]:
    """Every run, table by table, then seed, then strategy (so a partial benchmark has
    every strategy on the tables it reached)."""
    return [(table, strategy, seed) for table in suite.tables for seed in range(seeds) for strategy in strategies]


def resolve_strategies(names: Sequence[str | Strategy]) -> list[Strategy]:
    """The registry's entries, each one checked to be runnable here (before any run starts)."""
    if not names:
        raise SpecError("name at least one strategy")
    try:
        strategies = [get_strategy(name) for name in names]
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    for strategy in strategies:
        reason = strategy.missing()
        if reason:
            raise SpecError(reason)
    if len({s.name for s in strategies}) != len(strategies):
        raise SpecError("a strategy is named twice")
    return strategies


def run_benchmark(
    suite: Suite,
    strategies: Sequence[str | Strategy],
    settings: RunSettings,
    *,
    seeds: int,
    output: str | Path,
    report: bool = True,
    echo: Callable[[str], None] | None = None,
) -> BenchmarkResult:
    """Run what is missing of the benchmark in `output`, then write its report.

    Ray is used if running, else a local instance is started for the benchmark.

    Raises:
        SpecError: an unknown or unrunnable strategy, no budget, or an output directory
            that holds a benchmark with other shared settings.
    """
    say = echo or _stderr
    if (settings.time_budget_s is None) == (settings.max_trials is None):
        raise SpecError("give one budget: --time-budget SECONDS or --max-trials N")
    if seeds < 1:
        raise SpecError("--seeds must be at least 1")
    chosen = resolve_strategies(strategies)
    root = Path(output)
    _check_plan(root, settings)
    for table in suite.tables:
        table.read()  # a missing or unreadable table is refused before any run starts
    runs = plan_runs(suite, chosen, seeds)
    result = BenchmarkResult(output=root)
    todo = []
    for table, strategy, seed in runs:
        key = RunKey(table.name, strategy.name, seed)
        if is_finished(key, root):
            result.skipped.append(key)
        else:
            todo.append((table, strategy, seed))
    _write_plan(root, suite, chosen, settings, seeds)
    say(
        f"benchmark: {len(runs)} runs ({len(suite.tables)} tables x {len(chosen)} strategies x {seeds} seeds), "
        f"{settings.budget_text()} each; {len(result.skipped)} finished before, {len(todo)} to run"
    )
    if todo:
        _execute(todo, settings, root, result, say)
    missing = [RunKey(t.name, s.name, n) for t, s, n in runs if not is_finished(RunKey(t.name, s.name, n), root)]
    if missing:
        say(
            f"benchmark: {len(missing)} runs missing (run the same command again to run them): "
            + "; ".join(str(k) for k in missing[:10])
            + (" ..." if len(missing) > 10 else "")
        )
    if report and not missing:
        from automl.benchmark.report import write_report

        result.report = write_report(root)
        say(f"benchmark: report in {result.report}")
    return result


def _execute(
    todo: list[tuple[SuiteTable, Strategy, int]],
    settings: RunSettings,
    root: Path,
    result: BenchmarkResult,
    say: Callable[[str], None],
) -> None:
    import ray

    from automl.job.session import WORKER_PRELOAD, ray_session

    with ray_session(preload=WORKER_PRELOAD):
        cpus = float(ray.cluster_resources().get("CPU", 1))
        if settings.cpus_per_run > cpus:
            raise SpecError(f"--cpus-per-run {settings.cpus_per_run:g} is more than the cluster's {cpus:g} CPUs")
        at_once = max(1, int(math.floor(cpus / settings.cpus_per_run)))
        remote = ray.remote(num_cpus=0, max_retries=0)(run_one)
        pending: dict[Any, RunKey] = {}
        queue = list(todo)
        started = time.monotonic()
        done = 0
        while queue or pending:
            while queue and len(pending) < at_once:
                table, strategy, seed = queue.pop(0)
                pending[remote.remote(table, strategy, seed, settings, root)] = RunKey(table.name, strategy.name, seed)
            ready, _ = ray.wait(list(pending), num_returns=1)
            key = pending.pop(ready[0])
            done += 1
            try:
                meta = ray.get(ready[0])
            except Exception as exc:  # one run's failure is reported, the others go on
                result.failed[str(key)] = str(exc).strip().splitlines()[-1][:300]
                say(f"[{done}/{len(todo)}] {key}: failed: {result.failed[str(key)]}")
                continue
            result.ran.append(key)
            best = meta.get("best")
            shown = "no model" if best is None else f"best {meta['metric']} {best:.4f}"
            say(
                f"[{done}/{len(todo)}] {key}: {shown}, {meta['done']} of {meta['configurations']} configurations "
                f"done in {meta['wall_s']:.0f}s ({time.monotonic() - started:.0f}s so far)"
            )


def _check_plan(root: Path, settings: RunSettings) -> None:
    plan = root / PLAN
    if not plan.is_file():
        return
    recorded = json.loads(plan.read_text()).get("settings", {})
    current = settings.to_dict()
    differs = [name for name in SHARED_SETTINGS if _plain(recorded.get(name)) != _plain(current.get(name))]
    if differs:
        raise SpecError(
            f"{root} holds a benchmark with other settings ({', '.join(differs)}); "
            "continue it with the same ones, or give a new --output"
        )


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


def _write_plan(root: Path, suite: Suite, strategies: list[Strategy], settings: RunSettings, seeds: int) -> None:
    """The benchmark's plan (the union over the commands that ran in this directory)."""
    root.mkdir(parents=True, exist_ok=True)
    previous = json.loads((root / PLAN).read_text()) if (root / PLAN).is_file() else {}
    tables = {t["name"]: t for t in previous.get("tables", [])}
    tables.update(
        {
            t.name: {"name": t.name, "source": t.source, "target": t.target, "task": t.task, "metric": t.metric}
            for t in suite.tables
        }
    )
    names = list(dict.fromkeys([*previous.get("strategies", []), *(s.name for s in strategies)]))
    plan = {
        "suite": suite.name,
        "tables": list(tables.values()),
        "strategies": names,
        "seeds": max(seeds, int(previous.get("seeds", 0))),
        "settings": settings.to_dict(),
    }
    atomic_write(root / PLAN, json_text(plan))


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
