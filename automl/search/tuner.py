"""Ray Tune's part of the search: one Tuner, set up for many small trials.

Tune's defaults suit a few long trials: per-trial loggers, its own console output, a
traceback logged for every failed trial, and trial actors in a runtime environment of
their own. Each of those costs more than a small trial, so the search's Tuner runs with
them off, and only while it runs: nothing here changes the process until `run_tuner`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence

from ray import tune
from ray.tune import Callback, Trainable
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from automl.compat import tune_actor_env_defaults

#: Tune's settings for the search's Tuner, set (where the user has not) only while it runs:
#: Tune reads them as `tune.run` starts (Ray 2.60: `ray.tune.utils.callback`'s
#: `_create_default_callbacks`, `ray.tune.experimental.output.get_air_verbosity`)
TUNE_ENVIRONMENT = {
    # per-trial JSON/CSV/TensorBoard loggers cost more than a small trial: results live in
    # the TrialStore instead
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    # the legacy reporter, silent at verbose=0: the new output engine still prints its
    # experiment table and every trial's error, which the progress line reports instead
    "RAY_AIR_NEW_OUTPUT": "0",
}


def run_tuner(
    trainable: type[Trainable] | Callable[..., None],
    searcher: Searcher,
    callbacks: Sequence[Callback],
    *,
    budget_s: float | None,
    concurrency: int,
    max_retries: int,
    scheduler: TrialScheduler | None = None,
) -> None:
    """Run Tune to the end of the search; its own files go to a scratch directory.

    Args:
        trainable: the function trainable, with its parameters and resources.
        searcher: suggests the Tune trials' configurations and ends the search.
        callbacks: Tune callbacks, the ledger's monitor first.
        budget_s: the time budget left (None: none).
        concurrency: Tune trials at once, at most.
        max_retries: runs again of a trial whose worker or node died.
        scheduler: stops trials early on what they report (None: Tune's FIFO).
    """
    storage = tempfile.mkdtemp(prefix="automl-tune-")
    try:
        with tune_environment():
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=searcher,
                    scheduler=scheduler,
                    num_samples=-1,  # the searcher ends the search after max_trials configurations
                    time_budget_s=budget_s,
                    max_concurrent_trials=concurrency,
                    reuse_actors=True,
                    trial_dirname_creator=_trial_dirname,
                ),
                run_config=tune.RunConfig(
                    name=f"search-{uuid.uuid4().hex[:8]}",
                    storage_path=storage,
                    verbose=0,
                    callbacks=list(callbacks),
                    failure_config=tune.FailureConfig(max_failures=max_retries),
                ),
            )
            with quiet_tune_logs(), trial_actors_on_idle_workers():
                tuner.fit()
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def _trial_dirname(trial: Trial) -> str:
    return str(trial.trial_id)


@contextlib.contextmanager
def tune_environment() -> Iterator[None]:
    """Set `TUNE_ENVIRONMENT`'s variables the user has not set, for as long as Tune runs."""
    added = {name: value for name, value in TUNE_ENVIRONMENT.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextlib.contextmanager
def quiet_tune_logs() -> Iterator[None]:
    """Tune warns that per-trial result files are missing (we disabled them on purpose) and logs
    a traceback for every failed trial: the monitor reports both, in one line each."""
    logger = logging.getLogger("ray.tune")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def trial_actors_on_idle_workers() -> Iterator[None]:
    """Let Ray start Tune's trial actors on the idle workers it already has.

    Tune gives its trial actors a runtime environment of their own, with the environment
    variable PL_DISABLE_FORK (for PyTorch Lightning, which we do not use). Ray hands an
    actor an idle worker only when their runtime environments match, so every trial actor
    would wait for a new worker process and its imports instead of taking one of the idle
    workers Ray starts (and preloads) with the job. Without the variable the environment
    is the job's. Tune's other variables (cloud credentials, for instance) still pass, and
    a Ray that has them starts new workers for its trial actors.
    """
    defaults = tune_actor_env_defaults()
    if defaults is None:  # another Tune: nothing to change (compat logged it)
        yield
        return
    saved = dict(defaults)
    defaults.pop("PL_DISABLE_FORK", None)
    try:
        yield
    finally:
        defaults.clear()
        defaults.update(saved)
