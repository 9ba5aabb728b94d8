"""tests/integration/test_partitions.py on a Valkey Cluster: the partitions on slots of their
own, spread over the primaries."""

from tests.integration.test_partitions import *  # noqa: F403
