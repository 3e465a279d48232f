"""The job's time budget: one monotonic clock, started when the command starts.

Every step of a job (starting Ray, preparing the data, the search, the ensemble, the
refit, saving) asks the `Budget` for its time, and the time each step took is recorded,
so the summary shows where the budget went. The search gets what is left once the steps
after it have their shares, and those shares come from what the steps are estimated to
cost on this table (see `automl.job` and `automl.ensemble`), not from a fixed fraction:
a fixed reserve of 3 s out of 10 left a small table no time to search at all.

A job without a time budget (`max_trials` only) has a budget with no end: `left()` is
infinite and every grant is what was asked for.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from automl.errors import SpecError


@dataclass
class Budget:
    """A job's wall-clock budget on `time.monotonic()`.

    Args:
        total_s: the whole job's budget in seconds (None: no time limit).
        started: `time.monotonic()` when the command started (default: now).
    """

    total_s: float | None
    started: float = field(default_factory=time.monotonic)
    spent: dict[str, float] = field(default_factory=dict)  # seconds each step took, in order
    reserved: dict[str, float] = field(default_factory=dict)  # shares promised to later steps

    @property
    def limited(self) -> bool:
        return self.total_s is not None

    @property
    def deadline(self) -> float:
        """`time.monotonic()` at which the budget ends (infinite without a time budget)."""
        return math.inf if self.total_s is None else self.started + self.total_s

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        """Seconds until the budget ends (infinite without a time budget; may be negative)."""
        return self.deadline - time.monotonic()

    def reserve(self, step: str, seconds: float) -> None:
        """Promise `seconds` to a later step, so that earlier steps leave it."""
        self.reserved[step] = max(0.0, float(seconds))

    def release(self, step: str) -> float:
        """The step's promised share, no longer kept back from the steps before it."""
        return self.reserved.pop(step, 0.0)

    def grant(self, step: str, wanted_s: float | None = None) -> float:
        """How long `step` may take: what is left after the other steps' shares, at most
        `wanted_s`. Its own share, if one was reserved, is released to it."""
        self.release(step)
        available = self.left() - sum(self.reserved.values())
        if wanted_s is not None:
            available = min(available, wanted_s)
        return max(0.0, available)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step; its share is released as it starts."""
        self.release(name)
        start = time.monotonic()
        try:
            yield
        finally:
            self.spent[name] = self.spent.get(name, 0.0) + time.monotonic() - start

    def require(self, needed_s: float, what: str) -> None:
        """Refuse up front a budget that cannot fit `needed_s` more seconds.

        Raises:
            SpecError: the budget is too small; the message states the smallest that fits.
        """
        if self.total_s is None or needed_s <= self.left():
            return
        minimum = math.ceil(self.elapsed() + needed_s)
        raise SpecError(
            f"a time budget of {self.total_s:g}s is too small for this table: it needs at least {minimum}s "
            f"({what}); raise --time-budget (budget.time_s) to {minimum} or more"
        )

    def report(self) -> dict[str, object]:
        """The budget's account for the summary: total, steps' seconds, time left."""
        return {
            "time_s": self.total_s,
            "steps_s": {name: round(seconds, 3) for name, seconds in self.spent.items()},
            "elapsed_s": round(self.elapsed(), 3),
        }


__all__ = ["Budget"]
