"""Bare Starlette + msgspec peer: the floor our framework layer is measured against.

It serves the same ``GET /health`` JSON as the service and the Fastify peer, from memory:
a background task pings Redis every second and the route only reads that state. Run it as
the harness does::

    uvicorn bench.peers.starlette_app:app --loop uvloop --http httptools --no-access-log

Env: ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

import msgspec
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ORCHESTRATOR_ID = "starlette-peer"
PING_INTERVAL_S = 1.0
LOOP_STALE_S = 3 * PING_INTERVAL_S


class RedisHealth(msgspec.Struct, rename="camel"):
    status: str
    latency_ms: float | None


class LoopHealth(msgspec.Struct):
    alive: bool


class Health(msgspec.Struct, rename="camel"):
    status: str
    orchestrator_id: str
    uptime_sec: float
    redis: RedisHealth
    loops: dict[str, LoopHealth]


class _State:
    """What the routes read; only the watch loop writes it."""

    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.redis = RedisHealth(status="down", latency_ms=None)
        self.loop_ticks: dict[str, float] = {"redis-watch": 0.0}


_state = _State()
_encoder = msgspec.json.Encoder()


async def _redis_watch(client: aioredis.Redis) -> None:
    while True:
        started = time.perf_counter()
        try:
            await client.ping()
        except Exception:  # any failure means "down"; the loop must go on
            _state.redis = RedisHealth(status="down", latency_ms=None)
        else:
            latency_ms = (time.perf_counter() - started) * 1000
            _state.redis = RedisHealth(status="up", latency_ms=latency_ms)
        _state.loop_ticks["redis-watch"] = time.monotonic()
        await asyncio.sleep(PING_INTERVAL_S)


async def health(_request: Request) -> Response:
    now = time.monotonic()
    body = Health(
        status="ok" if _state.redis.status == "up" else "degraded",
        orchestrator_id=ORCHESTRATOR_ID,
        uptime_sec=now - _state.started_at,
        redis=_state.redis,
        loops={
            name: LoopHealth(alive=now - tick < LOOP_STALE_S)
            for name, tick in _state.loop_ticks.items()
        },
    )
    return Response(_encoder.encode(body), media_type="application/json")


@contextlib.asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    client = aioredis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    watch = asyncio.create_task(_redis_watch(client), name="redis-watch")
    try:
        yield
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        await client.aclose()


app = Starlette(routes=[Route("/health", health, methods=["GET"])], lifespan=lifespan)
