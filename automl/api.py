"""The Python facade: `AutoML(...).fit(df, target=...)`, then predict, save, load.

Users meet only this class (and the scikit-learn estimators built on it); the job,
search and artifact modules stay behind it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.artifacts.store import load_model, save_model
from automl.data.ingest import read_table
from automl.job import FitResult, fit_table
from automl.pipeline.model import TabularModel
from automl.spec import OPTIONS, JobSpec, spec_from_options


class AutoML:
    """Search model families and hyperparameters on Ray, keep the best model.

    Args:
        task: "auto", "binary", "multiclass" or "regression".
        metric: one of `automl.evaluation.METRICS`; None for the task's default.
        time_budget_s: wall-clock budget of the whole fit, in seconds.
        max_trials: stop after this many trials (None: only the time budget).
        strategy: Optuna sampler: "tpe", "random", "qmc" or "cmaes".
        models: model family keys to search (None: all registered families).
        cv_folds: folds of the cross-validation every trial is scored with (None: 5, or a
            holdout when too few configurations would fit on 5 folds in the budget).
        seed: seeds folds, sampler and models.
        cpus_per_trial: CPUs each trial holds (its thread count).
        address: Ray cluster address; None starts or reuses a local instance.
        ensemble: "selection" (greedy weighted ensemble), "stacking" or "best"; an
            ensemble is kept only when its nested-CV score beats the best single trial.
        verbose: show the live progress line.

        Every other keyword is the `automl.spec.OPTIONS` setting of the same name (None:
        the job spec's default), as `automl fit` takes it with dashes: `positive_class`,
        `trial_timeout_s`, `max_retries`, `portfolio`, `top_k`, `final_members`,
        `max_inference_ms_per_row`, `save_best_single`, `for_serving`, `score_tolerance`,
        `drop_columns`, `hash_columns`, `allow_personal_data`, `clip_outliers`,
        `sensitive_features`, `fixed_features`, `weight_column`, `max_cpus`.

    Example:
        >>> am = AutoML(time_budget_s=60).fit(train_df, target="y")  # doctest: +SKIP
        >>> am.leaderboard().head()  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        task: str = "auto",
        metric: str | None = None,
        positive_class: Any = None,
        time_budget_s: float | None = 60.0,
        max_trials: int | None = None,
        strategy: str = "tpe",
        models: list[str] | None = None,
        cv_folds: int | None = None,
        seed: int = 0,
        trial_timeout_s: float | None = None,
        max_retries: int | None = None,
        portfolio: str | None = None,
        ensemble: str = "selection",
        top_k: int | None = None,
        final_members: str | None = None,
        max_inference_ms_per_row: float | None = None,
        save_best_single: bool | None = None,
        for_serving: bool | None = None,
        score_tolerance: float | None = None,
        drop_columns: list[str] | None = None,
        hash_columns: list[str] | None = None,
        allow_personal_data: bool | None = None,
        clip_outliers: bool | None = None,
        sensitive_features: list[str] | None = None,
        fixed_features: bool | None = None,
        weight_column: str | None = None,
        cpus_per_trial: float = 1.0,
        max_cpus: float | None = None,
        address: str | None = None,
        verbose: bool = True,
    ) -> None:
        self.task = task
        self.metric = metric
        self.positive_class = positive_class
        self.time_budget_s = time_budget_s
        self.max_trials = max_trials
        self.strategy = strategy
        self.models = models
        self.cv_folds = cv_folds
        self.seed = seed
        self.trial_timeout_s = trial_timeout_s
        self.max_retries = max_retries
        self.portfolio = portfolio
        self.ensemble = ensemble
        self.top_k = top_k
        self.final_members = final_members
        self.max_inference_ms_per_row = max_inference_ms_per_row
        self.save_best_single = save_best_single
        self.for_serving = for_serving
        self.score_tolerance = score_tolerance
        self.drop_columns = drop_columns
        self.hash_columns = hash_columns
        self.allow_personal_data = allow_personal_data
        self.clip_outliers = clip_outliers
        self.sensitive_features = sensitive_features
        self.fixed_features = fixed_features
        self.weight_column = weight_column
        self.cpus_per_trial = cpus_per_trial
        self.max_cpus = max_cpus
        self.address = address
        self.verbose = verbose
        self.model_: TabularModel | None = None
        self.result_: FitResult | None = None

    def options(self) -> dict[str, Any]:
        """The job settings of this object, by `automl.spec.OPTIONS` name."""
        return {option.name: getattr(self, option.name) for option in OPTIONS}

    def spec(self, target: str, train: str = "<dataframe>") -> JobSpec:
        """The job spec these settings describe (validated)."""
        return spec_from_options(train=train, target=target, **self.options())

    def fit(self, data: pd.DataFrame | str | Path, target: str) -> AutoML:
        """Search on `data` (a DataFrame or a CSV / Parquet path) to predict `target`."""
        location = None if isinstance(data, pd.DataFrame) else str(data)
        spec = self.spec(target, train=location or "<dataframe>")
        frame = data if isinstance(data, pd.DataFrame) else read_table(location)  # type: ignore[arg-type]
        self.result_ = fit_table(frame, spec, show_progress=self.verbose)
        self.model_ = self.result_.model
        return self

    def _model(self) -> TabularModel:
        if self.model_ is None:
            raise RuntimeError("this AutoML is not fitted yet: call fit() or AutoML.load()")
        return self.model_

    def leaderboard(self) -> pd.DataFrame:
        """Every trial, best first (empty for a loaded model: the leaderboard stays in the run)."""
        if self.result_ is None:
            self._model()
            return pd.DataFrame()
        return self.result_.leaderboard.copy()

    @property
    def summary(self) -> dict[str, Any]:
        return self.result_.summary.to_json_dict() if self.result_ else {}

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Labels (classification) or values (regression) for each row."""
        return self._model().predict(frame)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in the order of `classes`."""
        return self._model().predict_proba(frame)

    @property
    def classes(self) -> list[Any] | None:
        return self._model().classes

    def save(self, directory: str | Path) -> Path:
        """Write the model as a checksummed artifact directory."""
        extra = {"cv_score": self.result_.summary.ensemble_cv_score} if self.result_ else None
        return save_model(self._model(), directory, extra=extra)

    @classmethod
    def load(cls, directory: str | Path) -> AutoML:
        """Load a saved model after verifying every file's checksum."""
        model = load_model(directory)
        am = cls(task=model.task, metric=model.metric)
        am.model_ = model
        return am


def benchmark_strategies(
    suite: str | Path,
    strategies: list[Any],
    *,
    output: str | Path,
    time_budget_s: float | None = None,
    max_trials: int | None = None,
    seeds: int = 1,
    tables: list[str] | None = None,
    models: list[str] | None = None,
    cv_folds: int = 5,
    cpus_per_run: float = 1.0,
    portfolio: bool = False,
    early_stopping: bool = False,
) -> Any:
    """Compare search strategies on a suite (as `automl benchmark`); resumable in `output`.

    Args:
        suite: a suite YAML, or a directory of tables with `manifest.json`.
        strategies: registered strategy names, or `Strategy` entries.
        output: the benchmark directory; calling again with it runs only what is missing.
        time_budget_s, max_trials: each run's budget (exactly one of them).
        seeds: seeds per strategy and table.
        tables, models: only these tables of the suite, these model families.
        cpus_per_run: each run's CPU share; as many runs go at once as the cluster holds.
        portfolio, early_stopping: off by default, so each strategy starts cold.

    Returns:
        A `BenchmarkResult`: the runs it ran and skipped, failures, and the report's path.
    """
    from automl.benchmark import RunSettings, load_suite, run_benchmark

    settings = RunSettings(
        time_budget_s=time_budget_s,
        max_trials=max_trials,
        cv_folds=cv_folds,
        cpus_per_run=cpus_per_run,
        portfolio=portfolio,
        early_stopping=early_stopping,
        models=tuple(models) if models else None,
    )
    return run_benchmark(load_suite(suite).select(tables), strategies, settings, seeds=seeds, output=output)


def replay_benchmark(
    benchmark_dir: str | Path,
    *,
    strategies: list[str] | None = None,
    seeds: int = 30,
    max_trials: int = 100,
    time_budget_s: float | None = None,
) -> Path:
    """Replay strategies on a surrogate of a benchmark's recorded evaluations (on a
    simulated clock of the benchmark's budget, or `time_budget_s`); the report's path."""
    from automl.benchmark.replay import run_replay

    return run_replay(
        benchmark_dir, strategies=strategies, seeds=seeds, max_trials=max_trials, time_budget_s=time_budget_s
    )
