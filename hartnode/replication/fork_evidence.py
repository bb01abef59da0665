"""Fork evidence on the wire: two signed events of one origin at one seq (DESIGN §1).

A node that finds an equivocation (``Ledger.ingest``) or is shown one by a
peer spreads the proof, so every node holds the forker's later events back
and raises its own fraud alert, including nodes that never saw either
branch. The proof is self-contained: both events are signed by the origin,
so a receiver needs nothing but the origin's id (in the envelope) to check
it, and a bad peer cannot make anyone raise an alert without a real fork.

``ForkEvidence`` travels two ways: as a Plumtree broadcast payload (like
``NewEvents``) when a fork is new to a node, and straight to each new
neighbour on link-up for the forks the node already knows (bounded by
``MAX_ON_LINK``), so late joiners learn too.

This module only shapes and bounds the message; the signatures and the
"one origin, one seq, two hashes" rule are checked by
``Ledger.record_evidence``. The pair is put in a canonical order (by
envelope bytes), so two nodes that found the same fork broadcast the same
payload and Plumtree delivers it once.

Wire type number 72 (append-only, see ``gossip.wire``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hartnode.gossip import wire
from hartnode.gossip.wire import DecodeError, Limits, wire_message
from hartnode.ledger.envelope import MAX_ENVELOPE_BYTES
from hartnode.replication.messages import FeedEvent

SIGNATURE_BYTES = 64  # Ed25519
MAX_ON_LINK = 16  # forked origins whose proof a new neighbour is sent, newest first
MAX_ON_LINK_BYTES = 256 << 10  # and at most this many bytes of proofs per link-up

# Tight bounds for a broadcast payload that claims to be evidence: two events
# of at most MAX_ENVELOPE_BYTES each, their signatures, and msgpack's framing.
EVIDENCE_LIMITS: Final = Limits(
    max_frame_bytes=2 * (MAX_ENVELOPE_BYTES + SIGNATURE_BYTES) + 64,
    max_str_len=0,
    max_bin_len=MAX_ENVELOPE_BYTES,
    max_array_len=3,
    max_map_len=0,
    max_depth=2,
)


@wire_message("replication")
@dataclass(frozen=True)
class ForkEvidence:
    """Proof that ``a``'s origin signed two different events at one seq."""

    a: FeedEvent
    b: FeedEvent


def fork_evidence(a: tuple[bytes, bytes], b: tuple[bytes, bytes]) -> ForkEvidence:
    """The message for two events in wire form ``(envelope, sig)``, in canonical order."""
    first, second = sorted((a, b))
    return ForkEvidence(FeedEvent(*first), FeedEvent(*second))


def check_evidence(msg: ForkEvidence) -> ForkEvidence:
    """Bound an already decoded message (one that came over a link).

    Raises:
        DecodeError: ``limit_exceeded`` for an oversize envelope, ``bad_field``
            for a signature of the wrong length.
    """
    for event in (msg.a, msg.b):
        if len(event.envelope) > MAX_ENVELOPE_BYTES:
            raise DecodeError("limit_exceeded", f"envelope of {len(event.envelope)} B")
        if len(event.sig) != SIGNATURE_BYTES:
            raise DecodeError("bad_field", f"signature of {len(event.sig)} B")
    return msg


def decode_evidence(data: bytes) -> ForkEvidence:
    """Decode untrusted bytes that must be one ``ForkEvidence``, within EVIDENCE_LIMITS.

    Raises:
        DecodeError: anything else, malformed, or out of bounds; nothing else.
    """
    msg = wire.decode(data, EVIDENCE_LIMITS)
    if not isinstance(msg, ForkEvidence):
        raise DecodeError("bad_field", f"expected ForkEvidence, got {type(msg).__name__}")
    return check_evidence(msg)


# --- who may make this node record evidence and sign an alert (issue #8.8) ----------
#
# Evidence is self-proving, but proving a fork is cheap for its own forker:
# a throwaway identity can sign two events at seq 1 and hand the proof to
# everyone. Were every node to sign a critical alert for every proof, 150
# throwaway identities made 150 alerts on every node, each replicated to
# all. So, one alert per fork network-wide in effect:
# - a node signs an alert only for a feed it held (it stores an event or
#   marker of that origin: it had the feed before the evidence came, or found
#   the fork itself by ingest). A node that never held the feed records the
#   proof (so it holds the forker's events back) and relays it, unsigned by
#   itself; the holders' alerts reach it by replication like any event;
# - and at most ALERT_BURST such alerts at once, one more every
#   ALERT_REFILL_S: forks of feeds a node holds are rare, so a burst of them
#   is an attack (it pushed its throwaway feeds first), and the proof is kept
#   either way;
# - evidence is rate-limited per sender (count and bytes per time), and
#   proofs about origins this node never held are taken within a small budget
#   only: beyond it they are dropped, unrecorded and not relayed.

ALERT_BURST = 8  # alerts this node signs at once
ALERT_REFILL_S = 450.0  # seconds per further alert (8 an hour)
EVIDENCE_BURST = 16  # proofs one sender may hand over at once
EVIDENCE_RATE = 16 / 60  # proofs per second one sender may hand over on average
EVIDENCE_BYTES_BURST = 1 << 20  # bytes of proofs one sender may hand over at once
EVIDENCE_BYTE_RATE = 16 * 1024.0  # bytes per second of proofs one sender, on average
UNHELD_BURST = 32  # proofs about origins never held here, taken at once
UNHELD_REFILL_S = 120.0  # seconds per further such proof (30 an hour)


@dataclass(frozen=True, slots=True)
class EvidenceLimits:
    """The gate's budgets (``ledger.evidence_*``, ``unheld_evidence_*``, ``alert_*`` in config)."""

    burst: float = EVIDENCE_BURST  # proofs one sender may hand over at once
    rate: float = EVIDENCE_RATE  # proofs per second one sender, on average
    bytes_burst: float = EVIDENCE_BYTES_BURST  # bytes of proofs one sender at once
    byte_rate: float = EVIDENCE_BYTE_RATE  # bytes per second of proofs one sender, on average
    unheld_burst: float = UNHELD_BURST  # proofs about origins never held here, at once
    unheld_refill_s: float = UNHELD_REFILL_S  # seconds per further such proof
    alert_burst: float = ALERT_BURST  # alerts this node signs at once
    alert_refill_s: float = ALERT_REFILL_S  # seconds per further alert


class _Bucket:
    """A token bucket on an explicit clock (seconds)."""

    def __init__(self, burst: float, rate: float, now: float) -> None:
        self.burst, self.rate = burst, rate
        self.tokens, self.at = burst, now

    def take(self, amount: float, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < amount:
            return False
        self.tokens -= amount
        return True


class EvidenceGate:
    """Sans-I/O: which fork proofs to take, and which forks to sign an alert for.

    ``now`` is in seconds on any monotonic clock. Senders are node ids, or a
    name for a path without one (Plumtree pushes arrive without their sender:
    the shell uses one name for all of them). At most ``max_senders`` buckets
    are kept; the least recently used goes first.
    """

    def __init__(self, *, max_senders: int = 256,
                 limits: EvidenceLimits = EvidenceLimits()) -> None:  # frozen: one default is safe
        self.max_senders = max_senders
        self.limits = limits
        self._senders: dict[str, tuple[_Bucket, _Bucket]] = {}
        self._unheld: _Bucket | None = None
        self._alerts: _Bucket | None = None
        self.alerts_withheld = 0  # forks recorded without an alert of this node's own

    def admit(self, sender: str, size: int, held: bool, now: float) -> str | None:
        """Why a proof of ``size`` bytes from ``sender`` is refused, or None.

        ``held``: this node holds the origin's feed.
        """
        buckets = self._senders.pop(sender, None)
        if buckets is None:
            lim = self.limits
            buckets = (_Bucket(lim.burst, lim.rate, now),
                       _Bucket(lim.bytes_burst, lim.byte_rate, now))
            if len(self._senders) >= self.max_senders:
                del self._senders[next(iter(self._senders))]
        self._senders[sender] = buckets  # most recently used last
        if not buckets[0].take(1, now) or not buckets[1].take(size, now):
            return "rate"
        if not held:
            if self._unheld is None:
                self._unheld = _Bucket(self.limits.unheld_burst,
                                       1 / self.limits.unheld_refill_s, now)
            if not self._unheld.take(1, now):
                return "unheld"
        return None

    def may_alert(self, held: bool, now: float) -> bool:
        """Whether this node signs an alert for a fork new here (see the rules above)."""
        if held:
            if self._alerts is None:
                self._alerts = _Bucket(self.limits.alert_burst,
                                       1 / self.limits.alert_refill_s, now)
            if self._alerts.take(1, now):
                return True
        self.alerts_withheld += 1
        return False
