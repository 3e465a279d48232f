"""Several configurations per Tune trial when configurations are quick.

Tune spends tens of milliseconds of driver time on every trial it schedules (suggest,
actor reset, result processing, bookkeeping). For a 50 ms configuration that overhead
is the job. `BatchingSearcher` wraps the Optuna searcher and hands each Tune trial a
batch of configurations sized so a batch takes about `target_batch_s`; each configuration
is still suggested, evaluated, told to Optuna and recorded on its own.

A batch is filled one suggestion at a time, each counted at its family's measured pace:
families differ a hundredfold (a k-NN fit against a boosted model), so an average pace
once packed 21 configurations, 50 s of work, into one "4 s" batch. A family not yet
measured counts as a whole batch.

A configuration that kills its worker takes its batch down with it, so the configurations
of a crashed batch are retried one per Tune trial: the culprit fails alone, the others
are evaluated as if nothing happened.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from ray.tune.search import Searcher

from automl.pipeline.trial import MODEL_KEY
from automl.search.batching_keys import BATCH_KEY, EXPECTED_KEY, IDS_KEY


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
    """

    def __init__(
        self,
        inner: Searcher,
        *,
        metric: str,
        mode: str,
        max_configs: int | None = None,
        target_batch_s: float = 1.0,
        max_batch: int = 128,
        concurrency: int = 1,
        already_suggested: int = 0,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self.inner = inner
        self.max_configs = max_configs
        self.target_batch_s = target_batch_s
        self.max_batch = max_batch
        self.concurrency = concurrency
        self.suggested = already_suggested
        self._batches: dict[str, tuple[list[str], list[dict]]] = {}
        self._retry: deque[tuple[str, dict]] = deque()
        self._pace: dict[str, float] = {}  # seconds per configuration, by family

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def max_batch_size(self) -> int:
        """The most configurations the next batch may hold: few enough to keep every
        parallel trial busy until `max_configs` runs out."""
        size = self.max_batch
        if self.max_configs is not None:
            left = self.max_configs - self.suggested
            size = min(size, math.ceil(left / self.concurrency))
        return max(1, size)

    def expected_seconds(self, config: dict) -> float | None:
        """A configuration's expected duration, from its family's pace (None: not measured yet)."""
        return self._pace.get(config.get(MODEL_KEY, ""))

    def suggest(self, trial_id: str) -> dict | str | None:
        if self._retry:
            config_key, config = self._retry.popleft()
            self._batches[trial_id] = ([config_key], [config])
            return {BATCH_KEY: [config], IDS_KEY: [config_key], EXPECTED_KEY: [self.expected_seconds(config)]}
        if self.max_configs is not None and self.suggested >= self.max_configs:
            return None if self._batches else Searcher.FINISHED  # a crash may still need retries
        ids, configs = [], []
        expected: list[float | None] = []
        for index in range(self.max_batch_size()):
            key = config_id(trial_id, index)
            config = self.inner.suggest(key)
            if config is None or config == Searcher.FINISHED:
                break
            ids.append(key)
            configs.append(config)
            seconds = self.expected_seconds(config)
            expected.append(seconds)
            if sum(self.target_batch_s if e is None else e for e in expected) >= self.target_batch_s:
                break
        if not configs:
            return Searcher.FINISHED
        self._batches[trial_id] = (ids, configs)
        self.suggested += len(configs)
        return {BATCH_KEY: configs, IDS_KEY: ids, EXPECTED_KEY: expected}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        ids, configs = self._batches.pop(trial_id, ([], []))
        outcomes = (result or {}).get("outcomes") or []
        if error and not outcomes and len(ids) > 1:
            self._retry.extend(zip(ids, configs, strict=True))  # isolate the configuration that crashed
            return
        for index, key in enumerate(ids):
            status, score = outcomes[index] if index < len(outcomes) else ("failed" if error else "stopped", None)
            if status == "done":
                self.inner.on_trial_complete(key, {self.metric: score})
            else:  # Optuna: FAIL for a failure, PRUNED for a stop
                self.inner.on_trial_complete(key, None, error=status == "failed")
        for config, seconds in zip(configs, (result or {}).get("seconds") or [], strict=False):
            if seconds is None:
                continue
            family = config.get(MODEL_KEY, "")
            previous = self._pace.get(family)
            self._pace[family] = seconds if previous is None else 0.7 * previous + 0.3 * seconds

    def save(self, checkpoint_path: str) -> None:
        self.inner.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.inner.restore(checkpoint_path)
