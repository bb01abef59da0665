"""The hierarchy's wire messages, who is whose parent: types 76-77 (``wire_numbers``).

On a link the child dialled:

    child  -> parent   HierarchyJoin                 "I take you as my parent"
    parent -> child    HierarchyWelcome(accepted, reason)

The events themselves move by replication (DESIGN §1: one act): a ``Push``
on the link (up: hierarchy events; down: policy), answered by ``Held``, which
names by hash what the receiver holds durably; 78-79 (the hierarchy's own
push and ack) are retired.
"""

from __future__ import annotations

from dataclasses import dataclass

from hartnode.gossip.wire import wire_message


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


HIERARCHY_TYPES: tuple[type, ...] = (HierarchyJoin, HierarchyWelcome)
