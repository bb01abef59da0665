"""Every wire message's permanent type number, in one table (DESIGN §3; STYLE "append only").

Data only: this module imports nothing, so any message module can look itself
up here without an import cycle. A message class registers with
``@wire.wire_message(area)``, which finds ``f"{area}.{ClassName}"`` below; a class
missing from the table cannot register, and ``tests/test_wire_numbers.py``
checks that the table and the registered classes agree both ways.

The area is a stable label, not a module path, so moving a class between
modules does not change its number. Rules: numbers are APPEND-ONLY. A number,
once released, never changes meaning or shape; a changed message takes a new
number and the old one moves to ``RETIRED`` with the reason, never reused.
Numbers 65000-65535 are for tests and benchmarks (``wire.register(n)``) and
never appear here.

    1-15    transport control (``gossip/wire``)
    16-31   membership (``gossip/hyparview``; registered by ``gossip/messages``)
    32-47   broadcast (``gossip/plumtree``; registered by ``gossip/messages``)
    48-63   peer records and trust (``gossip/peer_record``, ``gossip/trust``)
    64-75   ledger replication and fork evidence, 87-89 their successors
    76-79   hierarchical sync (``hierarchy/messages``; 78-79 retired: the sync is
            replication's ``Push``/``Held``)
    80-81   integrity challenges (``integrity/service``)
    90-99   compute lending's job protocol (``compute/messages``)
"""

from __future__ import annotations

from typing import Final

WIRE_NUMBERS: Final[dict[int, str]] = {
    1: "transport.Ping",
    2: "transport.Pong",
    3: "transport.Close",
    16: "membership.PeerInfo",  # nested in the others
    17: "membership.Join",
    18: "membership.ForwardJoin",
    19: "membership.Neighbour",
    20: "membership.NeighbourReply",
    21: "membership.Disconnect",
    22: "membership.Shuffle",
    23: "membership.ShuffleReply",
    24: "membership.Ping",
    25: "membership.Pong",
    32: "broadcast.Gossip",
    33: "broadcast.IHave",
    34: "broadcast.Graft",
    35: "broadcast.Prune",
    48: "records.PeerRecordMessage",
    49: "trust.RevocationListMessage",
    64: "replication.FeedEvent",
    67: "replication.HeadsRequest",
    69: "replication.Want",
    71: "replication.NewEvents",
    72: "replication.ForkEvidence",
    73: "replication.HeadsDigest",
    74: "replication.Heads",
    75: "replication.Push",
    76: "hierarchy.HierarchyJoin",
    77: "hierarchy.HierarchyWelcome",
    80: "integrity.ChallengeMessage",
    81: "integrity.ChallengeAnswerMessage",
    87: "replication.Held",
    88: "replication.FeedWithheld",
    89: "replication.Batch",
    90: "compute.JobOffer",
    91: "compute.JobAdmit",
    92: "compute.JobResult",
}

RETIRED: Final[dict[int, str]] = {
    65: "FeedWithheld without the origin's signature; see 88",
    66: "HeadsDigest of (origin, seq) only; see 73",
    68: "Heads without hashes; see 74",
    70: "Batch of unsigned FeedWithheld; see 89",
    78: "HierarchyPush: the hierarchy's sync is replication's Push; see 75",
    79: "HierarchyAck: answered by replication's Held; see 87",
}

TEST_RANGE: Final = range(65000, 65536)  # tests and benchmarks only; never sent by a node


def number_of(name: str) -> int:
    """The type number of ``"area.ClassName"``.

    Raises:
        KeyError: the name is not in the table (add it, with a fresh number).
    """
    for number, entry in WIRE_NUMBERS.items():
        if entry == name:
            return number
    raise KeyError(f"{name} has no wire number; append one to hartnode/wire_numbers.py")
