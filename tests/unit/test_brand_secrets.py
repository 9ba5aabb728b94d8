from __future__ import annotations

import json
from typing import Any

from orchestrator.brand_secrets import MASK, redacted_json, restored

HOOK = {"url": "https://hooks.example.com/a", "secret": "s" * 16}
FEED = {"type": "rss", "url": "https://feeds.example.com/a.xml"}


def test_a_brand_without_secrets_is_served_as_stored() -> None:
    document = b'{"name":"Nike","alerts":[],"sources":[{"options":{"headers":{}}}]}'
    assert redacted_json(document) is document


def test_every_secret_is_masked_and_nothing_else_changes() -> None:
    source = {**FEED, "options": {"headers": {"X-Key": "k"}}}
    document = {"name": "Nike", "alerts": [HOOK], "sources": [source, {"type": "file"}]}
    served = json.loads(redacted_json(json.dumps(document).encode()))
    assert served == {
        "name": "Nike",
        "alerts": [{"url": HOOK["url"], "secret": MASK}],
        "sources": [{**FEED, "options": {"headers": {"X-Key": MASK}}}, {"type": "file"}],
    }


def test_masks_sent_back_take_the_stored_values_by_url_and_name() -> None:
    stored = {"alerts": [HOOK], "sources": [{**FEED, "options": {"headers": {"X-Key": "k"}}}]}
    sent = {
        "alerts": [
            {"url": HOOK["url"], "secret": MASK},
            {"url": "https://b.example", "secret": MASK},
        ],
        "sources": [{**FEED, "options": {"headers": {"X-Key": MASK, "X-New": MASK, "A": "b"}}}],
    }
    document, unknown = restored(sent, stored)
    assert document["alerts"][0] == HOOK
    assert document["sources"][0]["options"]["headers"]["X-Key"] == "k"
    assert document["sources"][0]["options"]["headers"]["A"] == "b"
    assert unknown == [("alerts", 1, "secret"), ("sources", 0, "options", "headers", "X-New")]


def test_what_is_not_a_brand_is_left_for_validation_to_name() -> None:
    sent: dict[str, Any] = {"alerts": "nope", "sources": [3, {"options": "x"}]}
    assert restored(sent, {"alerts": [HOOK]}) == (sent, [])
