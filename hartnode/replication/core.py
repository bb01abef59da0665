"""Ledger replication between neighbours, sans-I/O (DESIGN §1, §3 "Anti-entropy").

Two mechanisms, as in DESIGN §3:
- **push**: a node's new ``network`` events are broadcast over Plumtree
  (``NewEvents``), for low latency; and on one link, events sent unasked
  (``Push``) and answered with what the receiver now holds (``Held``): the
  hierarchy's sync to a parent or child, which keeps what is still pending
  (``hierarchy.sync_queue``);
- **pull (anti-entropy)**: on every new link, and every round after, the two
  ends compare per-origin heads and pull what they miss in bounded batches.
  Whatever a broadcast lost is still delivered.

Heads are compared cheaply first: origins fall into 16 buckets by their first
hex digit, and each side sends one 8-byte digest per non-empty bucket
(``HeadsDigest``, ~200 bytes for any number of origins). Only buckets that
differ are listed in full (``HeadsRequest`` → ``Heads``). An unchanged feed
therefore costs one digest each way on reconnect.

A head is a seq *and* the hash of the event there: two nodes holding
different events at one (origin, seq) — a fork — have equal seqs, and only
the hash shows it. The digest therefore covers (origin, seq, hash), and
``Heads`` carries a 16-byte hash prefix per origin; a peer whose head has
our seq but another hash is asked for that one event (a *probe*), so the
ledger's ingest sees both and records the equivocation (DESIGN §1). A pull
that makes no progress while the peer claims more (its chain does not link
onto ours) probes our head seq once, for the same reason. Origins known to
have forked are left out of digests and heads on both sides: their feeds
are held back, and once every node knows the fork the digests agree again.

Rounds come through the one timer shape of every core (``hartnode.protocol.
TimerCore``, aioquic's): ``start(now)`` arms the first, ``get_timer()`` says
when the next is due and ``handle_timer(now)`` runs it and arms the one after,
``round_interval`` later. The core reads no clock; the shells (the daemon's
and the simulator's) sleep until ``get_timer()`` and call back.

A Want or its Batch can be lost (a lossy link; in the daemon a full send
queue or replication inbox drops it). Want deadlines are counted in
anti-entropy rounds, so they move with the timer: a peer that answered none of our wants for
``want_rounds`` rounds in a row (2: 10 to 20 s at the default interval) has
its pulls dropped and is sent a digest again, which starts them afresh.
Any answer from the peer resets the count, so a slow link that delivers a
1,000-event batch every few seconds is never taken for a lossy one.

The bandwidth profile sizes both (``Replicator.for_link``): a Batch carries at
most what the link sends in one round (``link_rate`` x the round, and
``link_burst``), and ``want_rounds`` leaves room for twice a Batch's time on
the link. So on ``minimal`` (4 KB/s, 10 s rounds: 40 KiB Batches, 3 rounds)
answers keep coming at least once a round while a feed streams in, and the
asker never takes a slow link for a lossy one and asks again for what is
still on its way; ``full`` and ``constrained`` keep 256/64 KiB and 2 rounds.

The core owns the protocol (h11's way: messages and ``now`` in, effects
out) and keeps no ledger. It keeps the heads itself: the shell loads the
ledger's heads at link-up and each round (``load``), and tells it what
every ingest stored (``stored``) and what the node appended (``appended``),
so no message costs a trip to the ledger's thread. The shell carries out
the effects: ``Send``; ``Serve`` (read a feed range, answer with a
``Batch``); ``Ingest`` (verify and store a batch, then ``stored`` and
``on_ingested``); ``TakePush`` (the same for a link push, then ``pushed``
answers it); ``Confirmed`` (a peer's answer to our push); ``SendEvidence``
(the proofs on record, to a new neighbour, before the digest); ``RaiseAlert``
and ``Spread`` (a fork new here: this node's fraud alert, within ``EvidenceGate``'s budget, and the
proof broadcast); ``ConfirmFeed`` (a neighbour showed its heads and nothing
is left to pull: this node knows its own feed's head). Nothing unverified
is stored or forwarded: every event goes through the ledger's verified
ingest before any node serves it on, and a push is relayed only when
``push_verdict`` says all of it was taken.

The wire messages are in ``messages`` (re-exported here).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import blake3

from hartnode.ledger.envelope import Event
from hartnode.ledger.items import FeedItem, Head, IngestResult, Withheld
from hartnode.protocol import RemoteProtocolError, Send
from hartnode.replication.fork_evidence import EvidenceGate, ForkEvidence, fork_evidence
from hartnode.replication.messages import (
    REPLICATION_TYPES,
    Batch,
    FeedEvent,
    FeedWithheld,
    Heads,
    HeadsDigest,
    HeadsRequest,
    Held,
    NewEvents,
    Push,
    Want,
)

__all__ = ["REPLICATION_TYPES", "Batch", "FeedEvent", "FeedWithheld", "Heads", "HeadsDigest",
           "HeadsRequest", "Held", "NewEvents", "Push", "Want"]  # the messages, with their core

BUCKETS = 16
DIGEST_BYTES = 8
MAX_BATCH = 1000  # events in one Batch
# Bytes of the items of one Batch (envelopes, signatures, markers). Well under
# the wire's 1 MiB frame, so a Batch always encodes; one item is always sent,
# however large (an envelope is at most MAX_ENVELOPE_BYTES, 64 KiB), so a
# feed of large events still moves, one event per Batch at worst.
MAX_BATCH_BYTES = 256 << 10
# msgpack framing around one item of a Batch (array and bin headers): bounded above.
ITEM_FRAMING_BYTES = 16
MAX_HEADS = 4096  # origins in one Heads message
# Bytes of a head's hash that Heads carries. Grinding two events of one's own
# feed whose hashes share 16 bytes (to hide a fork from this comparison)
# takes ~2^64 hashes; 32 would add 16 B per origin to every Heads for nothing.
HEAD_HASH_BYTES = 16
# Rounds in a row that a peer may leave all our wants unanswered before they
# are taken for lost; the answer to a lost Want would never come.
WANT_ROUNDS = 2
# Wants served per peer per anti-entropy round, and the bytes of their replies:
# beyond either, a peer's wants wait for the next round; beyond MAX_DEFERRED_WANTS
# waiting, it is flooding and its link is closed ("want_flood"). An honest
# asker has at most ``parallel_wants`` (4) wants out at once.
WANTS_PER_ROUND = 256
# Events in one push, a broadcast NewEvents or a link Push (and hashes in each
# list of a Held), and the bytes of their envelopes and signatures (one always goes).
PUSH_MAX = 256
PUSH_MAX_BYTES = 256 << 10
HASH_BYTES = 32
WANT_BYTES_PER_ROUND = 2 * 65_536 * 10  # 2 x the full profile's link_rate x a 10 s round
MAX_DEFERRED_WANTS = 64


def want_budget(link_rate: float, round_interval: float) -> int:
    """Reply bytes one peer's wants may take per round: twice what its link carries."""
    return max(int(2 * link_rate * round_interval), 1)


# The smallest Batch bytes a profile may set: one large envelope always goes
# anyway, and smaller Batches would only add framing.
MIN_BATCH_BYTES = 4096


def batch_bytes_for(link_rate: float, link_burst: float, round_interval: float) -> int:
    """A Batch's item bytes on a link: what it sends in one round, within the burst."""
    return max(MIN_BATCH_BYTES,
               min(MAX_BATCH_BYTES, int(link_burst), int(link_rate * round_interval)))


def want_rounds_for(batch_bytes: int, link_rate: float, round_interval: float) -> int:
    """Rounds an unanswered want waits before it is taken for lost: room for twice
    a Batch's time on the link (sealing, other traffic), and never under WANT_ROUNDS."""
    return max(WANT_ROUNDS, 1 + math.ceil(2 * batch_bytes / (link_rate * round_interval)))

# What the core is told about this node's heads: a seq, or a seq and the hash
# there (the ledger's ``head_map``). Plain seqs still work (e.g. a simulator
# that models no forks); a fork can then only be found through hashes.
HeadValue: TypeAlias = int | Head
HeadsView: TypeAlias = Mapping[str, HeadValue]


@dataclass(frozen=True, slots=True)
class Serve:
    """Read ``origin`` from ``from_seq`` (at most ``limit``) and send ``peer`` a Batch."""

    peer: str
    origin: str
    from_seq: int
    limit: int
    max_bytes: int = MAX_BATCH_BYTES  # the Batch's items take at most this (one item always goes)


@dataclass(frozen=True, slots=True)
class Ingest:
    """Verify and store ``items`` from ``peer``; then call ``on_ingested``."""

    peer: str
    origin: str
    items: list[tuple[bytes, bytes] | Withheld]


@dataclass(frozen=True, slots=True)
class SendEvidence:
    """Send ``peer`` the proofs of the forks on record (bounded: ``fork_evidence.MAX_ON_LINK*``)."""

    peer: str


@dataclass(frozen=True, slots=True)
class RaiseAlert:
    """Sign a fraud alert about the fork ``a``/``b`` (new here, within the alert budget)."""

    a: Event
    b: Event


@dataclass(frozen=True, slots=True)
class Spread:
    """Broadcast the proof of a fork new here (one received by broadcast is relayed already)."""

    evidence: ForkEvidence
    how: str  # "fork_detected" by this node's ingest, or "fork_proven" by a peer's evidence
    origin: str
    seq: int


@dataclass(frozen=True, slots=True)
class TakePush:
    """Verify and store ``items`` that ``peer`` pushed on its link (each checked
    against what that link may carry, ``direction.may_receive``), then answer
    with ``pushed``: which of ``hashes`` this node now holds."""

    peer: str
    items: list[tuple[bytes, bytes] | Withheld]
    hashes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Confirmed:
    """``peer`` holds ``acked`` durably and did not store ``refused`` (for ``reason``):
    the answer to a ``Push`` of ours, for the service that keeps what is pending."""

    peer: str
    acked: tuple[bytes, ...]
    refused: tuple[bytes, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class ConfirmFeed:
    """This node now knows its own feed's head: take nothing about that feed from others."""


ReplicationEffect = (Send | Serve | Ingest | TakePush | Confirmed | SendEvidence | RaiseAlert
                     | Spread | ConfirmFeed)


def bucket_of(origin: str) -> int:
    return int(origin[0], 16)


def seq_of(value: HeadValue | None) -> int:
    """The seq of a head value (0 for a feed not held)."""
    if value is None:
        return 0
    return value if isinstance(value, int) else value.seq


def hash_of(value: HeadValue | None) -> bytes:
    """The head's hash, or b"" when it is not known."""
    return value.hash if isinstance(value, Head) else b""


def heads_digest(heads: HeadsView, skip: frozenset[str] | set[str] = frozenset()
                 ) -> HeadsDigest:
    """One 8-byte digest per bucket of ``(origin, seq, hash)``; b"" when empty.

    Origins in ``skip`` (known to have forked) are left out.
    """
    per_bucket: list[list[str]] = [[] for _ in range(BUCKETS)]
    for origin, value in heads.items():
        if origin not in skip:
            per_bucket[bucket_of(origin)].append(
                f"{origin}:{seq_of(value)}:{hash_of(value).hex()};")
    return HeadsDigest(tuple(
        blake3.blake3("".join(sorted(b)).encode()).digest(length=DIGEST_BYTES) if b else b""
        for b in per_bucket))


def withheld_from_wire(origin: str, w: FeedWithheld) -> Withheld:
    return Withheld(origin, w.seq, w.hash, w.prev.hex() if w.prev else None, w.reach, w.sig)


def withheld_to_wire(w: Withheld) -> FeedWithheld:
    return FeedWithheld(bytes.fromhex(w.origin), w.seq, w.hash,
                        bytes.fromhex(w.prev) if w.prev else b"", w.reach, w.sig)


def pack_batch(origin: str, items: list[FeedItem], max_bytes: int) -> tuple[Batch, int]:
    """The Batch of ``items``' longest prefix within ``max_bytes``, and its length.

    A prefix, because the chain is ingested in seq order: the asker stores
    what came and asks again from its new head. The first item always goes,
    so a single event that fits the wire is never stuck behind the bound.
    """
    events: list[FeedEvent] = []
    markers: list[FeedWithheld] = []
    size = 0
    for n, item in enumerate(items):
        if isinstance(item, Event):
            event = FeedEvent(*item.wire())
            cost = len(event.envelope) + len(event.sig) + ITEM_FRAMING_BYTES
        else:
            cost = 32 + 9 + 32 + 32 + len(item.reach) + len(item.sig) + ITEM_FRAMING_BYTES
        if n and size + cost > max_bytes:
            return Batch(bytes.fromhex(origin), tuple(events), tuple(markers)), n
        size += cost
        if isinstance(item, Event):
            events.append(event)
        else:
            markers.append(withheld_to_wire(item))
    return Batch(bytes.fromhex(origin), tuple(events), tuple(markers)), len(items)


@dataclass
class _PeerState:
    remote: dict[str, int] = field(default_factory=dict)  # origin -> their head
    queue: list[str] = field(default_factory=list)  # origins to pull, in order
    inflight: set[str] = field(default_factory=set)
    # origin -> the one seq to fetch from this peer to compare with ours
    probes: dict[str, int] = field(default_factory=dict)
    probing: set[str] = field(default_factory=set)  # in flight, and a probe
    probed: set[str] = field(default_factory=set)  # once per origin per link
    silent_rounds: int = 0  # rounds in a row with wants in flight and none answered
    served_wants: int = 0  # this round: their wants served, and the bytes of the replies
    served_bytes: int = 0
    deferred: list[Serve] = field(default_factory=list)  # their wants waiting for a round


class Replicator:
    """Per-node replication state over all links. Single-threaded, like the cores."""

    def __init__(self, *, batch: int = MAX_BATCH, parallel_wants: int = 4,
                 want_rounds: int = WANT_ROUNDS, batch_bytes: int = MAX_BATCH_BYTES,
                 wants_per_round: int = WANTS_PER_ROUND,
                 want_bytes_per_round: int = WANT_BYTES_PER_ROUND,
                 max_deferred_wants: int = MAX_DEFERRED_WANTS,
                 gate: EvidenceGate | None = None, round_interval: float = 10.0,
                 rng: random.Random | None = None) -> None:
        if want_rounds < 1:
            raise ValueError("want_rounds must be at least 1")
        if not round_interval > 0:
            raise ValueError("round_interval must be positive")
        self.round_interval = round_interval  # s between anti-entropy rounds
        # Draws the first round's phase (``start``); None: one interval after start.
        self._rng = rng
        self._next_round: float | None = None  # armed by ``start``
        self.batch = min(batch, MAX_BATCH)
        self.batch_bytes = min(batch_bytes, MAX_BATCH_BYTES)
        self.wants_per_round = wants_per_round
        self.want_bytes_per_round = want_bytes_per_round
        self.max_deferred_wants = max_deferred_wants
        self.wants_deferred = 0  # wants that waited for a later round
        self.want_floods = 0  # links closed for asking far beyond their share
        self.parallel_wants = parallel_wants
        self.want_rounds = want_rounds
        self.wants_dropped = 0  # wants given up as lost (their peer stayed silent)
        self._peers: dict[str, _PeerState] = {}
        # Origins with a fork on record here: left out of digests and heads,
        # never pulled (the ledger holds their later events back anyway).
        self.forked: set[str] = set()
        # This node's heads, kept by ``load``, ``stored`` and ``appended``.
        self.heads: dict[str, HeadValue] = {}
        self.gate = gate if gate is not None else EvidenceGate()
        self.forks_found = 0  # forks new here: found by ingest or proven by a peer
        self.feed_confirmed = False

    @classmethod
    def for_link(cls, link_rate: float, link_burst: float, round_interval: float, *,
                 gate: EvidenceGate | None = None, rng: random.Random | None = None,
                 **kwargs: int) -> Replicator:
        """A core sized for a bandwidth profile's links (``OverlayConfig.link_rate``,
        ``link_burst``, bytes/s and bytes) and the anti-entropy round (s): Batch
        bytes, the want deadline in rounds and the reply bytes one peer's wants
        may take per round. ``kwargs`` set the other knobs as ``__init__`` does."""
        batch_bytes = batch_bytes_for(link_rate, link_burst, round_interval)
        return cls(batch_bytes=batch_bytes,
                   want_rounds=want_rounds_for(batch_bytes, link_rate, round_interval),
                   want_bytes_per_round=want_budget(link_rate, round_interval), gate=gate,
                   round_interval=round_interval, rng=rng, **kwargs)

    def mark_forked(self, origin: str) -> None:
        """``origin`` forked (detected here or proven by a peer's evidence)."""
        self.forked.add(origin)
        for st in self._peers.values():
            st.remote.pop(origin, None)
            st.probes.pop(origin, None)
            if origin in st.queue:
                st.queue.remove(origin)

    # -- this node's heads -----------------------------------------------------

    def load(self, heads: HeadsView) -> None:
        """Take the ledger's heads (at start, link-up, each round). A head only
        moves up: a copy read while this node appended is never older than
        what the core was told since."""
        for origin, value in heads.items():
            if seq_of(value) > seq_of(self.heads.get(origin)):
                self.heads[origin] = value

    def appended(self, events: Sequence[Event]) -> None:
        """This node appended ``events`` to its own feed."""
        for e in events:
            if e.seq > seq_of(self.heads.get(e.origin)):
                self.heads[e.origin] = Head(e.seq, e.hash)

    def stored(self, result: IngestResult, now: float) -> list[ReplicationEffect]:
        """An ingest (a pull, a push, the hierarchy's) stored ``result``: the heads
        move, and each fork it found is new here: reported and spread."""
        self.load(result.heads)
        out: list[ReplicationEffect] = []
        for a, b in result.equivocations:
            out += self.fork(a, b, held=True, how="fork_detected", now=now)
        return out

    def _view(self, heads: HeadsView | None) -> HeadsView:
        # A shell may pass a heads view of its own (the simulator: seq-only
        # ledgers, a forger's lies); else the core's own.
        return self.heads if heads is None else heads

    # -- forks ----------------------------------------------------------------

    def fork(self, a: Event, b: Event, *, held: bool, how: str,
             now: float) -> list[ReplicationEffect]:
        """A fork new on record here: leave the origin out, alert, spread the proof.

        ``held``: this node held the origin's feed (always so for a fork its own
        ingest found). Only then, and within the alert budget, does it sign an
        alert of its own (``fork_evidence.EvidenceGate``)."""
        self.mark_forked(a.origin)
        self.forks_found += 1
        out: list[ReplicationEffect] = []
        if self.gate.may_alert(held, now):
            out.append(RaiseAlert(a, b))
        out.append(Spread(fork_evidence(a.wire(), b.wire()), how, a.origin, a.seq))
        return out

    def admit_evidence(self, sender: str, msg: ForkEvidence, held: bool,
                       now: float) -> str | None:
        """Why a checked proof from ``sender`` is refused (``EvidenceGate.admit``), or None."""
        size = len(msg.a.envelope) + len(msg.b.envelope) + len(msg.a.sig) + len(msg.b.sig)
        return self.gate.admit(sender, size, held, now)

    @staticmethod
    def push_verdict(result: IngestResult) -> bool:
        """Whether a pushed batch is fit to relay: all of it verified and taken.

        A batch with one forged or refused event is not relayed: its good
        events reach the other nodes by their own pushes and anti-entropy,
        and no node forwards bytes it could not verify."""
        return not result.rejected

    # -- links and rounds -----------------------------------------------------

    def on_link_up(self, peer: str, heads: HeadsView | None = None) -> list[ReplicationEffect]:
        self._peers[peer] = _PeerState()
        out: list[ReplicationEffect] = []
        if self.forked:  # before the digest: the peer then leaves them out too
            out.append(SendEvidence(peer))
        out.append(Send(peer, heads_digest(self._view(heads), self.forked)))
        return out

    def on_link_down(self, peer: str) -> None:
        self._peers.pop(peer, None)

    # -- the timer (``hartnode.protocol.TimerCore``) -----------------------------

    def start(self, now: float, *, at: float | None = None) -> None:
        """Arm the first round: at ``at`` (a restarted simulated node keeps its
        phase); else at a phase drawn from the rng within one interval, so nodes
        started together do not run their rounds in step; else one interval on."""
        if at is not None:
            self._next_round = at
        elif self._rng is not None:
            self._next_round = now + self._rng.uniform(0.0, self.round_interval)
        else:
            self._next_round = now + self.round_interval

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must run next (the next round); None before ``start``."""
        return self._next_round

    def handle_timer(self, now: float,
                     heads: HeadsView | None = None) -> list[ReplicationEffect]:
        """Run the round due at ``now`` (nothing when none is) and arm the next.

        Everything time-driven here goes with the round: the digests, the want
        deadlines (counted in rounds) and each peer's per-round want share."""
        if self._next_round is None or now < self._next_round:
            return []
        self._next_round = now + self.round_interval
        return self._round(heads)

    def _round(self, heads: HeadsView | None = None) -> list[ReplicationEffect]:
        """One anti-entropy round: a digest to every idle neighbour.

        A neighbour still pulling is skipped, unless it has answered none of
        our wants for ``want_rounds`` rounds: those are taken for lost,
        dropped, and the digest sent, so the exchange starts over.
        """
        digest = heads_digest(self._view(heads), self.forked)
        out: list[ReplicationEffect] = []
        for peer, st in self._peers.items():
            st.served_wants = st.served_bytes = 0  # a new round: a new share
            waiting, st.deferred = st.deferred, []
            for serve in waiting:
                out += self._admit(st, serve)
            if st.inflight:
                st.silent_rounds += 1
                if st.silent_rounds < self.want_rounds:
                    continue  # answers may still be on their way
                self._drop_pulls(st)
            out.append(Send(peer, digest))
        return out

    def _drop_pulls(self, st: _PeerState) -> None:
        """Forget every pull from a silent peer; its next Heads starts them again."""
        self.wants_dropped += len(st.inflight)
        st.probed -= st.probing  # a probe that got no answer may be sent again
        st.inflight.clear()
        st.probing.clear()
        st.queue.clear()
        st.probes.clear()
        st.remote.clear()
        st.silent_rounds = 0

    def pulling(self, peer: str) -> bool:
        st = self._peers.get(peer)
        return bool(st and (st.inflight or st.queue))

    def on_message(self, peer: str, msg: object,
                   heads: HeadsView | None = None) -> list[ReplicationEffect]:
        """Handle a replication message from ``peer``.

        Raises:
            RemoteProtocolError: a malformed message (the shell ends the link).
        """
        st = self._peers.setdefault(peer, _PeerState())
        view = self._view(heads)
        if isinstance(msg, HeadsDigest):
            if len(msg.digests) != BUCKETS:
                raise RemoteProtocolError("bad_digest", f"{len(msg.digests)} buckets")
            ours = heads_digest(view, self.forked).digests
            differ = tuple(i for i in range(BUCKETS) if msg.digests[i] != ours[i])
            if differ:
                return [Send(peer, HeadsRequest(differ))]
            return self._confirm(peer, [])  # in step with a neighbour
        if isinstance(msg, HeadsRequest):
            return self._heads_of(peer, msg.buckets, view)
        if isinstance(msg, Heads):
            return self._confirm(peer, self._on_heads(peer, st, msg, view))
        if isinstance(msg, Want):
            if len(msg.origin) != 32 or msg.from_seq < 1 or msg.limit < 1:
                raise RemoteProtocolError("bad_want")
            return self._admit(st, Serve(peer, msg.origin.hex(), msg.from_seq,
                                         min(msg.limit, MAX_BATCH), self.batch_bytes))
        if isinstance(msg, Batch):
            if len(msg.origin) != 32 or len(msg.events) + len(msg.withheld) > MAX_BATCH:
                raise RemoteProtocolError("bad_batch")
            origin = msg.origin.hex()
            items: list[tuple[bytes, bytes] | Withheld] = [
                (e.envelope, e.sig) for e in msg.events]
            items += [withheld_from_wire(origin, w) for w in msg.withheld]
            return [Ingest(peer, origin, items)]
        if isinstance(msg, Push):
            if len(msg.events) > PUSH_MAX:
                raise RemoteProtocolError("push_too_long", str(len(msg.events)))
            return [TakePush(peer, [(e.envelope, e.sig) for e in msg.events],
                             tuple(blake3.blake3(e.envelope).digest() for e in msg.events))]
        if isinstance(msg, Held):
            if (len(msg.acked) > PUSH_MAX or len(msg.refused) > PUSH_MAX
                    or any(len(h) != HASH_BYTES for h in (*msg.acked, *msg.refused))):
                raise RemoteProtocolError("bad_held")
            return [Confirmed(peer, msg.acked, msg.refused, msg.reason[:64] or "refused")]
        raise RemoteProtocolError("unexpected_message", type(msg).__name__)

    @staticmethod
    def pushed(peer: str, hashes: Sequence[bytes], held: set[bytes] | frozenset[bytes],
               result: IngestResult) -> list[ReplicationEffect]:
        """A push from ``peer`` was ingested (``result``) and this node now holds
        ``held``: confirm those, and refuse the rest with the commonest reason
        (the sender retries them later: a gap may close meanwhile)."""
        refused = tuple(h for h in hashes if h not in held)
        reason = ""
        if refused:
            reason = result.rejected.most_common(1)[0][0] if result.rejected else "not_stored"
        return [Send(peer, Held(tuple(h for h in hashes if h in held), refused, reason))]

    def _admit(self, st: _PeerState, serve: Serve) -> list[ReplicationEffect]:
        """Serve a want now if its peer has share left this round, else let it wait.

        Raises:
            RemoteProtocolError: ``want_flood``, the peer has MAX_DEFERRED_WANTS
                waiting already (the shell closes its link).
        """
        if (not st.deferred and st.served_wants < self.wants_per_round
                and st.served_bytes < self.want_bytes_per_round):
            st.served_wants += 1
            return [serve]
        if len(st.deferred) >= self.max_deferred_wants:
            self.want_floods += 1
            st.deferred.clear()
            raise RemoteProtocolError("want_flood", f"{self.max_deferred_wants} wants waiting")
        st.deferred.append(serve)
        self.wants_deferred += 1
        return []

    def on_served(self, peer: str, reply_bytes: int) -> None:
        """The shell sent ``peer`` a reply of ``reply_bytes`` to one of its wants."""
        st = self._peers.get(peer)
        if st is not None:
            st.served_bytes += reply_bytes

    def _confirm(self, peer: str, out: list[ReplicationEffect]) -> list[ReplicationEffect]:
        """Once a neighbour has shown its heads and nothing newer is left to pull
        from it, this node knows its own feed's true head (a node restored from
        an old backup pulls its later events first): ``ConfirmFeed``, once."""
        if not self.feed_confirmed and not self.pulling(peer):
            self.feed_confirmed = True
            out.append(ConfirmFeed())
        return out

    def on_ingested(self, peer: str, origin: str, before: int,
                    heads: HeadsView | None = None) -> list[ReplicationEffect]:
        """A batch from ``peer`` for ``origin`` was ingested (``before``: the seq
        of our head before it); pull on or move on."""
        heads = self._view(heads)
        st = self._peers.get(peer)
        if st is None:
            return []
        st.silent_rounds = 0  # the peer answers: its other wants are queued, not lost
        st.inflight.discard(origin)
        was_probe = origin in st.probing
        st.probing.discard(origin)
        now_at = seq_of(heads.get(origin))
        if now_at < st.remote.get(origin, 0) and now_at > before:
            st.queue.insert(0, origin)  # progress: keep pulling this feed
        elif (not was_probe and 0 < now_at < st.remote.get(origin, 0)
              and origin not in st.probed and origin not in self.forked):
            # The peer claims more but nothing linked onto our head: its chain
            # may branch off ours. Fetch its event at our head seq, once, so
            # ingest can compare the two (a different one there is a fork).
            st.probes[origin] = now_at
            st.queue.insert(0, origin)
        else:
            st.remote.pop(origin, None)  # done, or no progress: do not loop on it
        return self._confirm(peer, self._pump(peer, st, heads))

    def _heads_of(self, peer: str, buckets: tuple[int, ...],
                  heads: HeadsView) -> list[ReplicationEffect]:
        """Our heads in ``buckets``, with hash prefixes, in Heads of at most MAX_HEADS."""
        wanted = {b for b in buckets if 0 <= b < BUCKETS}
        mine = sorted((o, v) for o, v in heads.items()
                      if bucket_of(o) in wanted and o not in self.forked)
        with_hashes = all(isinstance(v, Head) for _, v in mine)
        out: list[ReplicationEffect] = []
        for i in range(0, len(mine), MAX_HEADS):
            chunk = mine[i:i + MAX_HEADS]
            out.append(Send(peer, Heads(
                tuple(bytes.fromhex(o) for o, _ in chunk), tuple(seq_of(v) for _, v in chunk),
                tuple(hash_of(v)[:HEAD_HASH_BYTES] for _, v in chunk) if with_hashes else ())))
        return out

    def _on_heads(self, peer: str, st: _PeerState, msg: Heads,
                  heads: HeadsView) -> list[ReplicationEffect]:
        n = len(msg.origins)
        if len(msg.seqs) != n or n > MAX_HEADS or len(msg.hashes) not in (0, n):
            raise RemoteProtocolError("bad_heads")
        hashes = msg.hashes or (b"",) * n
        for raw, seq, their_hash in zip(msg.origins, msg.seqs, hashes, strict=True):
            if len(raw) != 32:
                raise RemoteProtocolError("bad_heads", "origin is not 32 bytes")
            if len(their_hash) not in (0, HEAD_HASH_BYTES):
                raise RemoteProtocolError("bad_heads", "hash prefix is not 16 bytes")
            origin = raw.hex()
            if origin in self.forked:
                continue
            mine = heads.get(origin)
            my_seq, my_hash = seq_of(mine), hash_of(mine)[:HEAD_HASH_BYTES]
            if seq > my_seq and seq > st.remote.get(origin, 0):
                st.remote[origin] = seq
                if origin not in st.queue and origin not in st.inflight:
                    st.queue.append(origin)
            elif (seq == my_seq > 0 and their_hash and my_hash and their_hash != my_hash
                  and origin not in st.probed and origin not in st.inflight):
                # Same seq, another event: fetch theirs so ingest records the fork.
                st.probes[origin] = seq
                if origin not in st.queue:
                    st.queue.append(origin)
        return self._pump(peer, st, heads)

    def _pump(self, peer: str, st: _PeerState,
              heads: HeadsView) -> list[ReplicationEffect]:
        out: list[ReplicationEffect] = []
        while st.queue and len(st.inflight) < self.parallel_wants:
            origin = st.queue.pop(0)
            if origin in st.inflight:
                continue
            probe = st.probes.pop(origin, None)
            if probe is not None:
                st.probed.add(origin)
                st.probing.add(origin)
                st.inflight.add(origin)
                out.append(Send(peer, Want(bytes.fromhex(origin), probe, 1)))
                continue
            have = seq_of(heads.get(origin))
            if have >= st.remote.get(origin, 0):
                continue
            st.inflight.add(origin)
            out.append(Send(peer, Want(bytes.fromhex(origin), have + 1, self.batch)))
        return out
