"""cluster.yaml is checked against the Ray cluster launcher's own config schema."""

from __future__ import annotations

from pathlib import Path

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "cluster.yaml"


def test_cluster_yaml_matches_the_launcher_schema():
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    validate_config(prepare_config(config))  # the launcher fills defaults, then checks the schema
    assert config["head_node_type"] in config["available_node_types"]
    workers = config["available_node_types"]["cpu_worker"]
    assert workers["min_workers"] < workers["max_workers"]  # autoscaling workers


def test_dashboard_and_jobs_api_listen_on_loopback_only():
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head
    assert "RAY_AUTH_MODE=token" in head
    assert any("pip install -e /home/ubuntu/automl" in c for c in config["setup_commands"])


def test_the_schema_check_is_real():
    import jsonschema
    import pytest

    config = yaml.safe_load(CLUSTER_YAML.read_text())
    config["head_node_typo"] = "head"
    with pytest.raises(jsonschema.ValidationError, match="head_node_typo"):
        validate_config(prepare_config(config))
