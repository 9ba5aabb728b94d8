"""Chunk results from any source (the results stream, legacy lists): check, apply, or park.

A result is applied when it decodes, names a registered brand (the same one its envelope
names) and fits the brand's clusters; otherwise it is parked with the reason. Either way its
effect is stored before the caller acknowledges it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from orchestrator.aggregator import Aggregator, Outcome
from orchestrator.chunk_result import ChunkResult, InvalidResultError, decode_result
from orchestrator.parking import Parked, ParkingLot, Reason, parked
from orchestrator.registry import Registry


@dataclass(frozen=True)
class Incoming:
    """One payload to apply: the raw bytes as received, and the result or why it is none."""

    raw: bytes
    brand: str | None  # the brand its envelope names (the report, or the legacy list's key)
    result: ChunkResult | None
    reason: Reason | None = None
    message: str = ""

    @classmethod
    def decode(cls, raw: bytes, result: bytes, brand: str | None) -> Incoming:
        """Decode ``result`` (the chunk result's JSON inside ``raw``, or ``raw`` itself)."""
        try:
            return cls(raw, brand, decode_result(result))
        except InvalidResultError as exc:
            reason = Reason.NOT_JSON if exc.reason.startswith("not JSON") else Reason.INVALID
            return cls(raw, brand, None, reason, exc.reason)


class ResultIntake:
    def __init__(
        self,
        registry: Registry,
        aggregator: Aggregator,
        parking: ParkingLot,
        on_applied: Callable[[set[str]], None] = lambda brands: None,
    ) -> None:
        self.registry = registry
        self.aggregator = aggregator
        self.parking = parking
        self.on_applied = on_applied  # told which brands changed (the spike watch)

    async def apply(self, items: list[Incoming], source: Literal["stream", "legacy"]) -> Outcome:
        brands = sorted({item.brand for item in items if item.brand is not None})
        known = await self.registry.known(brands)
        rejected: list[Parked] = []
        accepted: list[ChunkResult] = []
        raw_of: dict[int, bytes] = {}
        for item in items:
            problem = _problem(item, known)
            if problem is not None:
                rejected.append(parked(*problem, item.raw, brand=item.brand, source=source))
            elif item.result is not None:
                accepted.append(item.result)
                raw_of[id(item.result)] = item.raw
        outcome = await self.aggregator.apply(accepted)
        for result, message in outcome.invalid:
            raw = raw_of[id(result)]
            rejected.append(
                parked(Reason.DIMENSION, message, raw, brand=result.brand, source=source)
            )
        await self.parking.park(rejected, known)
        if outcome.applied:
            self.on_applied({result.brand for result in outcome.applied})
        return outcome


def _problem(item: Incoming, known: set[str]) -> tuple[Reason, str] | None:
    if item.reason is not None:
        return item.reason, item.message
    if item.brand is None or item.brand not in known:
        return Reason.UNKNOWN_BRAND, f"brand {item.brand!r} is not registered"
    if item.result is not None and item.result.brand != item.brand:
        return Reason.BRAND_MISMATCH, (
            f"the result names brand {item.result.brand!r}, its envelope {item.brand!r}"
        )
    return None
