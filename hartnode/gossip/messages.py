"""Registers the overlay's wire messages under their numbers (``hartnode.wire_numbers``).

The cores define their messages as plain frozen dataclasses and stay free of
the codec; this module registers each one under its area's entry in the one
table (membership 16-25, broadcast 32-35). Import it before encoding or
decoding overlay traffic (``service`` does).
"""

from __future__ import annotations

from hartnode.gossip import hyparview, plumtree, wire
from hartnode.gossip.peer_record import PeerRecordMessage

# PeerInfo is nested in the others, so it registers first.
_AREAS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("membership", (hyparview.PeerInfo, *hyparview.ALL_MESSAGES)),
    ("broadcast", plumtree.ALL_MESSAGES),
)
for _area, _classes in _AREAS:
    for _cls in _classes:
        if _cls not in wire.registered_types().values():
            wire.wire_message(_area)(_cls)

MEMBERSHIP_TYPES: frozenset[type] = frozenset(hyparview.ALL_MESSAGES)
BROADCAST_TYPES: frozenset[type] = frozenset(plumtree.ALL_MESSAGES)
__all__ = ["BROADCAST_TYPES", "MEMBERSHIP_TYPES", "PeerRecordMessage"]
