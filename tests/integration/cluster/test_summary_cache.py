"""tests/integration/test_summary_cache.py on a Valkey Cluster."""

from tests.integration.test_summary_cache import *  # noqa: F403
