"""Evaluation: metrics and the leaderboard."""

from automl.evaluation.metrics import DEFAULT_METRIC, METRICS, Metric, get_metric, resolve_metric

__all__ = ["DEFAULT_METRIC", "METRICS", "Metric", "get_metric", "resolve_metric"]
