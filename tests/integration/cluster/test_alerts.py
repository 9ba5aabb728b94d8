"""tests/integration/test_alerts.py on a Valkey Cluster."""

from tests.integration.test_alerts import *  # noqa: F403
