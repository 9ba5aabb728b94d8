"""Every Redis key and stream name the service uses, from one place.

Keys an atomic step touches together share a hash tag, so each Lua script and transaction stays
on one slot of a cluster (DESIGN §7): the registry's structures live under ``{registry}``;
per-brand data lives under ``{<slug>}``. The original platform's keys keep their exact names
(DESIGN §4), so no script touches them together with another key: each is written on its own.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Keys:
    """Key names under one namespace ``prefix`` (``KEY_PREFIX``, default ``orch``)."""

    prefix: str = "orch"
    partitions: int = 1  # STREAM_PARTITIONS: task and result streams, see ``Partition``

    # The original platform's keys: fixed names, shared with other services.
    brands_list: str = "brands:list"

    @staticmethod
    def legacy_summary(slug: str) -> str:
        return f"summary:brand:{slug}"

    @staticmethod
    def legacy_chunks(slug: str) -> str:
        return f"result:brand:{slug}:chunks"

    @staticmethod
    def legacy_failed(slug: str) -> str:
        return f"failed:brand:{slug}"

    # The registry: one hash slot, so every change to a brand is one atomic script; brands:list
    # (no hash tag) follows it in a step of its own, and ``brand_listed`` tells the two apart.
    @property
    def _registry(self) -> str:
        return f"{self.prefix}:{{registry}}"

    @property
    def brand_docs(self) -> str:
        """Hash: slug → the brand's JSON document, exactly as the API serves it."""
        return f"{self._registry}:brands"

    @property
    def brand_versions(self) -> str:
        """Hash: slug → version (the ETag), compared atomically on every write."""
        return f"{self._registry}:versions"

    @property
    def brand_search(self) -> str:
        """Hash: slug → lower-case text (slug, name, keywords) that ``q`` matches."""
        return f"{self._registry}:search"

    @property
    def brand_index(self) -> str:
        """Sorted set, all scores 0: every slug, listed in lexicographic order."""
        return f"{self._registry}:index"

    def brand_status_index(self, status: str) -> str:
        """Sorted set, all scores 0: the slugs with that status."""
        return f"{self._registry}:status:{status}"

    @property
    def brand_due(self) -> str:
        """Sorted set: active slug → next due time (ms since the epoch); dispatch reads it."""
        return f"{self._registry}:due"

    @property
    def brand_listed(self) -> str:
        """Set: the slugs this service has put in ``brands:list``, so the sync tells a slug
        another tool removed (listed once, gone now) from one not mirrored yet."""
        return f"{self._registry}:listed"

    @property
    def brand_listed_tracked(self) -> str:
        """String: present once this store keeps ``brand_listed`` (set by every save); a store
        without it was written before, when the registry and ``brands:list`` moved as one."""
        return f"{self._registry}:listed-tracked"

    @property
    def registry_sync_lock(self) -> str:
        return f"{self._registry}:sync-lock"

    def registry_script_keys(self) -> list[str]:
        """The keys the registry's save and delete scripts share, in the order they expect."""
        return [
            self.brand_docs,
            self.brand_versions,
            self.brand_search,
            self.brand_index,
            self.brand_status_index("active"),
            self.brand_status_index("paused"),
            self.brand_due,
        ]

    # Task distribution. The scheduler's lease lives on ``{tasks}``; the task and result
    # structures are split into ``partitions`` (STREAM_PARTITIONS) partitions, each on hash slots
    # of its own, and a brand's tasks and results always travel in the same one (``partition_for``).
    @property
    def _tasks(self) -> str:
        return f"{self.prefix}:{{tasks}}"

    @property
    def leader(self) -> str:
        """String with expiry: the scheduler leader's id (the lease)."""
        return f"{self._tasks}:leader"

    @property
    def fence(self) -> str:
        """Counter: the fencing token, incremented by every new leader."""
        return f"{self._tasks}:fence"

    @property
    def leader_since(self) -> str:
        return f"{self._tasks}:leader-since"

    def partition(self, index: int) -> Partition:
        if not 0 <= index < self.partitions:
            raise ValueError(f"partition {index} of {self.partitions}")
        return self.all_partitions[index]

    def partition_for(self, slug: str) -> Partition:
        """The partition carrying the brand's tasks and results."""
        return self.partition(zlib.crc32(slug.encode()) % self.partitions)

    @cached_property
    def all_partitions(self) -> tuple[Partition, ...]:
        """Made once: dispatch and the workers' flushes look a partition up per task."""
        return tuple(Partition(self.prefix, index) for index in range(self.partitions))

    @property
    def workers(self) -> str:
        """Sorted set: worker id → last heartbeat (ms)."""
        return f"{self.prefix}:workers"

    def worker(self, worker_id: str) -> str:
        """String with TTL: the worker's last heartbeat document."""
        return f"{self.prefix}:worker:{worker_id}"

    # Orchestrator replicas: one hash slot ({replicas}), so the index and the documents are
    # read together (ZRANGE, then one MGET) on a cluster too.
    @property
    def replicas(self) -> str:
        """Sorted set: replica id → last heartbeat (ms)."""
        return f"{self.prefix}:{{replicas}}:index"

    def replica(self, replica_id: str) -> str:
        """String with TTL: the replica's last heartbeat document."""
        return f"{self.prefix}:{{replicas}}:replica:{replica_id}"

    # Per-brand data (hash tag {slug}); later features add theirs here so purge finds them.
    def mentions(self, slug: str) -> str:
        """Stream of the brand's mentions; the scheduler cuts it into chunks."""
        return f"{self.prefix}:{{{slug}}}:mentions"

    def mention_ids(self, slug: str) -> str:
        """Sorted set: mention id → when first accepted; ingestion's deduplication."""
        return f"{self.prefix}:{{{slug}}}:mention-ids"

    def schedule_state(self, slug: str) -> str:
        """Hash: the scheduler's per-brand state (last cut entry, chunk sequence, last collect)."""
        return f"{self.prefix}:{{{slug}}}:schedule"

    def pending_chunks(self, slug: str) -> str:
        """Hash: chunk id → JSON range of the chunks cut and not yet applied."""
        return f"{self.prefix}:{{{slug}}}:chunks-pending"

    def aggregate(self, slug: str) -> str:
        """Hash: the brand's totals (chunks, mentions, sentiment), cluster version, last chunk."""
        return f"{self.prefix}:{{{slug}}}:aggregate"

    def chunks_applied(self, slug: str) -> str:
        """Sorted set: chunk id → when it was applied; the processed-markers."""
        return f"{self.prefix}:{{{slug}}}:chunks-applied"

    def topics(self, slug: str) -> str:
        """Sorted set: topic → chunks that named it."""
        return f"{self.prefix}:{{{slug}}}:topics"

    def clusters(self, slug: str) -> str:
        """Hash: cluster id → the cluster (msgpack)."""
        return f"{self.prefix}:{{{slug}}}:clusters"

    def buckets(self, slug: str, resolution: str) -> str:
        """Hash: bucket start (ms) → the bucket's counts (JSON); resolution minute/hour/day."""
        return f"{self.prefix}:{{{slug}}}:buckets:{resolution}"

    def expected(self, slug: str) -> str:
        """Hash: ``<resolution>:<bucket start>`` → mentions accepted for that bucket, so a
        window knows whether every mention in it has been analysed."""
        return f"{self.prefix}:{{{slug}}}:expected"

    def spike_state(self, slug: str) -> str:
        """Hash: the spike detector's baseline and the last bucket it evaluated."""
        return f"{self.prefix}:{{{slug}}}:spike-state"

    def spikes(self, slug: str) -> str:
        """Sorted set: spike event JSON → bucket start (ms)."""
        return f"{self.prefix}:{{{slug}}}:spikes"

    def collect_state(self, slug: str) -> str:
        """Hash: source → its conditional-request state (ETag, Last-Modified, file offset)."""
        return f"{self.prefix}:{{{slug}}}:collect-state"

    def summary_history(self, slug: str) -> str:
        """List: the brand's summaries, newest first (``SUMMARY_HISTORY`` kept)."""
        return f"{self.prefix}:{{{slug}}}:summary-history"

    def summary_llm_cache(self, slug: str) -> str:
        """String: the LLM's last accepted answer for the brand, with its prompt's fingerprint."""
        return f"{self.prefix}:{{{slug}}}:summary-llm"

    @property
    def summary_stream(self) -> str:
        """Stream of every published summary (fields ``brand`` and ``m``)."""
        return f"{self.prefix}:{{summaries}}:stream"

    @property
    def summary_channel(self) -> str:
        """Pub/sub channel: the slug of each brand whose summary was just published."""
        return f"{self.prefix}:summaries"

    def alert_outbox(self, slug: str) -> str:
        """List: spike events recorded with their detection, not yet turned into deliveries."""
        return f"{self.prefix}:{{{slug}}}:alert-outbox"

    def alert_deliveries(self, slug: str) -> str:
        """Hash: delivery id → its state (JSON), and ``<id>:body`` → the exact bytes sent."""
        return f"{self.prefix}:{{{slug}}}:alerts"

    def alert_lease(self, slug: str) -> str:
        """String with expiry: the replica delivering the brand's alerts."""
        return f"{self.prefix}:{{{slug}}}:alert-lease"

    @property
    def alert_due(self) -> str:
        """Sorted set: slug → when the brand's next alert work is due (ms)."""
        return f"{self.prefix}:{{alerts}}:due"

    def legacy_lease(self, slug: str) -> str:
        """String with expiry: the replica reading the brand's legacy results list."""
        return f"{self.prefix}:{{{slug}}}:legacy-lease"

    @property
    def failed_stream(self) -> str:
        """Stream of every parked payload (reason, brand if known, raw), newest last."""
        return f"{self.prefix}:{{failed}}:stream"

    def brand_data(self, slug: str) -> list[str]:
        """Every key holding data about one brand, deleted by ``DELETE ...?purge=true``."""
        return [
            self.legacy_summary(slug),
            self.legacy_chunks(slug),
            f"{self.legacy_chunks(slug)}:processing",
            self.legacy_failed(slug),
            *(f"{self.prefix}:{{{slug}}}:{part}" for part in _BRAND_PARTS),
        ]


# Per-brand structures of later features (mentions, aggregates, summaries); named here so the
# registry's purge deletes them all.
_BRAND_PARTS = (
    "mentions",
    "schedule",
    "chunks-pending",
    "mention-ids",
    "aggregate",
    "clusters",
    "buckets:minute",
    "buckets:hour",
    "buckets:day",
    "chunks-applied",
    "topics",
    "expected",
    "spike-state",
    "spikes",
    "legacy-lease",
    "collect-state",
    "summary-history",
    "summary-llm",
    "alert-outbox",
    "alerts",
    "alert-lease",
)


@dataclass(frozen=True)
class Partition:
    """One partition of task distribution: its task streams with their retry, cap and
    dead-letter structures on one hash slot (``{tasks}``, ``{tasks:1}`` …), so every dispatch,
    completion, retry and dead-letter step is one atomic script; and its results stream on
    another (``{results}``, ``{results:1}`` …). Partition 0 keeps the names of the time before
    partitions."""

    prefix: str
    index: int

    @property
    def _tasks(self) -> str:
        tag = "tasks" if self.index == 0 else f"tasks:{self.index}"
        return f"{self.prefix}:{{{tag}}}"

    @property
    def leader(self) -> str:
        """The lease holder's id as this partition knows it: the lease itself on partition 0, a
        copy with the same expiry (written at every renewal) on the others."""
        return f"{self._tasks}:leader"

    @property
    def fence(self) -> str:
        """The leader's fencing token as this partition knows it (the counter on partition 0);
        the dispatch script refuses any other token."""
        return f"{self._tasks}:fence"

    def task_stream(self, kind: str) -> str:
        """Stream of one kind's tasks, read by workers through the ``workers`` consumer group:
        a worker reads only the kinds it handles."""
        return f"{self._tasks}:stream:{kind}"

    def task_delayed(self, kind: str) -> str:
        """Sorted set: task JSON → time (ms) it may run again (retries with backoff)."""
        return f"{self._tasks}:delayed:{kind}"

    @property
    def task_kinds(self) -> str:
        """Set: every kind ever dispatched here (to find the streams for statistics)."""
        return f"{self._tasks}:kinds"

    @property
    def task_dead(self) -> str:
        """Stream of dead letters: the task, its last error, worker and attempts."""
        return f"{self._tasks}:dead"

    @property
    def task_dead_index(self) -> str:
        """Hash: task id → its entry id in the dead-letter stream."""
        return f"{self._tasks}:dead-index"

    @property
    def task_dead_chunks(self) -> str:
        """Set: chunk ids whose task is dead-lettered (the scheduler stops offering them)."""
        return f"{self._tasks}:dead-chunks"

    @property
    def task_active(self) -> str:
        """Hash: task id → JSON {brand, kind, chunk, dispatchedAt} of every task in flight."""
        return f"{self._tasks}:active"

    @property
    def task_entries(self) -> str:
        """Hash: task id → its entry id on its task stream, while it has one (dispatched,
        promoted from a retry or re-driven): the sweep of lost tasks checks it."""
        return f"{self._tasks}:entries"

    @property
    def task_in_flight(self) -> str:
        """Hash: brand → tasks in flight (and ``*`` → all of this partition's), the caps."""
        return f"{self._tasks}:in-flight"

    @property
    def task_chunks(self) -> str:
        """Set: chunk ids in flight, so the same chunk is never in flight twice."""
        return f"{self._tasks}:chunks"

    @property
    def result_stream(self) -> str:
        """Stream of results and failure reports, read by collectors (group ``collectors``)."""
        tag = "results" if self.index == 0 else f"results:{self.index}"
        return f"{self.prefix}:{{{tag}}}:stream"
