"""Every Redis key and stream name the service uses, from one place.

Keys an atomic step touches together share a hash tag, so each Lua script and transaction stays
on one slot of a cluster (DESIGN §7): the registry's structures live under ``{registry}``;
per-brand data will live under ``{<slug>}``. The original platform's keys keep their exact
names (DESIGN §4).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key names under one namespace ``prefix`` (``KEY_PREFIX``, default ``orch``)."""

    prefix: str = "orch"

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

    # The registry: one hash slot, so every change to a brand is one atomic script.
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
    def registry_sync_lock(self) -> str:
        return f"{self._registry}:sync-lock"

    def registry_script_keys(self) -> list[str]:
        """The keys of the registry's Lua scripts, in the order the scripts expect."""
        return [
            self.brand_docs,
            self.brand_versions,
            self.brand_search,
            self.brand_index,
            self.brand_status_index("active"),
            self.brand_status_index("paused"),
            self.brand_due,
            self.brands_list,
        ]

    # Per-brand data (hash tag {slug}); later features add theirs here so purge finds them.
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
    "mention-ids",
    "aggregate",
    "clusters",
    "buckets:minute",
    "buckets:hour",
    "buckets:day",
    "chunks-applied",
    "summary-history",
)
