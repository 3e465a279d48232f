"""Ray Serve application for automl model artifacts.

`deploy(model_dir, ServeConfig(...))` serves a model behind a FastAPI ingress with
autoscaling replicas, request validation, dynamic batching, bearer-token auth,
Prometheus metrics, drift statistics and a feedback log. `automl serve` wraps it.
"""

from serve.config import ServeConfig
from serve.deploy import HAPROXY_PRELOAD, chosen_ingress, deploy, ingress_environment, load_config
from serve.hooks import MonitorHook

__all__ = [
    "HAPROXY_PRELOAD",
    "MonitorHook",
    "ServeConfig",
    "chosen_ingress",
    "deploy",
    "ingress_environment",
    "load_config",
]
