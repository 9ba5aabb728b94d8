"""A local OpenAI-compatible Chat Completions server for the LLM tests: real HTTP on loopback,
answering each request as scripted (a valid answer built from the prompt's data, or a failure).

Its "model" is gullible on purpose: when a mention's text says ``IGNORE PREVIOUS INSTRUCTIONS``,
it obeys the mention, as a weak model might, so the tests can show that what it then writes is
refused rather than published.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.http_server import serving

Behaviour = Literal[
    "valid", "fenced", "not_json", "invented_id", "wrong_number", "slow", "429", "500", "extra"
]
INJECTION = "IGNORE PREVIOUS INSTRUCTIONS"


@dataclass
class FakeLLM:
    """Answers with ``default`` unless ``script`` holds the next behaviour."""

    default: Behaviour = "valid"
    script: deque[Behaviour] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    slow_s: float = 3.0
    url: str = ""

    async def complete(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.authorizations.append(request.headers.get("authorization", ""))
        behaviour = self.script.popleft() if self.script else self.default
        data = json.loads(body["messages"][-1]["content"])
        if behaviour == "429":
            return JSONResponse({"error": {"message": "rate limited"}}, status_code=429)
        if behaviour == "500":
            return PlainTextResponse("upstream exploded", status_code=500)
        if behaviour == "slow":
            await asyncio.sleep(self.slow_s)
        content = _content(behaviour, data)
        return JSONResponse(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 321, "completion_tokens": 54, "total_tokens": 375},
            }
        )


def _content(behaviour: Behaviour, data: dict[str, Any]) -> str:
    mentions = [m for c in data["topClusters"] for m in c["mentions"]]
    if any(INJECTION in m["text"] for m in mentions):
        behaviour = "invented_id"  # the gullible model follows the mention's instructions
    if behaviour == "not_json":
        return "Sure! Here is a summary: the brand is doing fine."
    first = mentions[0]["id"] if mentions else None
    answer: dict[str, Any] = {
        "headline": f"{data['brand']}: {data['totalMentions']:,} mentions this period",
        "summary": (
            f"{data['brand']} was mentioned {data['totalMentions']:,} times, "
            f"{data['sentiment']['positive']:,} of them positive "
            f"(net sentiment {data['sentiment']['netSentiment']:+.2f})."
        ),
        "highlights": [{"text": "Customers talk about the product.", "mentionIds": [first]}]
        if first
        else [],
        "risks": [],
    }
    if behaviour == "invented_id":
        answer["risks"] = [{"text": "A made-up complaint.", "mentionIds": ["not-a-mention-42"]}]
    if behaviour == "wrong_number":
        answer["summary"] = f"{data['brand']} was mentioned 987,654 times."
    if behaviour == "extra":
        answer["totalMentions"] = 1
    text = json.dumps(answer)
    return f"```json\n{text}\n```" if behaviour == "fenced" else text


@contextmanager
def fake_llm(**options: Any) -> Iterator[FakeLLM]:
    """Serve a FakeLLM on a free loopback port (``url`` ends in ``/v1``) until the block ends."""
    llm = FakeLLM(**options)
    app = Starlette(routes=[Route("/v1/chat/completions", llm.complete, methods=["POST"])])
    with serving(app) as url:
        llm.url = f"{url}/v1"
        yield llm
