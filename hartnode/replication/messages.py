"""The replication protocol's wire messages (DESIGN §3 "Anti-entropy").

Shapes only; what they mean and how they are bounded is the core's
(``core.Replicator``). Their wire type numbers are in ``hartnode.wire_numbers``
(the ``replication`` section), with the retired ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from hartnode.gossip.wire import wire_message

T = TypeVar("T")


@wire_message("replication")
@dataclass(frozen=True)
class FeedEvent:
    envelope: bytes
    sig: bytes


def event_bytes(e: FeedEvent) -> int:
    """What an event costs a push's byte bound: its envelope and signature."""
    return len(e.envelope) + len(e.sig)


def chunk_events(items: Iterable[T], event_of: Callable[[T], FeedEvent], max_count: int,
                 max_bytes: int) -> list[list[T]]:
    """``items`` in order, in runs of at most ``max_count`` whose events take at
    most ``max_bytes`` (``event_bytes``); one event always goes, however large.

    The one chunker of event pushes: the broadcast ``NewEvents`` and the link
    ``Push`` (the hierarchy's sync).
    """
    out: list[list[T]] = []
    chunk: list[T] = []
    size = 0
    for item in items:
        cost = event_bytes(event_of(item))
        if chunk and (len(chunk) >= max_count or size + cost > max_bytes):
            out.append(chunk)
            chunk, size = [], 0
        chunk.append(item)
        size += cost
    if chunk:
        out.append(chunk)
    return out


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


@wire_message("replication")
@dataclass(frozen=True)
class Push:
    """Events sent unasked on one link, each answered by ``Held``: the sync to a
    hierarchy parent or child (DESIGN §1: the same act as a pull's Batch)."""

    events: tuple[FeedEvent, ...]


@wire_message("replication")
@dataclass(frozen=True)
class Held:
    """The answer to a ``Push``: the hashes now held durably (``acked``) and the
    ones not stored (``refused``, with the commonest ``reason``)."""

    acked: tuple[bytes, ...]
    refused: tuple[bytes, ...]
    reason: str


REPLICATION_TYPES: frozenset[type] = frozenset(
    {HeadsDigest, HeadsRequest, Heads, Want, Batch, Push, Held})
