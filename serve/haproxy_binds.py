"""Keeps HAProxy's stats page and Prometheus exporter on the serving host.

Serve renders HAProxy's config in its HAProxy manager actor, a worker of the Ray that
`automl serve` starts. That Ray's workers import this module as they start (Ray's
`preload_python_modules`, set by the CLI), so the template is patched
(`automl.compat.haproxy_binds_on`) before it is rendered. Outside such a Ray,
`HOST_ENV` is unset and importing this does nothing.
"""

from __future__ import annotations

import os

from automl.compat import haproxy_binds_on

HOST_ENV = "AUTOML_SERVE_HAPROXY_HOST"

if os.environ.get(HOST_ENV):
    haproxy_binds_on(os.environ[HOST_ENV])
