"""tests/integration/test_dispatch.py on a Valkey Cluster."""

from tests.integration.test_dispatch import *  # noqa: F403
