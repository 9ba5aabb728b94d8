"""tests/integration/test_registry.py on a Valkey Cluster."""

from tests.integration.test_registry import *  # noqa: F403
