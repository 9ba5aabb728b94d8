"""tests/integration/test_dashboard.py on a Valkey Cluster: the whole app in process (every
background loop on the cluster) behind ``guarded``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.cluster import ValkeyCluster
from tests.integration.test_dashboard import (  # noqa: F401 - collected here, on the cluster
    guarded_app,
    test_a_brand_without_data_yet,
    test_a_stream_sends_changed_regions_then_alive_then_stale,
    test_replicas_announce_themselves_and_leave,
    test_the_event_stream_of_the_system_page,
    test_the_feed_wakes_waiters_when_a_summary_is_published,
    test_the_replicas_api_shows_the_leader,
    test_with_a_read_key_the_pages_ask_for_it,
)


@pytest.fixture
def guarded(no_crossslot: ValkeyCluster) -> Iterator[TestClient]:
    no_crossslot.flush()
    with guarded_app(no_crossslot.url) as client:
        assert client.get("/health/ready").status_code == 200
        yield client
        loops = client.get("/health").json()["loops"]
        assert {name: loop["lastError"] for name, loop in loops.items() if loop["errors"]} == {}
