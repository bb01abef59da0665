"""Ledger replication between neighbours, sans-I/O (DESIGN §1, §3 "Anti-entropy").

Two mechanisms, as in DESIGN §3:
- **push**: a node's new ``network`` events are broadcast over Plumtree
  (``NewEvents``), for low latency;
- **pull (anti-entropy)**: on every new link, and every round after, the two
  ends compare per-origin heads and pull what they miss in bounded batches.
  Whatever a broadcast lost is still delivered.

Heads are compared cheaply first: origins fall into 16 buckets by their first
hex digit, and each side sends one 8-byte digest per non-empty bucket
(``HeadsDigest``, ~200 bytes for any number of origins). Only buckets that
differ are listed in full (``HeadsRequest`` → ``Heads``). An unchanged feed
therefore costs one digest each way on reconnect.

The core keeps no ledger: the shell passes the current ``heads`` in, and
carries out ``Serve`` (read a feed range, answer with a ``Batch``) and
``Ingest`` (verify and store a batch, then report the new heads through
``on_ingested``). Nothing unverified is stored or forwarded: every event
goes through the ledger's verified ingest before any node serves it on.

Wire type numbers 64-71 (append-only, see ``gossip.wire``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import blake3

from hartnode.gossip.hyparview import RemoteProtocolError, Send
from hartnode.gossip.wire import register
from hartnode.ledger.log import Withheld

BUCKETS = 16
DIGEST_BYTES = 8
MAX_BATCH = 1000  # events in one Batch
MAX_HEADS = 4096  # origins in one Heads message


@register(64)
@dataclass(frozen=True)
class FeedEvent:
    envelope: bytes
    sig: bytes


@register(65)
@dataclass(frozen=True)
class FeedWithheld:
    origin: bytes  # 32-byte node id
    seq: int
    hash: bytes
    prev: bytes  # empty at seq 1
    reach: str


@register(66)
@dataclass(frozen=True)
class HeadsDigest:
    digests: tuple[bytes, ...]  # BUCKETS entries; b"" for an empty bucket


@register(67)
@dataclass(frozen=True)
class HeadsRequest:
    buckets: tuple[int, ...]


@register(68)
@dataclass(frozen=True)
class Heads:
    origins: tuple[bytes, ...]
    seqs: tuple[int, ...]


@register(69)
@dataclass(frozen=True)
class Want:
    origin: bytes
    from_seq: int
    limit: int


@register(70)
@dataclass(frozen=True)
class Batch:
    origin: bytes
    events: tuple[FeedEvent, ...]
    withheld: tuple[FeedWithheld, ...]


@register(71)
@dataclass(frozen=True)
class NewEvents:
    """Fresh ``network`` events, pushed over Plumtree as a broadcast payload."""

    events: tuple[FeedEvent, ...]


REPLICATION_TYPES: frozenset[type] = frozenset(
    {HeadsDigest, HeadsRequest, Heads, Want, Batch})


@dataclass(frozen=True, slots=True)
class Serve:
    """Read ``origin`` from ``from_seq`` (at most ``limit``) and send ``peer`` a Batch."""

    peer: str
    origin: str
    from_seq: int
    limit: int


@dataclass(frozen=True, slots=True)
class Ingest:
    """Verify and store ``items`` from ``peer``; then call ``on_ingested``."""

    peer: str
    origin: str
    items: list[tuple[bytes, bytes] | Withheld]


ReplicationEffect = Send | Serve | Ingest


def bucket_of(origin: str) -> int:
    return int(origin[0], 16)


def heads_digest(heads: Mapping[str, int]) -> HeadsDigest:
    """One 8-byte digest per bucket of ``(origin, seq)`` pairs; b"" when empty."""
    per_bucket: list[list[str]] = [[] for _ in range(BUCKETS)]
    for origin, seq in heads.items():
        per_bucket[bucket_of(origin)].append(f"{origin}:{seq};")
    return HeadsDigest(tuple(
        blake3.blake3("".join(sorted(b)).encode()).digest(length=DIGEST_BYTES) if b else b""
        for b in per_bucket))


def withheld_from_wire(origin: str, w: FeedWithheld) -> Withheld:
    return Withheld(origin, w.seq, w.hash, w.prev.hex() if w.prev else None, w.reach)


def withheld_to_wire(w: Withheld) -> FeedWithheld:
    return FeedWithheld(bytes.fromhex(w.origin), w.seq, w.hash,
                        bytes.fromhex(w.prev) if w.prev else b"", w.reach)


@dataclass
class _PeerState:
    remote: dict[str, int] = field(default_factory=dict)  # origin -> their head
    queue: list[str] = field(default_factory=list)  # origins to pull, in order
    inflight: set[str] = field(default_factory=set)


class Replicator:
    """Per-node replication state over all links. Single-threaded, like the cores."""

    def __init__(self, *, batch: int = MAX_BATCH, parallel_wants: int = 4) -> None:
        self.batch = min(batch, MAX_BATCH)
        self.parallel_wants = parallel_wants
        self._peers: dict[str, _PeerState] = {}

    def on_link_up(self, peer: str, heads: Mapping[str, int]) -> list[ReplicationEffect]:
        self._peers[peer] = _PeerState()
        return [Send(peer, heads_digest(heads))]

    def on_link_down(self, peer: str) -> None:
        self._peers.pop(peer, None)

    def round(self, heads: Mapping[str, int]) -> list[ReplicationEffect]:
        """One anti-entropy round: a digest to every idle neighbour."""
        digest = heads_digest(heads)
        return [Send(peer, digest) for peer, st in self._peers.items() if not st.inflight]

    def pulling(self, peer: str) -> bool:
        st = self._peers.get(peer)
        return bool(st and (st.inflight or st.queue))

    def on_message(self, peer: str, msg: object,
                   heads: Mapping[str, int]) -> list[ReplicationEffect]:
        """Handle a replication message from ``peer``.

        Raises:
            RemoteProtocolError: a malformed message (the shell ends the link).
        """
        st = self._peers.setdefault(peer, _PeerState())
        if isinstance(msg, HeadsDigest):
            if len(msg.digests) != BUCKETS:
                raise RemoteProtocolError("bad_digest", f"{len(msg.digests)} buckets")
            ours = heads_digest(heads).digests
            differ = tuple(i for i in range(BUCKETS) if msg.digests[i] != ours[i])
            return [Send(peer, HeadsRequest(differ))] if differ else []
        if isinstance(msg, HeadsRequest):
            wanted = {b for b in msg.buckets if 0 <= b < BUCKETS}
            mine = sorted((o, s) for o, s in heads.items() if bucket_of(o) in wanted)
            out: list[ReplicationEffect] = []
            for i in range(0, len(mine), MAX_HEADS):
                chunk = mine[i:i + MAX_HEADS]
                out.append(Send(peer, Heads(tuple(bytes.fromhex(o) for o, _ in chunk),
                                            tuple(s for _, s in chunk))))
            return out
        if isinstance(msg, Heads):
            if len(msg.origins) != len(msg.seqs) or len(msg.origins) > MAX_HEADS:
                raise RemoteProtocolError("bad_heads")
            for raw, seq in zip(msg.origins, msg.seqs, strict=True):
                if len(raw) != 32:
                    raise RemoteProtocolError("bad_heads", "origin is not 32 bytes")
                origin = raw.hex()
                if seq > heads.get(origin, 0) and seq > st.remote.get(origin, 0):
                    st.remote[origin] = seq
                    if origin not in st.queue and origin not in st.inflight:
                        st.queue.append(origin)
            return self._pump(peer, st, heads)
        if isinstance(msg, Want):
            if len(msg.origin) != 32 or msg.from_seq < 1 or msg.limit < 1:
                raise RemoteProtocolError("bad_want")
            return [Serve(peer, msg.origin.hex(), msg.from_seq, min(msg.limit, MAX_BATCH))]
        if isinstance(msg, Batch):
            if len(msg.origin) != 32 or len(msg.events) + len(msg.withheld) > MAX_BATCH:
                raise RemoteProtocolError("bad_batch")
            origin = msg.origin.hex()
            items: list[tuple[bytes, bytes] | Withheld] = [
                (e.envelope, e.sig) for e in msg.events]
            items += [withheld_from_wire(origin, w) for w in msg.withheld]
            return [Ingest(peer, origin, items)]
        raise RemoteProtocolError("unexpected_message", type(msg).__name__)

    def on_ingested(self, peer: str, origin: str, before: int,
                    heads: Mapping[str, int]) -> list[ReplicationEffect]:
        """A batch from ``peer`` for ``origin`` was ingested; pull on or move on."""
        st = self._peers.get(peer)
        if st is None:
            return []
        st.inflight.discard(origin)
        now_at = heads.get(origin, 0)
        if now_at < st.remote.get(origin, 0) and now_at > before:
            st.queue.insert(0, origin)  # progress: keep pulling this feed
        else:
            st.remote.pop(origin, None)  # done, or no progress: do not loop on it
        return self._pump(peer, st, heads)

    def _pump(self, peer: str, st: _PeerState,
              heads: Mapping[str, int]) -> list[ReplicationEffect]:
        out: list[ReplicationEffect] = []
        while st.queue and len(st.inflight) < self.parallel_wants:
            origin = st.queue.pop(0)
            if origin in st.inflight or heads.get(origin, 0) >= st.remote.get(origin, 0):
                continue
            st.inflight.add(origin)
            out.append(Send(peer, Want(bytes.fromhex(origin), heads.get(origin, 0) + 1,
                                       self.batch)))
        return out
