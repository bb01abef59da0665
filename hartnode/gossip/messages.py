"""Type numbers of the overlay's wire messages (16-63, append-only; see ``wire``).

The cores define their messages as plain frozen dataclasses and stay free of
the codec; this module gives each one its permanent number. Import it before
encoding or decoding overlay traffic (``service`` does).

    16 PeerInfo (nested)   17 Join          18 ForwardJoin   19 Neighbour
    20 NeighbourReply      21 Disconnect    22 Shuffle       23 ShuffleReply
    24 Ping (membership)   25 Pong          26-31 free
    32 Gossip              33 IHave         34 Graft         35 Prune
    36-47 free             48 PeerRecordMessage (``peer_record``)
    49 RevocationListMessage (``trust``)
"""

from __future__ import annotations

from hartnode.gossip import hyparview, plumtree, wire
from hartnode.gossip.peer_record import PeerRecordMessage

_NUMBERS: tuple[tuple[int, type], ...] = (
    (16, hyparview.PeerInfo),
    (17, hyparview.Join),
    (18, hyparview.ForwardJoin),
    (19, hyparview.Neighbour),
    (20, hyparview.NeighbourReply),
    (21, hyparview.Disconnect),
    (22, hyparview.Shuffle),
    (23, hyparview.ShuffleReply),
    (24, hyparview.Ping),
    (25, hyparview.Pong),
    (32, plumtree.Gossip),
    (33, plumtree.IHave),
    (34, plumtree.Graft),
    (35, plumtree.Prune),
)
for _number, _cls in _NUMBERS:
    if wire.registered_types().get(_number) is not _cls:
        wire.register(_number)(_cls)

MEMBERSHIP_TYPES: frozenset[type] = frozenset(hyparview.ALL_MESSAGES)
BROADCAST_TYPES: frozenset[type] = frozenset(plumtree.ALL_MESSAGES)
__all__ = ["BROADCAST_TYPES", "MEMBERSHIP_TYPES", "PeerRecordMessage"]
