"""Wire messages of hierarchical sync, type numbers 76-79 (see ``hartnode.wire_numbers``).

On a link the child dialled:

    child  -> parent   HierarchyJoin                 "I take you as my parent"
    parent -> child    HierarchyWelcome(accepted, reason)
    either -> other    HierarchyPush(events)          up: hierarchy events; down: policy
    other  -> either   HierarchyAck(acked, refused, reason)

An event is acknowledged only once the receiver holds it durably (stored, or
stored before); an event it could not store yet (a gap in its chain) is
refused and retried later. Acks name events by hash, so delivery is
idempotent whatever is resent.
"""

from __future__ import annotations

from dataclasses import dataclass

from hartnode.gossip.wire import wire_message
from hartnode.replication.messages import FeedEvent

PUSH_MAX = 256  # events in one HierarchyPush (and hashes in each list of one HierarchyAck)
PUSH_MAX_BYTES = 512 * 1024  # envelope bytes in one push; a frame holds at most 1 MiB
HASH_BYTES = 32


@wire_message("hierarchy")
@dataclass(frozen=True)
class HierarchyJoin:
    """Sent by a child on the link it dialled to the parent it chose."""


@wire_message("hierarchy")
@dataclass(frozen=True)
class HierarchyWelcome:
    """The parent's answer; ``reason`` says why not when ``accepted`` is false."""

    accepted: bool
    reason: str


@wire_message("hierarchy")
@dataclass(frozen=True)
class HierarchyPush:
    """Events the sender's sync queue holds for the receiver."""

    events: tuple[FeedEvent, ...]


@wire_message("hierarchy")
@dataclass(frozen=True)
class HierarchyAck:
    """Hashes now held durably (``acked``) and not stored (``refused``, with ``reason``)."""

    acked: tuple[bytes, ...]
    refused: tuple[bytes, ...]
    reason: str


HIERARCHY_TYPES: tuple[type, ...] = (HierarchyJoin, HierarchyWelcome, HierarchyPush, HierarchyAck)
