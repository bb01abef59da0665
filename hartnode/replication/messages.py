"""The replication protocol's wire messages (DESIGN §3 "Anti-entropy").

Shapes only; what they mean and how they are bounded is the core's
(``core.Replicator``). Wire type numbers (append-only, see ``gossip.wire``):
64-71, of which 66 and 68 are retired (the seq-only ``HeadsDigest`` and
``Heads``); 73 and 74 are their successors with head hashes; 72 is
``fork_evidence.ForkEvidence``; 65 and 70 are retired (markers without the
origin's signature) for 88 and 89.
"""

from __future__ import annotations

from dataclasses import dataclass

from hartnode.gossip.wire import register


@register(64)
@dataclass(frozen=True)
class FeedEvent:
    envelope: bytes
    sig: bytes


# 65: retired (FeedWithheld without the origin's signature); see 88.
# 70: retired (Batch of unsigned FeedWithheld); see 89.


@register(88)
@dataclass(frozen=True)
class FeedWithheld:
    origin: bytes  # 32-byte node id
    seq: int
    hash: bytes
    prev: bytes  # empty at seq 1
    reach: str
    sig: bytes  # the origin's signature of ``items.withheld_statement``


# 66: retired (HeadsDigest of (origin, seq) only); see 73.
# 68: retired (Heads without hashes); see 74.


@register(73)
@dataclass(frozen=True)
class HeadsDigest:
    digests: tuple[bytes, ...]  # BUCKETS entries of (origin, seq, hash); b"" when empty


@register(67)
@dataclass(frozen=True)
class HeadsRequest:
    buckets: tuple[int, ...]


@register(74)
@dataclass(frozen=True)
class Heads:
    origins: tuple[bytes, ...]
    seqs: tuple[int, ...]
    # One HEAD_HASH_BYTES prefix per origin, or () when the sender knows no hashes.
    hashes: tuple[bytes, ...] = ()


@register(69)
@dataclass(frozen=True)
class Want:
    origin: bytes
    from_seq: int
    limit: int


@register(89)
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
