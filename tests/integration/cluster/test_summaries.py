"""tests/integration/test_summaries.py on a Valkey Cluster."""

from tests.integration.test_summaries import *  # noqa: F403
