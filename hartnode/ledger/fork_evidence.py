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
from hartnode.gossip.wire import DecodeError, Limits, register
from hartnode.ledger.envelope import MAX_ENVELOPE_BYTES
from hartnode.ledger.replication import FeedEvent

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


@register(72)
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
