"""The replication protocol's wire messages (DESIGN §3 "Anti-entropy").

Shapes only; what they mean and how they are bounded is the core's
(``core.Replicator``). Their wire type numbers are in ``hartnode.wire_numbers``
(the ``replication`` section), with the retired ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from hartnode.gossip.wire import wire_message


@wire_message("replication")
@dataclass(frozen=True)
class FeedEvent:
    envelope: bytes
    sig: bytes


# 65: retired (FeedWithheld without the origin's signature); see 88.
# 70: retired (Batch of unsigned FeedWithheld); see 89.


@wire_message("replication")
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


@wire_message("replication")
@dataclass(frozen=True)
class HeadsDigest:
    digests: tuple[bytes, ...]  # BUCKETS entries of (origin, seq, hash); b"" when empty


@wire_message("replication")
@dataclass(frozen=True)
class HeadsRequest:
    buckets: tuple[int, ...]


@wire_message("replication")
@dataclass(frozen=True)
class Heads:
    origins: tuple[bytes, ...]
    seqs: tuple[int, ...]
    # One HEAD_HASH_BYTES prefix per origin, or () when the sender knows no hashes.
    hashes: tuple[bytes, ...] = ()


@wire_message("replication")
@dataclass(frozen=True)
class Want:
    origin: bytes
    from_seq: int
    limit: int


@wire_message("replication")
@dataclass(frozen=True)
class Batch:
    origin: bytes
    events: tuple[FeedEvent, ...]
    withheld: tuple[FeedWithheld, ...]


@wire_message("replication")
@dataclass(frozen=True)
class NewEvents:
    """Fresh ``network`` events, pushed over Plumtree as a broadcast payload."""

    events: tuple[FeedEvent, ...]


REPLICATION_TYPES: frozenset[type] = frozenset(
    {HeadsDigest, HeadsRequest, Heads, Want, Batch})
