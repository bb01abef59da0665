"""Events that arrived beyond a gap in their feed, held in memory until it closes.

Bounded by count per origin and in total, by bytes per sending peer and in
total, and in time (DESIGN §8: every per-peer resource has a byte bound and
a time bound). One rule for ``Ledger`` and the simulator's ``MemLedger``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hartnode.ledger.envelope import ENVELOPE_OVERHEAD_MAX, MAX_ENVELOPE_BYTES
from hartnode.ledger.items import FeedItem, IngestResult, Withheld

MAX_HELD_PER_ORIGIN = 4096
MAX_HELD_TOTAL = 100_000


@dataclass(frozen=True, slots=True)
class HeldLimits:
    """Bounds on events held back beyond a gap (DESIGN §8: bytes and time per peer)."""

    per_origin: int = MAX_HELD_PER_ORIGIN  # items of one origin
    total: int = MAX_HELD_TOTAL  # items in all
    peer_bytes: int = 4 << 20  # bytes held for what one peer sent (16 x the full profile's burst)
    total_bytes: int = 32 << 20  # bytes held in all
    ttl_ms: int = 120_000  # ms an item waits for its gap to close (12 anti-entropy rounds)

    @classmethod
    def for_link_burst(cls, link_burst: float) -> HeldLimits:
        """Per-peer bytes from the bandwidth profile: 16 bursts of one link."""
        return cls(peer_bytes=max(int(16 * link_burst), MAX_ENVELOPE_BYTES + 1024))


def held_size(item: FeedItem) -> int:
    """Bytes an item takes while held: its texts and signature, or a marker's members."""
    if isinstance(item, Withheld):
        return 256
    return len(item.payload_json) + len(item.provenance_json) + ENVELOPE_OVERHEAD_MAX + 64


@dataclass(slots=True)
class _Held:
    item: FeedItem
    peer: str
    size: int


class HeldBack:
    """Events that arrived beyond a gap in their feed, kept in memory until it
    closes; bounded per origin and in total by count, per sending peer and in
    total by bytes, and in time (one rule for every ledger).

    ``peer`` names the link an item came over ("" when unknown): its items go
    when the link does (``drop_peer``), and one peer's gaps cannot take the
    room of another's.
    """

    def __init__(self, limits: HeldLimits | None = None) -> None:
        self.limits = limits or HeldLimits()
        self._by_origin: dict[str, dict[int, _Held]] = {}
        # (origin, seq) -> when held, in holding order: the oldest come first.
        self._since: dict[tuple[str, int], int] = {}
        self._peer_bytes: Counter[str] = Counter()
        self.total = 0
        self.bytes = 0
        self.expired = 0  # items dropped because their gap stayed open past ttl_ms

    def hold(self, event: FeedItem, result: IngestResult, *, peer: str = "",
             now_ms: int = 0) -> None:
        held = self._by_origin.get(event.origin, {})
        if event.seq in held:
            result.duplicates += 1
            return
        lim = self.limits
        size = held_size(event)
        if len(held) >= lim.per_origin or self.total >= lim.total:
            result.rejected["held_overflow"] += 1
            return
        if (self.bytes + size > lim.total_bytes
                or self._peer_bytes[peer] + size > lim.peer_bytes):
            result.rejected["held_bytes"] += 1
            return
        held[event.seq] = _Held(event, peer, size)
        self._by_origin[event.origin] = held  # only now: a refused origin leaves nothing
        self._since[(event.origin, event.seq)] = now_ms
        self._peer_bytes[peer] += size
        self.total += 1
        self.bytes += size
        result.held += 1

    def take(self, origin: str, seq: int) -> FeedItem | None:
        """The held event at (origin, seq), removed; None if there is none."""
        by_seq = self._by_origin.get(origin)
        entry = by_seq.pop(seq, None) if by_seq is not None else None
        if entry is None:
            return None
        if not by_seq:
            del self._by_origin[origin]
        del self._since[(origin, seq)]
        self._forget(entry)
        return entry.item

    def _forget(self, entry: _Held) -> None:
        self.total -= 1
        self.bytes -= entry.size
        self._peer_bytes[entry.peer] -= entry.size
        if self._peer_bytes[entry.peer] <= 0:
            del self._peer_bytes[entry.peer]

    def peer_bytes(self, peer: str) -> int:
        return self._peer_bytes.get(peer, 0)

    def expire(self, now_ms: int) -> int:
        """Drop items held for ``ttl_ms`` or longer; returns how many."""
        n = 0
        while self._since:
            key, since = next(iter(self._since.items()))
            if now_ms - since < self.limits.ttl_ms:
                break
            self.take(*key)
            n += 1
        self.expired += n
        return n

    def drop_peer(self, peer: str) -> int:
        """Drop the items that came from ``peer`` (its link went down); returns how many."""
        if peer not in self._peer_bytes:
            return 0
        keys = [(origin, seq) for origin, by_seq in self._by_origin.items()
                for seq, entry in by_seq.items() if entry.peer == peer]
        for key in keys:
            self.take(*key)
        return len(keys)
