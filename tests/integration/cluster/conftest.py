"""The integration tests re-run on a Valkey Cluster: each module here imports a standalone
module's tests and fixtures, and ``redis`` becomes the service's cluster client, so the same
assertions hold on both; a CROSSSLOT reply from any node fails the test (``tests.cluster``)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis


@pytest.fixture
def redis(cluster_redis: Redis) -> Redis:
    return cluster_redis
