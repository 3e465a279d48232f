"""Replay: strategies run against a surrogate of the evaluations a benchmark recorded.

Every configuration a benchmark's runs evaluated is in their traces (table, family and
parameters, fold scores, seconds). Per table, a random forest learns the score and the
log of the seconds from the configuration (one-hot family, each parameter a column,
missing where the family lacks it). Each strategy then proposes configurations through
Optuna's ask/tell over the same conditional space; the surrogate answers with a score and
a cost, and a simulated clock (the table's measured start-up, then each configuration's
predicted seconds plus the measured overhead between configurations) ends a run at the
benchmark's budget. No Tune, no fitting: many seeds of every strategy take minutes.

A strategy's scheduler is not replayed (the surrogate knows no partial fidelity): such a
strategy replays its sampler alone, and the report says so. The report compares, per table,
the order of the strategies in replay with their order in the real runs (Spearman).
"""

from __future__ import annotations

import functools
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.benchmark.report import _best_per_table, _normalise, load_runs
from automl.errors import SpecError
from automl.files import atomic_write, json_text
from automl.search.strategies import Strategy

REPLAY = "replay"
#: the surrogate's forest
SURROGATE_TREES = 60
SURROGATE_MIN_LEAF = 2
#: a table needs this many evaluated configurations for a surrogate
MIN_EVALUATIONS = 8


@dataclass
class Surrogate:
    """Score and cost of a configuration, learnt from a table's recorded evaluations."""

    columns: list[str]
    categories: dict[str, list[str]]
    model: Any
    start_s: float  # from the search's start to its first configuration starting
    overhead_s: float  # between one configuration's end and the next one's start
    fit_quality: float  # Spearman of cross-validated predicted and recorded scores

    def predict(self, config: dict[str, Any]) -> tuple[float, float]:
        """Score and seconds of one configuration. The forest's trees are read directly:
        its own `predict` checks its input and dispatches to threads, which costs more
        than the trees themselves on one row (10 ms against 1)."""
        row = self._encode([config]).astype(np.float32)
        values = np.mean([tree.tree_.predict(row)[0, :, 0] for tree in self.model.estimators_], axis=0)
        score, log_seconds = values
        return float(score), float(math.exp(log_seconds))

    def _encode(self, configs: list[dict[str, Any]]) -> np.ndarray:
        return encode(configs, self.columns, self.categories)


def encode(configs: list[dict[str, Any]], columns: list[str], categories: dict[str, list[str]]) -> np.ndarray:
    """Configurations as rows: the family one-hot, numbers as they are, other values by
    their position in `categories`; NaN for a parameter the configuration lacks."""
    out = np.full((len(configs), len(columns)), np.nan)
    for i, config in enumerate(configs):
        for j, column in enumerate(columns):
            if column.startswith("family="):
                out[i, j] = float(config.get("model") == column[len("family=") :])
                continue
            value = config.get(column)
            if value is None:
                continue
            if column in categories:
                text = str(value)
                out[i, j] = categories[column].index(text) if text in categories[column] else np.nan
            else:
                out[i, j] = float(value)
    return out


def fit_surrogate(evaluations: pd.DataFrame, seed: int = 0) -> Surrogate:
    """A table's surrogate from its `done` trace rows (columns family, params, score,
    seconds, and the run timing columns start_s and overhead_s)."""
    from scipy import stats
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.model_selection import cross_val_predict

    configs = [
        {"model": f, **{f"{f}__{k}": v for k, v in json.loads(p).items()}}
        for f, p in zip(evaluations["family"], evaluations["params"], strict=True)
    ]
    families = sorted({c["model"] for c in configs})
    names = sorted({k for c in configs for k in c if k != "model"})
    categories = {
        name: sorted({str(c[name]) for c in configs if name in c})
        for name in names
        if any(name in c and not isinstance(c[name], (int, float)) for c in configs)
    }
    columns = [f"family={f}" for f in families] + names
    X = encode(configs, columns, categories)
    y = np.column_stack([evaluations["score"].to_numpy(float), np.log(np.maximum(evaluations["seconds"], 1e-3))])
    model = RandomForestRegressor(n_estimators=SURROGATE_TREES, min_samples_leaf=SURROGATE_MIN_LEAF, random_state=seed)
    folds = min(5, len(X))
    predicted = cross_val_predict(model, X, y, cv=folds)[:, 0]
    quality = float(stats.spearmanr(predicted, y[:, 0]).statistic) if np.std(y[:, 0]) > 0 else math.nan
    model.fit(X, y)
    return Surrogate(
        columns,
        categories,
        model,
        float(evaluations["start_s"].iloc[0]),
        float(evaluations["overhead_s"].iloc[0]),
        quality,
    )


def replay_run(
    surrogate: Surrogate,
    strategy_name: str | Strategy,
    seed: int,
    table_meta: dict[str, Any],
    *,
    budget_s: float | None,
    max_trials: int,
) -> pd.DataFrame:
    """One strategy's replayed run on one table: a trace of (trial, time_s, score, best_so_far)."""
    import optuna

    from automl.features.choices import TableTraits
    from automl.models import registry
    from automl.models.fixed_rounds import fixed_rounds
    from automl.search.space import ConditionalSpace, quiet_optuna
    from automl.search.strategies import FallbackCounter, get_strategy

    strategy = get_strategy(strategy_name)
    families = {key: registry.get_family(key) for key in table_meta["families"]}
    if not table_meta["settings"]["early_stopping"]:
        families = {key: fixed_rounds(family) for key, family in families.items()}
    traits = table_meta.get("traits")  # absent from runs recorded before the feature choices
    space = ConditionalSpace(
        families,
        int(table_meta["n_rows"]),
        str(table_meta["task"]),
        TableTraits(**traits) if isinstance(traits, dict) else None,
    )
    greater = bool(table_meta["greater_is_better"])
    rows = []
    clock = surrogate.start_s
    best = math.nan
    with quiet_optuna():
        study = optuna.create_study(
            direction="maximize" if greater else "minimize", sampler=FallbackCounter(strategy.make_sampler(seed))
        )
        for trial_number in range(max_trials):
            trial = study.ask()
            space(trial)
            score, seconds = surrogate.predict(trial.params)
            clock += seconds
            if budget_s is not None and clock > budget_s:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
            study.tell(trial, score)
            if math.isnan(best) or (score > best if greater else score < best):
                best = score
            rows.append({"trial": trial_number, "time_s": clock, "score": score, "best_so_far": best})
            clock += surrogate.overhead_s
    return pd.DataFrame(rows, columns=["trial", "time_s", "score", "best_so_far"])


def run_replay(
    source: str | Path,
    *,
    strategies: list[str] | None = None,
    seeds: int = 30,
    max_trials: int = 100,
    time_budget_s: float | None = None,
) -> Path:
    """Replay the strategies of the benchmark in `source` (default: the ones it ran) with
    `seeds` seeds each, on surrogates of its recorded evaluations; write
    `source/replay/report.md` and `summary.json` (`replay-<S>s/` for a budget of S seconds
    of its own), and return the report's path.

    `time_budget_s` replaces the benchmark's budget on the simulated clock (a longer one
    asks what the strategies would do with more time); the agreement with the real runs
    is then not comparable, and the report says so."""
    from automl.benchmark.execute import resolve_strategies

    root = Path(source)
    try:
        runs = load_runs(root)
    except FileNotFoundError as exc:
        raise SpecError(f"{exc}: replay needs a benchmark directory with finished runs") from None
    names = [s.name for s in resolve_strategies(strategies or runs.strategies)]  # refused before any work
    started = time.monotonic()
    budget_s = time_budget_s if time_budget_s is not None else (None if runs.by_trials else runs.budget)
    trials = min(max_trials, int(runs.budget)) if runs.by_trials else max_trials
    chosen = resolve_strategies(names)
    work = [(table, _evaluations(runs, table)) for table in runs.tables]
    work = [(table, evaluations) for table, evaluations in work if len(evaluations) >= MIN_EVALUATIONS]
    rows, quality = [], {}
    for table, (table_rows, fit_quality) in zip(
        [t for t, _ in work], _map_tables(work, runs, chosen, seeds, budget_s, trials), strict=True
    ):
        rows.extend(table_rows)
        quality[table] = fit_quality
    replayed = pd.DataFrame(rows)
    out = root / (REPLAY if time_budget_s is None else f"{REPLAY}-{time_budget_s:g}s")
    out.mkdir(exist_ok=True)
    replayed.to_parquet(out / "runs.parquet", index=False)
    agreement = agreement_table(runs, replayed)
    summary = {
        "seeds": seeds,
        "max_trials": trials,
        "budget_s": budget_s,
        "real_budget": runs.budget,
        "budget_replaced": time_budget_s is not None,
        "strategies": names,
        "replayed_without_scheduler": [s.name for s in chosen if s.scheduler is not None],
        "surrogate_quality": quality,
        "agreement": agreement.to_dict(orient="records"),
        "wall_s": time.monotonic() - started,
    }
    atomic_write(out / "summary.json", json_text(summary))
    report = out / "report.md"
    atomic_write(report, replay_markdown(summary, agreement))
    return report


def _map_tables(
    work: list[tuple[str, pd.DataFrame]],
    runs: Any,
    strategies: list[Strategy],
    seeds: int,
    budget_s: float | None,
    trials: int,
) -> list[tuple[list[dict[str, Any]], float]]:
    """Replay each table as a Ray task of one CPU (a local Ray is started if none runs)."""
    import ray

    from automl.job.session import ray_session

    with ray_session():
        task = ray.remote(num_cpus=1)(replay_table)
        refs = [
            task.remote(
                evaluations,
                runs.meta[runs.meta["table"] == table].iloc[0].to_dict(),
                strategies,
                seeds,
                budget_s,
                trials,
            )
            for table, evaluations in work
        ]
        return list(ray.get(refs))


def replay_table(
    evaluations: pd.DataFrame,
    meta: dict[str, Any],
    strategies: list[Strategy],
    seeds: int,
    budget_s: float | None,
    trials: int,
) -> tuple[list[dict[str, Any]], float]:
    """Every strategy and seed on one table's surrogate: one row per replayed run, and the
    surrogate's quality. Strategies that share a sampler and differ only in a scheduler
    (not replayed) replay once, and their rows are copies."""
    surrogate = fit_surrogate(evaluations)
    rows: list[dict[str, Any]] = []
    replayed: dict[Any, list[dict[str, Any]]] = {}
    for strategy in strategies:
        if strategy.sampler in replayed:
            rows.extend({**row, "strategy": strategy.name} for row in replayed[strategy.sampler])
            continue
        mine = []
        for seed in range(seeds):
            trace = replay_run(surrogate, strategy, seed, meta, budget_s=budget_s, max_trials=trials)
            final = float(trace["best_so_far"].iloc[-1]) if len(trace) else math.nan
            mine.append(
                {"table": meta["table"], "strategy": strategy.name, "seed": seed, "best": final, "trials": len(trace)}
            )
        replayed[strategy.sampler] = mine
        rows.extend(mine)
    return rows, surrogate.fit_quality


def _evaluations(runs: Any, table: str) -> pd.DataFrame:
    """A table's fully evaluated configurations over all its runs, with the start-up and
    the overhead between configurations its real runs measured (medians)."""
    parts, starts, overheads = [], [], []
    for (name, _, _), trace in runs.traces.items():
        if name != table:
            continue
        done = trace[(trace["status"] == "done") & trace["seconds"].notna()].sort_values("time_s")
        if done.empty:
            continue
        parts.append(done)
        starts.append(float(done["time_s"].iloc[0] - done["seconds"].iloc[0]))
        if len(done) > 1:
            span = float(done["time_s"].iloc[-1] - done["time_s"].iloc[0])
            overheads.append(max(0.0, (span - float(done["seconds"].iloc[1:].sum())) / (len(done) - 1)))
    if not parts:
        return pd.DataFrame(columns=["family", "params", "score", "seconds", "start_s", "overhead_s"])
    frame = pd.concat(parts, ignore_index=True)
    frame["start_s"] = float(np.median(starts))
    frame["overhead_s"] = float(np.median(overheads)) if overheads else 0.0
    return frame


def agreement_table(runs: Any, replayed: pd.DataFrame) -> pd.DataFrame:
    """Per table: the strategies' mean normalised final scores in the real runs and in
    replay, and the Spearman correlation of the two orders (and their mean over tables)."""

    best_any = _best_per_table(runs)
    rows = []
    for table, group in replayed.groupby("table", sort=False):
        meta = runs.meta[runs.meta["table"] == table]
        dummy, greater = float(meta["dummy_score"].iloc[0]), bool(meta["greater_is_better"].iloc[0])
        # replay may find better than the real runs did: both normalised to the real best
        scale = functools.partial(_mean_normalised, dummy=dummy, best=best_any[str(table)], greater=greater)
        real = meta.groupby("strategy", sort=False)["best"].apply(scale)
        replay = group.groupby("strategy", sort=False)["best"].apply(scale)
        common = [s for s in replay.index if s in real.index]
        rho = _spearman(list(real[common]), list(replay[common]))
        rows.append({"table": table, "spearman": rho, "real": _order(real[common]), "replay": _order(replay[common])})
    rhos = [row["spearman"] for row in rows if not math.isnan(row["spearman"])]
    if rhos:
        rows.append({"table": "mean over tables", "spearman": float(np.mean(rhos)), "real": "", "replay": ""})
    return pd.DataFrame(rows, columns=["table", "spearman", "real", "replay"])


def _spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rho; NaN for fewer than 3 pairs or a constant side (no order to compare)."""
    from scipy import stats

    if len(a) < 3:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.spearmanr(a, b).statistic)


def _mean_normalised(scores: pd.Series, *, dummy: float, best: float, greater: bool) -> float:
    return float(np.mean(_normalise(scores.astype(float).to_numpy(), dummy, best, greater)))


def _order(scores: pd.Series) -> str:
    return " > ".join(str(s) for s in scores.sort_values(ascending=False).index)


def replay_markdown(summary: dict[str, Any], agreement: pd.DataFrame) -> str:
    from automl.benchmark.report import _markdown_table

    lines = [
        "## Replay on a surrogate of the recorded evaluations",
        "",
        f"{summary['seeds']} seeds per strategy and table, at most {summary['max_trials']} trials"
        + (f", {summary['budget_s']:g} s simulated budget" if summary["budget_s"] else "")
        + f"; took {summary['wall_s']:.0f} s.",
    ]
    if summary["replayed_without_scheduler"]:
        lines.append(
            f"Replayed with their sampler alone (no partial fidelity in the surrogate): "
            f"{', '.join(summary['replayed_without_scheduler'])}."
        )
    if summary["budget_replaced"]:
        lines.append(
            f"The simulated budget replaces the real runs' {summary['real_budget']:g}: the agreement below "
            "compares orders at different budgets."
        )
    quality = ", ".join(f"{t} {q:.2f}" for t, q in summary["surrogate_quality"].items())
    lines += [
        f"Surrogate quality (Spearman of cross-validated and recorded scores): {quality}.",
        "",
        "### Order of the strategies (mean normalised final score), real runs and replay",
        "",
        _markdown_table(agreement),
        "",
    ]
    return "\n".join(lines)
