"""End-to-end fixtures shared by modules that each start their own ``service``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from redis import Redis as SyncRedis

from tests.harness import ServiceProcess


@pytest.fixture
def api(service: ServiceProcess, store: SyncRedis) -> Iterator[httpx.Client]:
    """A client of the module's service; the ``store`` fixture has emptied the store."""
    with httpx.Client(base_url=service.url, timeout=10) as client:
        yield client
