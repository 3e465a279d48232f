"""The replica's Prometheus metrics, recorded off the request path by a thread of its own."""

from __future__ import annotations

import queue
import threading
from typing import Any

# Points wait at most this long: short beside Prometheus' scrape period, long enough that
# each counter is recorded once for many requests.
RECORD_INTERVAL_S = 0.5
# close() runs in a replica's __del__: it waits this long at most for the thread to stop.
_CLOSE_WAIT_S = 5.0


class MetricsRecorder:
    """Queues metric points from requests; a background thread records them.

    A Ray metric call releases the GIL. Under load, with Serve's own thread busy beside
    ours, getting it back costs each call far more than the call itself, and a request
    makes several. So requests only put a tuple on a queue; this thread sums counter
    increments with the same tags and records the rest every `interval_s`.
    """

    def __init__(self, interval_s: float = RECORD_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._queue: queue.SimpleQueue[tuple[Any, float, dict[str, str] | None, bool]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="automl-metrics", daemon=True)
        self._thread.start()

    def inc(self, counter: Any, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        """Add `value` to a `ray.serve.metrics.Counter` (recorded within `interval_s`)."""
        self._queue.put((counter, value, tags, True))

    def observe(self, histogram: Any, value: float, tags: dict[str, str] | None = None) -> None:
        """Record `value` in a `ray.serve.metrics.Histogram` (within `interval_s`)."""
        self._queue.put((histogram, value, tags, False))

    def flush(self) -> None:
        """Record everything queued so far."""
        with self._lock:
            totals: dict[tuple[int, tuple[tuple[str, str], ...]], tuple[Any, float]] = {}
            while True:
                try:
                    metric, value, tags, is_counter = self._queue.get_nowait()
                except queue.Empty:
                    break
                if is_counter:
                    key = (id(metric), tuple(sorted((tags or {}).items())))
                    totals[key] = (metric, totals.get(key, (metric, 0.0))[1] + value)
                else:
                    metric.observe(value, tags=tags)
            for (_, tag_items), (metric, total) in totals.items():
                metric.inc(total, tags=dict(tag_items))

    def close(self) -> None:
        """Stop the thread after recording what is queued."""
        self._stop.set()
        self._thread.join(timeout=_CLOSE_WAIT_S)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()
