"""Fork alerts cannot be amplified by throwaway identities (issue #8.8).

Any peer could make every node sign a critical alert for an origin nobody
had seen: 150 throwaway identities, each signing two events at seq 1,
gave 150 signed alerts on every node, each replicated to all. Now a node
signs an alert only for a feed it held, within an alert budget; evidence
is rate-limited per sender, and proofs about origins never held here are
taken within a small budget (``fork_evidence.EvidenceGate``).
"""

from __future__ import annotations

from pathlib import Path

import trio

from hartnode.identity import NodeIdentity
from hartnode.replication.fork_evidence import (
    ALERT_BURST,
    ALERT_REFILL_S,
    EVIDENCE_BURST,
    UNHELD_BURST,
    UNHELD_REFILL_S,
    EvidenceGate,
    fork_evidence,
)

from .test_fork_spread import E1, E2A, E2B, FORKER, Peer, Pulse, note

THROWAWAYS = 150


def throwaway_forks() -> list[object]:
    out: list[object] = []
    for i in range(THROWAWAYS):
        who = NodeIdentity.from_seed(f"throwaway {i}".encode().ljust(32, b"."))
        out.append(fork_evidence(note(1, None, "a", who).wire(), note(1, None, "b", who).wire()))
    return out


async def test_150_throwaway_forks_raise_no_alert_and_a_real_fork_raises_one(
        tmp_path: Path) -> None:
    pulse = Pulse()
    x = Peer(tmp_path, "x", pulse)  # the attacker's node
    y = Peer(tmp_path, "y", pulse, holds=(E1, E2A))  # holds F's feed
    z = Peer(tmp_path, "z", pulse, holds=(E1, E2B))  # holds F's other branch

    def handled(peer: Peer) -> int:
        refused = sum(n for r, n in peer.repl.stats.rejected.items() if r.startswith("evidence_"))
        return peer.repl.stats.forks + refused

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(y.run)
            await nursery.start(x.run, [y])
            await pulse.until("X is linked to Y", lambda: y.id in x.gossip.neighbours())
            assert sum(x.gossip.send(y.id, msg) for msg in throwaway_forks()) == THROWAWAYS
            await pulse.until("Y handled every proof", lambda: handled(y) >= THROWAWAYS)
            assert y.forks == []  # no alert for a feed it never held
            assert y.repl.stats.forks <= EVIDENCE_BURST  # the rest refused by rate
            assert y.repl.stats.rejected["evidence_rate"] == THROWAWAYS - y.repl.stats.forks
            # A real fork of a feed Y holds: exactly one alert, however often it is seen.
            await nursery.start(z.run, [y])
            await pulse.until("Y raised its alert", lambda: bool(y.alerts))
            assert [(a.origin, a.seq) for a, _ in y.forks] == [(FORKER.node_id, 2)]
            assert {y.forks[0][0].hash, y.forks[0][1].hash} == {E2A.hash, E2B.hash}
            nursery.cancel_scope.cancel()
        assert len(y.alerts) == 1
    finally:
        for peer in (x, y, z):
            peer.ledger.close()


def test_the_gate_counts_exactly() -> None:
    gate = EvidenceGate()
    t = 1000.0
    # Per sender: a burst, then the rate; another sender has its own.
    assert [gate.admit("s", 100, True, t) for _ in range(EVIDENCE_BURST + 1)][-2:] == [None, "rate"]
    assert gate.admit("s", 100, True, t + 3.75) is None  # 16 a minute: one per 3.75 s
    assert gate.admit("t", 2 << 20, True, t) == "rate"  # bytes too
    # Origins never held here: a small budget across all senders.
    got = [gate.admit(f"u{i}", 100, False, t) for i in range(UNHELD_BURST + 1)]
    assert got.count(None) == UNHELD_BURST and got[-1] == "unheld"
    assert gate.admit("v", 100, False, t + UNHELD_REFILL_S) is None
    # Alerts: only for held feeds, a burst of them, then one per refill period.
    assert gate.may_alert(False, t) is False
    assert [gate.may_alert(True, t) for _ in range(ALERT_BURST + 1)].count(True) == ALERT_BURST
    assert gate.may_alert(True, t + ALERT_REFILL_S) is True
    assert gate.alerts_withheld == 2


def test_a_real_fork_proof_for_a_held_feed_is_taken_beyond_the_unheld_budget() -> None:
    gate = EvidenceGate()
    for i in range(UNHELD_BURST):
        assert gate.admit(f"u{i}", 100, False, 0.0) is None
    assert gate.admit("w", 100, False, 0.0) == "unheld"
    assert gate.admit("w", 100, True, 0.0) is None
    assert fork_evidence(E2A.wire(), E2B.wire()).a.envelope in (E2A.wire()[0], E2B.wire()[0])
