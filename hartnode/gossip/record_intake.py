"""Which verified peer records a node takes in, and so relays (issue #8.7).

Anyone can sign records for thousands of made-up node ids, and a record a
node takes in it also relays to the whole network. So, sans-I/O (``now`` in
seconds from any monotonic clock, passed in):

- a record of a peer the table does not hold yet, unless that peer is linked
  to this node or its certificate chain verifies, is charged its bytes plus
  ``BROADCAST_OVERHEAD_BYTES`` (what the stretch counts per refresh) to one
  token bucket per node: ``INTAKE_HEADROOM`` x the profile's
  ``record_budget``, with a burst of ``INTAKE_BURST_S`` of that. Over budget
  it is neither stored nor relayed (counted ``record_over_budget``);
- a record of any peer is taken at most once per ``min_interval`` (half this
  node's announce interval), so peers already held, sybils included, cannot
  refresh at will; a faster one is dropped (counted ``record_too_frequent``).

Certified and linked newcomers are never charged, and an honest peer never
refreshes faster than 0.9 x its own interval (the jitter), which is at least
the base interval, so neither rule starves an honest peer. The signature is
checked before any of this (``decode_peer_record``), so forged records cost
no budget; the chain of a tier claim only for a newcomer.
"""

from __future__ import annotations

from hartnode.gossip.peer_record import BROADCAST_OVERHEAD_BYTES, PeerRecord, PeerTable
from hartnode.gossip.token_bucket import TokenBucket

# The stretch targets ``record_budget`` exactly; twice that leaves room for an
# honest network's churn and for nodes whose view of its size lags.
INTAKE_HEADROOM = 2.0
INTAKE_BURST_S = 60.0  # seconds of the intake rate a node may take at once (a restart's catch-up)


class RecordIntake:
    """The per-node gate in front of ``PeerTable.observe``.

    Args:
        table: the peer table records are taken into (its ``counts`` get the refusals).
        record_budget: the profile's ``record_budget``, bytes per second.
        min_interval: seconds between two records taken of one peer.
        now: the time the budget starts full, in seconds.
    """

    def __init__(self, table: PeerTable, *, record_budget: float, min_interval: float,
                 now: float) -> None:
        self.table = table
        self.rate = INTAKE_HEADROOM * record_budget
        self.burst = INTAKE_BURST_S * self.rate
        self.bucket = TokenBucket(self.rate, self.burst, now)
        self.min_interval = min_interval
        # node id -> when its last record was taken, oldest first; bounded like the table.
        self._taken: dict[str, float] = {}

    def take(self, record: PeerRecord, size: int, *, linked: bool, now: float,
             now_ms: int) -> bool:
        """Offer a verified ``record`` of ``size`` encoded bytes; True if the table took it.

        ``linked``: the record's node holds a link to this node now.
        ``now_ms``: wall-clock milliseconds, for the table's ages and the chain's validity.
        """
        table = self.table
        node_id = record.node_id
        held = table.entries.get(node_id)
        if node_id == table.self_id or (held is not None and record.seq <= held.record.seq):
            return table.observe(record, now_ms)  # ignored or counted ``stale_seq`` there
        last = self._taken.get(node_id)
        if last is not None and now - last < self.min_interval:
            table.counts["record_too_frequent"] += 1
            return False
        if held is None and not linked and table.verify_tier(record, now_ms) is None:
            cost = size + BROADCAST_OVERHEAD_BYTES
            if cost > self.burst or not self.bucket.try_consume(cost, now):
                table.counts["record_over_budget"] += 1
                return False
        if not table.observe(record, now_ms):
            return False
        self._taken.pop(node_id, None)
        self._taken[node_id] = now
        if len(self._taken) > table.max_entries:
            # The oldest take is the one whose interval has long passed.
            del self._taken[next(iter(self._taken))]
        return True
