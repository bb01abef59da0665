"""This node's signed peer record, the records it takes in, and the announce pace.

The gossip service announces its own record over Plumtree every
``announce_interval_s`` (jittered) and directly to each new neighbour; the
interval stretches with the network so refreshes stay within the profile's
``record_budget`` (``peer_record.announce_interval``). What it takes in of
others' records passes ``record_intake.RecordIntake`` first: newcomers within a
byte budget, any one peer at most once per half an interval.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from hartnode.gossip import wire
from hartnode.gossip.peer_record import (
    PeerRecordError,
    PeerRecordMessage,
    PeerTable,
    announce_interval,
    decode_peer_record,
    sign_peer_record,
)
from hartnode.gossip.record_intake import RecordIntake
from hartnode.identity import NodeIdentity


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Records:
    """Signs this node's records and keeps the ones peers announce in ``peers``."""

    def __init__(self, identity: NodeIdentity, peers: PeerTable, *, tier: str, region: str,
                 chain: tuple[tuple[bytes, bytes], ...], base_interval: float,
                 record_budget: float, protocol_errors: Counter[str],
                 capabilities: tuple[str, ...] = ()) -> None:
        self.identity = identity
        self.peers = peers
        self.tier = tier
        self.region = region
        self.chain = chain
        self.capabilities = capabilities  # e.g. compute tags (hartnode.compute.gpu_probe)
        self.base_interval = base_interval
        self.record_budget = record_budget
        self.interval_s = base_interval  # stretched with the network
        self._protocol_errors = protocol_errors
        self._seq = 0
        self.intake = self._new_intake(0.0)

    def _new_intake(self, now: float) -> RecordIntake:
        return RecordIntake(self.peers, record_budget=self.record_budget,
                            min_interval=self.interval_s / 2, now=now)

    def start(self, now: float) -> None:
        """The service starts at ``now`` (its clock's seconds): the intake budget starts full."""
        self.intake = self._new_intake(now)

    def own(self, addrs: tuple[str, ...]) -> PeerRecordMessage:
        """A freshly signed record of this node, offering ``addrs``."""
        # seq from the wall clock: a restarted node's records still win.
        self._seq = max(self._seq + 1, wall_ms())
        return sign_peer_record(
            self.identity, addrs=addrs, tier=self.tier, region=self.region,
            seq=self._seq, ts_ms=wall_ms(), capabilities=self.capabilities,
            chain=self.chain).message

    def take(self, msg: PeerRecordMessage, *, linked: Callable[[str], bool], now: float) -> bool:
        """Keep a verified record the intake lets in; True if taken (so it may be relayed).

        False (counted) when it does not verify (``protocol_errors``), or the
        table or intake refuses it (``PeerTable.counts``). ``linked``: whether
        a node holds a link to this one now; ``now``: the service's clock.
        """
        try:
            record = decode_peer_record(msg)
        except PeerRecordError as e:
            self._protocol_errors[f"peer_record_{e.reason}"] += 1
            return False
        return self.intake.take(record, len(wire.encode(msg)), linked=linked(record.node_id),
                                now=now, now_ms=wall_ms())

    def stretch(self, record_bytes: int) -> None:
        """Follow the network's size: refreshes stay within the profile's record budget."""
        # Unverified peers count up to a cap; the intake bounds how fast sybils add them.
        self.interval_s = announce_interval(self.base_interval, self.peers.announce_peers(),
                                            record_bytes, self.record_budget)
        # No peer refreshes faster than 0.9 of its interval, about ours (all count alike).
        self.intake.min_interval = self.interval_s / 2
        # A peer is stale after 2.5 of its (about equal) intervals, dead after 7.5.
        self.peers.ttl_ms = int(2500 * self.interval_s)
