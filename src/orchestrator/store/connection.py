"""The Redis client: one pool per process, failing fast while the server is away.

``REDIS_URL`` names a standalone server (``redis://``, ``rediss://``, ``unix://``) or a Redis
Cluster: ``redis+cluster://host:port[,host:port...]`` (``rediss+cluster://`` over TLS), or a
``redis://`` seed with ``REDIS_CLUSTER=true``. A cluster client offers the same commands, Lua
scripts, pipelines and pub/sub as the standalone one, so it is handed out under the same type:
every caller runs unchanged on both, and every multi-key step keeps its keys in one hash slot
(``orchestrator.keys``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

import anyio
import redis
import structlog
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import (
    ClusterDownError,
    RedisError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.config import Settings
from orchestrator.errors import StoreUnavailableError

if TYPE_CHECKING:  # prometheus_client: a worker process does without it
    from orchestrator.metrics import Metrics

log = structlog.get_logger(__name__)

# Commands retry twice within half a second, then fail: callers see the outage at once
# and the service's own loops retry at their pace instead of piling up blocked commands.
_COMMAND_RETRIES = 2
_COMMAND_BACKOFF = ExponentialWithJitterBackoff(cap=0.5, base=0.05)
_CLUSTER_SUFFIX = "+cluster"

# What a step meets while the store, or a part of a cluster, is away (a failover included):
# loops log a line and try again, requests are answered 503.
OUTAGES: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,
    TryAgainError,
    SlotNotCoveredError,
    StoreUnavailableError,
)


def is_cluster_url(url: str) -> bool:
    """``redis+cluster://`` / ``rediss+cluster://``: a Redis Cluster, by its seed nodes."""
    return urlsplit(url).scheme.endswith(_CLUSTER_SUFFIX)


def create_client(settings: Settings, url: str) -> Redis:
    """A client for ``url`` with timeouts, bounded retries and health checks.

    The pool holds at most ``REDIS_MAX_CONNECTIONS``; a command that finds them all busy
    waits for one (up to the command timeout) instead of failing at once.
    """
    if settings.redis_cluster or is_cluster_url(url):
        return create_cluster_client(settings, url)
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_timeout_sec,
        retry=Retry(_COMMAND_BACKOFF, _COMMAND_RETRIES),
        **_connection_options(settings),
    )
    return Redis.from_pool(pool)


def create_cluster_client(settings: Settings, url: str) -> Redis:
    """A ``RedisCluster`` client seeded by every node ``url`` names, with the same timeouts and
    retries as the standalone client; it learns the slot map from the first seed that answers.

    Each node gets a pool of at most ``REDIS_MAX_CONNECTIONS``; unlike the standalone pool, a
    command that finds a node's pool exhausted fails at once (redis-py's cluster client).
    Typed as ``Redis``: ``RedisCluster`` serves the same commands the service uses.
    """
    options, seeds = cluster_seeds(url)
    client = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in seeds],
        max_connections=settings.redis_max_connections,
        retry=Retry(_COMMAND_BACKOFF, _COMMAND_RETRIES),
        **_connection_options(settings),
        **options,
    )
    return cast("Redis", client)


def cluster_seeds(url: str) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """Connection options (credentials, TLS, query options) and the ``(host, port)`` seeds of
    a cluster URL: ``redis[s]+cluster://[user:password@]host:port[,host:port...]`` or a
    ``redis[s]://`` URL naming one seed."""
    parts = urlsplit(url)
    scheme = parts.scheme.removesuffix(_CLUSTER_SUFFIX)
    credentials, _, hosts = parts.netloc.rpartition("@")
    seeds = [_host_port(seed) for seed in hosts.split(",") if seed]
    if not seeds:
        raise ValueError("a cluster URL names at least one host:port")
    first = f"{credentials}@{hosts.split(',')[0]}" if credentials else hosts.split(",")[0]
    options: dict[str, Any] = dict(
        parse_url(urlunsplit(parts._replace(scheme=scheme, netloc=first)))
    )
    if options.pop("db", 0):
        raise ValueError("a cluster has database 0 only")
    for name in ("host", "port"):
        options.pop(name, None)
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    return options, seeds


def _host_port(seed: str) -> tuple[str, int]:
    host, _, port = seed.rpartition(":")
    if not host:
        return seed, 6379
    return host.strip("[]"), int(port)


def _connection_options(settings: Settings) -> dict[str, Any]:
    return {
        "socket_connect_timeout": settings.redis_timeout_sec,
        "socket_timeout": settings.redis_timeout_sec,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "client_name": f"orchestrator:{settings.orchestrator_id}",
        # named once: unnamed, each new connection looks redis-py's version up in the installed
        # packages' metadata, a 20-60 ms stall of the event loop measured under load
        "driver_info": DriverInfo(name="redis-py", lib_version=redis.__version__),
    }


async def connect(client: Redis) -> None:
    """Learn a cluster's slot map now, before loops and requests start at once: redis-py's
    lazy first initialization breaks connections when many commands begin together (8.1:
    ``'NoneType' object has no attribute 'writelines'``). A standalone client needs nothing;
    a cluster that does not answer yet is learnt on first use, and the outage reported."""
    if not isinstance(client, RedisCluster):
        return
    try:
        await client.initialize()
    except (RedisError, OSError) as exc:
        log.warning("redis.cluster_unreachable", error=str(exc) or type(exc).__name__)


def is_cluster(client: Redis) -> bool:
    return isinstance(client, RedisCluster)


def _every_primary(client: Redis) -> dict[str, Any]:
    """Options sending a keyless command to every primary of a cluster (one node otherwise)."""
    return {"target_nodes": RedisCluster.PRIMARIES} if is_cluster(client) else {}


async def count_keys(settings: Settings, url: str) -> int:
    """Keys in the store (summed over the primaries of a cluster), on a client of its own."""
    client = create_client(settings, url)
    try:
        await connect(client)
        return int(await client.dbsize(**_every_primary(client)))
    finally:
        await client.aclose()


async def ping(client: Redis, metrics: Metrics, timeout_s: float) -> float:
    """PING within ``timeout_s``; return the latency in seconds or raise StoreUnavailableError."""
    started = time.perf_counter()
    try:
        with anyio.fail_after(timeout_s), metrics.redis_timer("ping"):
            await client.ping(**_every_primary(client))  # a cluster: every primary answers
    except TimeoutError as exc:
        raise StoreUnavailableError(f"no answer within {timeout_s}s") from exc
    except (RedisError, OSError) as exc:
        raise StoreUnavailableError(str(exc) or type(exc).__name__) from exc
    return time.perf_counter() - started
