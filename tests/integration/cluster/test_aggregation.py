"""tests/integration/test_aggregation.py on a Valkey Cluster."""

from tests.integration.test_aggregation import *  # noqa: F403
