"""Several configurations per Tune trial when configurations are quick.

Tune spends tens of milliseconds of driver time on every trial it schedules (suggest,
actor reset, result processing, bookkeeping): for a configuration that fits in a few
tens of milliseconds, that overhead would be the job. `BatchingSearcher` wraps the Optuna
searcher and hands each Tune trial a batch of configurations sized so a batch takes about
`target_batch_s`; each configuration is still suggested, evaluated, told to Optuna and
recorded on its own.

A batch is filled one suggestion at a time, each counted at its family's measured pace:
families differ a hundredfold (a k-NN fit against a boosted model), so one average pace
would pack many slow configurations into one batch and leave the other workers idle. A
family not yet measured counts as a whole batch.

A configuration that kills its worker takes its batch down with it, so the configurations
of a crashed batch are retried one per Tune trial: the culprit fails alone, the others
are evaluated as if nothing happened.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from ray.tune.search import Searcher

from automl.pipeline.trial import MODEL_KEY, TrialStatus
from automl.search.batching_keys import BATCH_KEY, EXPECTED_KEY, IDS_KEY, REPORT_FOLDS_KEY

#: seconds of work a batch aims for. Longer than a trial actor takes to start (our imports
#: take seconds on a small machine): with shorter trials, Tune hands a staged trial to a
#: freed cached actor and kills the actor that was starting for it, again and again, so one
#: actor does all the work while worker processes are started and killed beside it.
TARGET_BATCH_S = 4.0

#: the most configurations in one batch, however quick: a crash sends its whole batch back
#: to run one configuration per Tune trial, and this bounds what one crash costs
MAX_BATCH = 128

#: the weight of a family's newest measured duration in its pace (an exponential moving
#: average): configurations of one family differ in size (ten trees or five hundred), so
#: one measurement moves the pace without replacing it, and the pace still follows a
#: family whose configurations the sampler moves towards larger ones
PACE_WEIGHT_OF_NEWEST = 0.3


def config_id(trial_id: str, index: int) -> str:
    """The id of one configuration of a Tune trial's batch (the leaderboard's trial id)."""
    return f"{trial_id}.{index}"


class BatchingSearcher(Searcher):
    """Suggests `{"batch": [config, ...], "ids": [id, ...]}`; tells the inner searcher each result.

    Args:
        inner: the searcher that proposes single configurations (Optuna).
        metric, mode: as in Tune.
        max_configs: stop suggesting after this many configurations (None: no limit).
        target_batch_s: aim for batches of about this many seconds.
        max_batch: never more configurations than this in one batch.
        concurrency: parallel trials; batches stay small enough to keep all of them busy
            until `max_configs` runs out.
        already_suggested: configurations a resumed search had run before (they count
            towards `max_configs`).
        prior_pace: seconds a configuration of each family is expected to take until one
            has been measured (from the table's size and the job's timing of its fallback).
        report_folds: one configuration per Tune trial, reporting each fold as it ends
            (a strategy whose scheduler stops trials early).
    """

    def __init__(
        self,
        inner: Searcher,
        *,
        metric: str,
        mode: str,
        max_configs: int | None = None,
        target_batch_s: float = TARGET_BATCH_S,
        max_batch: int = MAX_BATCH,
        concurrency: int = 1,
        already_suggested: int = 0,
        prior_pace: dict[str, float] | None = None,
        report_folds: bool = False,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self.inner = inner
        self.max_configs = max_configs
        self.target_batch_s = target_batch_s
        self.max_batch = 1 if report_folds else max_batch
        self.report_folds = report_folds
        self.concurrency = concurrency
        self.suggested = already_suggested
        self._batches: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
        self._retry: deque[tuple[str, dict[str, Any]]] = deque()
        self._pace: dict[str, float] = {}  # seconds per configuration, by family, measured
        self._prior = dict(prior_pace or {})

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def max_batch_size(self) -> int:
        """The most configurations the next batch may hold: few enough to keep every
        parallel trial busy until `max_configs` runs out."""
        size = self.max_batch
        if self.max_configs is not None:
            left = self.max_configs - self.suggested
            size = min(size, math.ceil(left / self.concurrency))
        return max(1, size)

    def expected_seconds(self, config: dict[str, Any]) -> float | None:
        """A configuration's expected duration, from its family's measured pace or, before
        one is measured, its prior (None: neither)."""
        family = config.get(MODEL_KEY, "")
        return self._pace.get(family, self._prior.get(family))

    # Tune's searchers return Searcher.FINISHED (a str) to end the search, which the base
    # class's annotation leaves out
    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        if self._retry:
            retry_id, retry_config = self._retry.popleft()
            self._batches[trial_id] = ([retry_id], [retry_config])
            return {
                BATCH_KEY: [retry_config],
                IDS_KEY: [retry_id],
                EXPECTED_KEY: [self.expected_seconds(retry_config)],
                REPORT_FOLDS_KEY: self.report_folds,
            }
        if self.max_configs is not None and self.suggested >= self.max_configs:
            return None if self._batches else Searcher.FINISHED  # a crash may still need retries
        ids: list[str] = []
        configs: list[dict[str, Any]] = []
        expected: list[float | None] = []
        for index in range(self.max_batch_size()):
            key = config_id(trial_id, index)
            config = self.inner.suggest(key)
            if config is None or config == Searcher.FINISHED:
                break
            ids.append(key)
            configs.append(config)
            expected.append(self.expected_seconds(config))
            if sum(self.target_batch_s if e is None else e for e in expected) >= self.target_batch_s:
                break
        if not configs:
            return Searcher.FINISHED
        self._batches[trial_id] = (ids, configs)
        self.suggested += len(configs)
        return {BATCH_KEY: configs, IDS_KEY: ids, EXPECTED_KEY: expected, REPORT_FOLDS_KEY: self.report_folds}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        ids, configs = self._batches.pop(trial_id, ([], []))
        outcomes = (result or {}).get("outcomes") or []
        if error and not outcomes and len(ids) > 1:
            self._retry.extend(zip(ids, configs, strict=True))  # isolate the configuration that crashed
            return
        unreported = (TrialStatus.FAILED if error else TrialStatus.STOPPED, None)
        for index, key in enumerate(ids):
            reported, score = outcomes[index] if index < len(outcomes) else unreported
            status = TrialStatus(reported)
            if status is TrialStatus.DONE:
                self.inner.on_trial_complete(key, {self.metric: score})
            else:  # Optuna: FAIL for a failure, PRUNED for a stop
                self.inner.on_trial_complete(key, None, error=status is TrialStatus.FAILED)
        for config, seconds in zip(configs, (result or {}).get("seconds") or [], strict=False):
            if seconds is None:
                continue
            family = config.get(MODEL_KEY, "")
            previous = self._pace.get(family)
            if previous is not None:
                seconds = (1 - PACE_WEIGHT_OF_NEWEST) * previous + PACE_WEIGHT_OF_NEWEST * seconds
            self._pace[family] = seconds

    def save(self, checkpoint_path: str) -> None:
        self.inner.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.inner.restore(checkpoint_path)
