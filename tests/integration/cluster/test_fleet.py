"""tests/integration/test_fleet.py on a Valkey Cluster."""

from tests.integration.test_fleet import *  # noqa: F403
