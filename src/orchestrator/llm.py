"""The optional LLM summary provider: any OpenAI-compatible Chat Completions endpoint (OpenAI,
Azure, vLLM, Ollama, llama.cpp's server).

``LLMWriter.write`` takes the grounded summary and returns the model's version of it, or the
grounded one with ``fallbackReason`` set: on a timeout, an HTTP error, a rate limit, an answer
that is not the expected JSON, or one that cites a mention or states a number it was not given.
Answers are cached per brand by a fingerprint of the prompt, calls are capped at
``LLM_CONCURRENCY``, and a circuit breaker stops calling an endpoint that keeps failing. The API
key is sent in a header and never logged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import msgspec
import structlog
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.keys import Keys
from orchestrator.metrics import Metrics
from orchestrator.summarize import Summary
from orchestrator.summary_prompt import (
    Answer,
    AnswerRejectedError,
    Prompt,
    build_prompt,
    parse_answer,
)
from orchestrator.summary_prompt import with_answer as llm_summary

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LLMSettings:
    base_url: str  # e.g. https://api.openai.com/v1 or http://localhost:11434/v1
    model: str
    api_key: SecretStr | None = None
    timeout_s: float = 30.0
    max_tokens: int = 800
    concurrency: int = 4
    breaker_failures: int = 5  # endpoint failures in a row that open the circuit
    breaker_open_s: float = 60.0  # how long it stays open before one trial call
    cache_ttl_s: float = 7 * 86_400.0


class EndpointError(Exception):
    """The endpoint failed (counts towards the circuit breaker); ``reason`` is a metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Completion(msgspec.Struct):
    content: str
    prompt_tokens: int
    completion_tokens: int


class _Cached(msgspec.Struct, frozen=True):
    fingerprint: str
    answer: Answer


_decode_cached = msgspec.json.Decoder(_Cached).decode
_encode = msgspec.json.Encoder().encode


@dataclass
class LLMWriter:
    redis: Redis
    keys: Keys
    metrics: Metrics
    settings: LLMSettings
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        headers = {"content-type": "application/json"}
        if s.api_key is not None:
            headers["authorization"] = f"Bearer {s.api_key.get_secret_value()}"
        self.http = httpx.AsyncClient(
            base_url=s.base_url.rstrip("/"), headers=headers, timeout=s.timeout_s
        )
        self._calls = asyncio.Semaphore(s.concurrency)
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=s.breaker_failures,
            default_ttl=s.breaker_open_s,
            exclude=[AnswerRejectedError],  # a bad answer is the model's fault, not the endpoint's
        )
        self._breakers.add_listener(self._breaker_changed)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def write(self, slug: str, name: str, facts: Summary) -> Summary:
        """The model's summary of ``facts``, or ``facts`` with the reason it was not used."""
        prompt = build_prompt(name, facts)
        fingerprint = prompt.fingerprint(self.settings.model)
        cache_key = self.keys.summary_llm_cache(slug)
        raw = cast(bytes | None, await self.redis.get(cache_key))
        cached = _decode_cached(raw) if raw else None
        if cached is not None and cached.fingerprint == fingerprint:
            self.metrics.llm_cache.labels("hit").inc()
            return llm_summary(facts, cached.answer, self.settings.model)
        self.metrics.llm_cache.labels("miss").inc()
        try:
            async with await self._breakers.get_breaker("llm"):
                answer = await self._ask(prompt)
        except OpenedState:
            return self._fallback(slug, facts, "circuit_open", "the endpoint keeps failing")
        except (EndpointError, AnswerRejectedError) as exc:
            return self._fallback(slug, facts, exc.reason, str(exc))
        await self.redis.set(
            cache_key, _encode(_Cached(fingerprint, answer)), ex=int(self.settings.cache_ttl_s)
        )
        return llm_summary(facts, answer, self.settings.model)

    async def _ask(self, prompt: Prompt) -> Answer:
        completion = await self._complete(prompt.messages)
        m = self.metrics
        m.llm_tokens.labels("prompt").inc(completion.prompt_tokens)
        m.llm_tokens.labels("completion").inc(completion.completion_tokens)
        return parse_answer(completion.content, prompt)

    async def _complete(self, messages: list[dict[str, str]]) -> _Completion:
        s = self.settings
        body = {
            "model": s.model,
            "messages": messages,
            "max_tokens": s.max_tokens,
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        async with self._calls:
            started = time.perf_counter()
            try:
                response = await self.http.post("/chat/completions", json=body)
            except httpx.TimeoutException:
                raise EndpointError("timeout", f"no answer within {s.timeout_s:g} s") from None
            except httpx.HTTPError as exc:
                raise EndpointError("unreachable", type(exc).__name__) from None
            finally:
                self.metrics.llm_latency.observe(time.perf_counter() - started)
        if response.status_code == 429:
            raise EndpointError("rate_limited", "429 Too Many Requests")
        if response.status_code >= 400:
            raise EndpointError("http_error", f"HTTP {response.status_code}")
        return _completion(response)

    def _fallback(self, slug: str, facts: Summary, reason: str, why: str) -> Summary:
        self.metrics.summary_fallbacks.labels(reason).inc()
        log.warning("summary.llm_fallback", brand=slug, reason=reason, detail=why)
        return msgspec.structs.replace(facts, fallback_reason=f"{reason}: {why}")

    def _breaker_changed(self, name: str, event_name: str, event: Any) -> None:
        if event_name == "state_changed":
            state = getattr(event, "state", "")
            self.metrics.llm_breaker_open.set(1 if state == "opened" else 0)
            log.warning("summary.llm_circuit", state=state)


def _completion(response: httpx.Response) -> _Completion:
    """The first choice's text and the token counts of a Chat Completions response."""
    try:
        document = response.json()
        content = document["choices"][0]["message"]["content"]
        usage = document.get("usage") or {}
    except (ValueError, LookupError, TypeError):
        raise AnswerRejectedError("invalid_json", "the response is not a chat completion") from None
    if not isinstance(content, str):
        raise AnswerRejectedError("invalid_json", "the completion has no text")
    return _Completion(
        content, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    )
