"""A brand's secrets are write-only: reads show ``MASK`` for each webhook secret and each source
header value (where API keys and tokens go), and a write that sends ``MASK`` back keeps the
stored value it stands for: a webhook's secret by the webhook's URL, a header's value by the
source's URL and the header's name. So a client can read a brand, change it and send it back.
"""

from __future__ import annotations

from typing import Any

import msgspec

MASK = "********"  # never a valid secret (16 characters at least)

Location = tuple[str | int, ...]


def redacted(document: dict[str, Any]) -> dict[str, Any]:
    """A brand's JSON document as reads serve it."""
    served = dict(document)
    served["alerts"] = [{**hook, "secret": MASK} for hook in document.get("alerts", [])]
    served["sources"] = [_masked_source(source) for source in document.get("sources", [])]
    return served


def redacted_json(document: bytes) -> bytes:
    """``redacted`` for a stored JSON document; the bytes as they are when it holds no secret
    (most brands: no webhooks, no headers)."""
    if b'"secret":' not in document and b'"headers":{"' not in document:
        return document
    return msgspec.json.encode(redacted(msgspec.json.decode(document)))


def restored(
    document: dict[str, Any], stored: dict[str, Any] | None
) -> tuple[dict[str, Any], list[Location]]:
    """``document`` (settings a client sent) with each ``MASK`` replaced by the ``stored``
    value it stands for, and the places of those that stand for nothing (a new webhook URL, a
    new source or header)."""
    stored = stored or {}
    unknown: list[Location] = []
    restored = dict(document)
    if isinstance(document.get("alerts"), list):
        secrets = {hook["url"]: hook["secret"] for hook in stored.get("alerts", [])}
        restored["alerts"] = [
            _restored_hook(hook, index, secrets, unknown)
            for index, hook in enumerate(document["alerts"])
        ]
    if isinstance(document.get("sources"), list):
        headers = {source.get("url"): _headers(source) for source in stored.get("sources", [])}
        restored["sources"] = [
            _restored_source(source, index, headers, unknown)
            for index, source in enumerate(document["sources"])
        ]
    return restored, unknown


def _restored_hook(hook: Any, index: int, secrets: dict[str, str], unknown: list[Location]) -> Any:
    if not isinstance(hook, dict) or hook.get("secret") != MASK:
        return hook
    if hook.get("url") not in secrets:
        unknown.append(("alerts", index, "secret"))
        return hook
    return {**hook, "secret": secrets[hook["url"]]}


def _restored_source(
    source: Any, index: int, stored: dict[Any, dict[str, Any]], unknown: list[Location]
) -> Any:
    sent = _headers(source) if isinstance(source, dict) else {}
    masked = [name for name, value in sent.items() if value == MASK]
    if not masked:
        return source
    known = stored.get(source.get("url"), {})
    unknown.extend(("sources", index, "options", "headers", n) for n in masked if n not in known)
    kept = {
        name: known.get(name, value) if value == MASK else value for name, value in sent.items()
    }
    return {**source, "options": {**source["options"], "headers": kept}}


def _headers(source: dict[str, Any]) -> dict[str, Any]:
    options = source.get("options")
    headers = options.get("headers") if isinstance(options, dict) else None
    return headers if isinstance(headers, dict) else {}


def _masked_source(source: dict[str, Any]) -> dict[str, Any]:
    headers = _headers(source)
    if not headers:
        return source
    return {**source, "options": {**source["options"], "headers": dict.fromkeys(headers, MASK)}}
