"""The whole pipeline on one machine: ``orchestrator run --demo`` registers the demo brands,
streams their mentions in, its workers analyse them, and every mention is counted once. The
service is the session's demo (``tests/demo.py``), which waits until every brand's summary
counts every mention."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest
from redis import Redis as SyncRedis

from tests.demo import demo_counts
from tests.harness import ServiceProcess, wait_until


@pytest.mark.timeout(360)  # run first, it waits for the demo (about 45 s on an idle machine)
def test_the_demo_is_analysed_end_to_end(
    demo: ServiceProcess, demo_store: SyncRedis, demo_recall: datetime
) -> None:
    expected = demo_counts()
    assert len(expected) == 3
    assert sum(expected.values()) >= 3_000
    totals = {
        brand: httpx.get(f"{demo.url}/v1/brands/{brand}/aggregate").json()["totalMentions"]
        for brand in expected
    }
    assert totals == expected  # every mention analysed, once
    spiking = httpx.get(f"{demo.url}/v1/brands/quillfern/aggregate").json()
    calm = [
        httpx.get(f"{demo.url}/v1/brands/{b}/aggregate").json() for b in ("tamsrow", "orrindale")
    ]
    spikes = spiking["spikes"]
    recall = demo_recall
    assert [s["at"][:13] for s in spikes] == [f"{recall:%Y-%m-%dT%H}"]  # the recall, only
    assert not any(view["spikes"] for view in calm)
    assert spiking["sentiment"]["negative"] > 0
    assert spiking["clusters"]
    assert httpx.get(f"{demo.url}/v1/failed").json()["items"] == []

    def recall_summarized() -> bool:  # the summary made after the spike names it
        current = json.loads(demo_store.get("summary:brand:quillfern") or b"{}")  # original key
        return bool(current.get("spikeDetected"))

    wait_until(recall_summarized, timeout_s=30, what="the recall in quillfern's summary")
    summary = json.loads(demo_store.get("summary:brand:quillfern") or b"{}")
    assert summary["provider"] == "grounded"
    assert summary["totalMentions"] == expected["quillfern"]
    assert f"spike on {recall:%d %b %H:%M} UTC" in summary["headline"]
