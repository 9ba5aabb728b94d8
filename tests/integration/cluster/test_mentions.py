"""tests/integration/test_mentions.py on a Valkey Cluster."""

from tests.integration.test_mentions import *  # noqa: F403
