"""Choosing a parent, failing over and backing off, sans-I/O (DESIGN §3 "Sync").

A local's parent is a regional of its region, a regional's a central;
centrals and flat nodes have none. Candidates, in order:

1. the configured URLs (``hierarchy.parents``), in the operator's order;
2. peers whose records carry a *verified* chain of the parent tier and a
   region that holds ours, that are alive and dialable, ordered by
   rendezvous hashing of (our id, their id): each child's order is stable,
   and the children of a region spread over its regionals instead of all
   picking the same one.

Each failure of a candidate (dial failed, join refused, not certified as a
parent, link lost soon after it was won) puts that candidate back by an
exponential delay, ``retry_min`` doubling to ``retry_max``; a parent link
that lasted ``stable_after`` seconds counts as a fresh start. With no
candidate at all the node looks again after the same kind of growing delay.
So a lost parent is replaced by the next candidate at once, and nothing is
ever dialled in a tight loop.

The shell calls ``next(offers, now)`` and carries out ``Dial`` or ``Wait``;
time is in seconds of any monotonic clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import blake3

from hartnode.hierarchy.direction import PARENT_TIER, is_parent_of


@dataclass(frozen=True, slots=True)
class Offer:
    """A peer as its verified record shows it."""

    node_id: str
    tier: str  # verified tier ("flat" without a valid chain)
    region: str  # verified region
    addrs: tuple[str, ...]
    alive: bool  # its record is fresh (``active`` in the peer table)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A possible parent: a configured URL (node id learned once dialled) or a record."""

    url: str
    node_id: str | None
    configured: bool

    @property
    def key(self) -> str:
        return self.url if self.configured else f"id:{self.node_id}"


@dataclass(frozen=True, slots=True)
class Dial:
    candidate: Candidate


@dataclass(frozen=True, slots=True)
class Wait:
    until: float


@dataclass
class _Backoff:
    failures: int = 0
    retry_at: float = 0.0
    last_reason: str = ""


@dataclass
class ParentChoice:
    """The choice state of one node.

    Args:
        node_id: this node.
        tier, region: this node's verified standing (``flat`` has no parent).
        configured: parent URLs from config, preferred in order.
        retry_min, retry_max: seconds of the first and the longest backoff.
        stable_after: seconds a parent link must last to reset its backoff.
    """

    node_id: str
    tier: str
    region: str
    configured: tuple[str, ...] = ()
    retry_min: float = 1.0
    retry_max: float = 60.0
    stable_after: float = 30.0
    parent: str | None = None
    _parent_since: float = 0.0
    _backoff: dict[str, _Backoff] = field(default_factory=dict)
    _url_ids: dict[str, str] = field(default_factory=dict)  # configured URL -> node id
    _idle: _Backoff = field(default_factory=_Backoff)

    @property
    def parent_tier(self) -> str | None:
        return PARENT_TIER.get(self.tier)

    def accepts(self, tier: str, region: str) -> bool:
        """Whether a peer of this verified standing may be this node's parent."""
        return is_parent_of(tier, region, self.tier, self.region)

    def candidates(self, offers: Iterable[Offer]) -> list[Candidate]:
        """Every candidate in preference order (configured first, then records)."""
        out = [Candidate(url, self._url_ids.get(url), True) for url in self.configured]
        known = {c.node_id for c in out if c.node_id is not None}
        # A configured parent's own record is the same candidate (and its backoff).
        found = [o for o in offers if o.node_id not in known and o.node_id != self.node_id
                 and o.alive and o.addrs and not set(o.addrs) & set(self.configured)
                 and self.accepts(o.tier, o.region)]
        found.sort(key=lambda o: blake3.blake3(
            bytes.fromhex(self.node_id) + bytes.fromhex(o.node_id)).digest())
        out += [Candidate(o.addrs[0], o.node_id, False) for o in found]
        return out

    def next(self, offers: Iterable[Offer], now: float) -> Dial | Wait | None:
        """What to do now: dial a candidate, or wait; None when this tier has no parent."""
        if self.parent_tier is None:
            return None
        if self.parent is not None:
            return Wait(float("inf"))  # the shell waits for the link to end
        candidates = self.candidates(offers)
        if not candidates:
            if self._idle.retry_at <= now:
                self._idle.failures += 1
                self._idle.retry_at = now + self._delay(self._idle.failures)
            return Wait(self._idle.retry_at)
        self._idle = _Backoff()
        waits = []
        for c in candidates:
            b = self._backoff.get(c.key)
            if b is None or b.retry_at <= now:
                return Dial(c)
            waits.append(b.retry_at)
        return Wait(min(waits))

    def on_dialled(self, candidate: Candidate, node_id: str) -> None:
        """The dial of ``candidate`` reached ``node_id`` (learns a configured URL's id)."""
        if candidate.configured:
            self._url_ids[candidate.url] = node_id

    def on_failed(self, candidate: Candidate, now: float, reason: str) -> None:
        """``candidate`` could not become the parent: back it off."""
        self._fail(candidate.key, now, reason)

    def on_parent(self, candidate: Candidate, node_id: str, now: float) -> None:
        """``node_id`` (reached as ``candidate``) welcomed this node and is certified."""
        self.on_dialled(candidate, node_id)
        self.parent = node_id
        self._parent_since = now

    def on_lost(self, now: float, reason: str = "link_lost") -> None:
        """The parent link ended (or the parent lost its standing): fail over."""
        parent = self.parent
        if parent is None:
            return
        self.parent = None
        for key in self._keys_of(parent):
            if now - self._parent_since >= self.stable_after:
                self._backoff.pop(key, None)  # it served well: one short retry, like new
            self._fail(key, now, reason)

    def backoff(self, now: float) -> dict[str, dict[str, object]]:
        """Candidates that failed, for ``status``: key -> failures, retry_in_s, reason."""
        return {k: {"failures": b.failures, "retry_in_s": round(max(0.0, b.retry_at - now), 3),
                    "reason": b.last_reason} for k, b in self._backoff.items()}

    def _keys_of(self, node_id: str) -> list[str]:
        return [url for url, nid in self._url_ids.items() if nid == node_id] + [f"id:{node_id}"]

    def _fail(self, key: str, now: float, reason: str) -> None:
        b = self._backoff.setdefault(key, _Backoff())
        b.failures += 1
        b.retry_at = now + self._delay(b.failures)
        b.last_reason = reason

    def _delay(self, failures: int) -> float:
        return float(min(self.retry_max, self.retry_min * 2 ** min(failures - 1, 30)))

