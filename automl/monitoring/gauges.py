"""Prometheus gauges of a watched model (`automl monitor NAME --watch --metrics-port`):
each feature's drift test and PSI, the prediction's, the live metric, and the retrains
submitted, served on 127.0.0.1 in Prometheus' text format for a scraper to read.

A registry of our own, not prometheus_client's global one: the process exports only
these, and a second watcher in one process (a test) does not collide with the first.
"""

from __future__ import annotations

from typing import Any

LABELS = ("model",)


class MonitorGauges:
    """The gauges of one watched model, served over HTTP on `host`:`port` (0: a free port)."""

    def __init__(self, model: str, port: int, host: str = "127.0.0.1") -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

        self.model = model
        self.registry = CollectorRegistry()
        gauge = lambda name, text, *labels: Gauge(name, text, [*LABELS, *labels], registry=self.registry)  # noqa: E731
        self.p_value = gauge("automl_drift_p_value", "Each feature's drift test p-value.", "feature")
        self.psi = gauge("automl_drift_psi", "Each feature's population stability index.", "feature")
        self.drifted = gauge("automl_drift_flagged", "1 where the feature's test flags drift, else 0.", "feature")
        self.rows = gauge("automl_monitored_rows", "Logged rows in the last check.")
        self.metric = gauge("automl_live_metric", "The live metric over the last window of labelled rows.", "metric")
        self.tripped = gauge("automl_monitor_tripped", "1 when the last check tripped a threshold.")
        self.retrains = Counter("automl_retrains_submitted", "Retrains submitted.", LABELS, registry=self.registry)
        self.server, self.thread = start_http_server(port, addr=host, registry=self.registry)
        self.port = int(self.server.server_port)

    def update(self, report: dict[str, Any], metric: dict[str, Any] | None, tripped: bool, submitted: bool) -> None:
        """Set the gauges from a check: its drift `report`, live `metric` and outcome."""
        for item in [*report["features"], *([report["prediction"]] if report.get("prediction") else [])]:
            labels = {"model": self.model, "feature": item["name"]}
            if item["p_value"] is not None:
                self.p_value.labels(**labels).set(item["p_value"])
            if item["psi"] is not None:
                self.psi.labels(**labels).set(item["psi"])
            self.drifted.labels(**labels).set(1.0 if item["drifted"] else 0.0)
        self.rows.labels(model=self.model).set(report["rows"])
        if metric is not None and metric["points"]:
            name = metric["metric"]
            self.metric.labels(model=self.model, metric=name).set(metric["points"][-1][name])
        self.tripped.labels(model=self.model).set(1.0 if tripped else 0.0)
        if submitted:
            self.retrains.labels(model=self.model).inc()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


__all__ = ["MonitorGauges"]
