"""Forks found and their evidence spread between real nodes on loopback.

Each node here is what ``node.py`` builds, minus the API: a ``GossipService``
on a real 127.0.0.1 socket, a ``ReplicationService``, a ``Committer`` and a
``NodeLedger`` on real SQLite files, with a fork raising a signed
``trust.fraud_alert.raised`` event exactly as the daemon wires it.

F is a forking origin: it signed two different events at seq 2. Node A
holds one, node B the other. Linked, they find the fork by anti-entropy
(equal seqs, different head hashes), both raise an alert and refuse F's
later events; C, linked only to B once A is gone, holds nothing of F: it
records B's evidence and refuses F's later events, but signs no alert of its
own (issue #8.8: only nodes that held the feed do), and receives the
holders' alerts by replication. A peer sending evidence that proves nothing
makes nobody raise anything.

No sleeps: ``until`` re-checks its condition each time a replication
service handled something or an alert was committed, within a deadline.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from hartnode.attestation.fraud import equivocation_alert
from hartnode.catalog import build_catalog
from hartnode.gossip import wire
from hartnode.gossip.overlay_config import full
from hartnode.gossip.peer_record import PeerTable
from hartnode.gossip.service import GossipService, GossipSettings
from hartnode.identity import NodeIdentity
from hartnode.ledger.committer import Committer, StoreAccess
from hartnode.ledger.envelope import Event, sign_event
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.replication.core import FeedEvent
from hartnode.replication.fork_evidence import ForkEvidence, fork_evidence
from hartnode.replication.service import ReplicationService

NET = b"F" * 32
HOST = "127.0.0.1"
DEADLINE_S = 30.0
FORKER = NodeIdentity.from_seed(b"forker".ljust(32, b"."))


def note(seq: int, prev: Event | None, text: str, identity: NodeIdentity = FORKER) -> Event:
    return sign_event(identity, seq=seq, prev=prev.hash_hex if prev else None, ts_ms=1_000 + seq,
                      actor="node", kind="note.created", scope="system", reach="network",
                      payload={"text": text}, provenance={})


E1 = note(1, None, "one")
E2A, E2B = note(2, E1, "two, branch a"), note(2, E1, "two, branch b")
E3A = note(3, E2A, "three, branch a")
E4A = note(4, E3A, "four, branch a")


class Pulse:
    """Set whenever any node changed something; ``until`` waits on it."""

    def __init__(self) -> None:
        self.event = trio.Event()

    def fire(self) -> None:
        self.event.set()
        self.event = trio.Event()

    async def until(self, what: str, check: Callable[[], bool]) -> None:
        with trio.move_on_after(DEADLINE_S):
            while not check():
                await self.event.wait()
            return
        raise AssertionError(f"not within {DEADLINE_S} s: {what}")


class _Watched(ReplicationService):
    def __init__(self, pulse: Pulse, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pulse = pulse

    async def _handle(self, kind: str, peer: str, item: object) -> None:
        try:
            await super()._handle(kind, peer, item)
        finally:
            self.pulse.fire()


class Peer:
    """One node: its ledger, committer, overlay and replication, in its own cancel scope."""

    def __init__(self, root: Path, name: str, pulse: Pulse, holds: Sequence[Event] = ()) -> None:
        self.name = name
        self.pulse = pulse
        self.identity = NodeIdentity.from_seed(name.encode().ljust(32, b"."))
        (root / name).mkdir()
        self.ledger = NodeLedger(root / name, self.identity, build_catalog(), create=True)
        if holds:
            assert len(self.ledger.ingest([e.wire() for e in holds]).stored) == len(holds)
        self.access = StoreAccess()
        self.forks: list[tuple[Event, Event]] = []  # what on_fork was called with
        self.alerts: list[Event] = []  # the alerts it committed
        self.scope = trio.CancelScope()
        self.gossip: GossipService
        self.repl: _Watched

    @property
    def id(self) -> str:
        return self.identity.node_id

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.gossip.port}/hart"

    async def run(self, seeds: Sequence[Peer] = (), *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        settings = GossipSettings(network_key=NET, listen=(HOST, 0), advertise=(),
                                  seeds=tuple(s.url for s in seeds), overlay=full())
        self.gossip = GossipService(self.identity, settings, PeerTable(self.id, ttl_ms=600_000),
                                    rng=random.Random(self.name))
        committer = Committer(self.ledger, self.access, max_batch=16)
        with self.scope:
            async with trio.open_nursery() as nursery:

                async def alert(a: Event, b: Event) -> None:
                    self.alerts.append(await committer.append(equivocation_alert(a, b)))
                    self.pulse.fire()

                def on_fork(a: Event, b: Event) -> None:  # as node.py wires it
                    self.forks.append((a, b))
                    nursery.start_soon(alert, a, b)

                # No anti-entropy rounds: what happens here happens on link-up.
                self.repl = _Watched(self.pulse, self.gossip, self.ledger, self.access,
                                     round_interval=3600.0, on_fork=on_fork)
                committer.on_committed = self.repl.announce
                await nursery.start(committer.run)
                await nursery.start(self.gossip.run)
                await nursery.start(self.repl.run)
                task_status.started()

    async def fraud_alerts(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Rows of this node's ``fraud_alerts`` view: (node_id, reporter, evidence)."""
        rows = await self.access.run(lambda: self.ledger.views.state.execute(
            "SELECT node_id, reporter, evidence_json FROM fraud_alerts ORDER BY id").fetchall())
        return [(str(n), str(r), json.loads(str(e))) for n, r, e in rows]

    def refused(self) -> int:
        return self.repl.stats.rejected["forked_origin"]


def own_alert(peer: Peer, rows: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    [mine] = [evidence for node_id, reporter, evidence in rows
              if reporter == peer.id and node_id == FORKER.node_id]
    return mine


async def test_nodes_holding_two_branches_find_the_fork_and_a_late_node_learns_it(
        tmp_path: Path) -> None:
    pulse = Pulse()
    a = Peer(tmp_path, "a", pulse, holds=(E1, E2A))
    b = Peer(tmp_path, "b", pulse, holds=(E1, E2B))
    c = Peer(tmp_path, "c", pulse)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(a.run)
            await nursery.start(b.run, [a])
            await pulse.until("A and B both raised an alert", lambda: bool(a.alerts and b.alerts))
            for peer, mine in ((a, E2A), (b, E2B)):
                [(first, second)] = peer.forks  # once, though both found it and both spread it
                assert (first, second) == (mine, E2B if mine is E2A else E2A)
                assert peer.ledger.ledger.forked() == {FORKER.node_id: 2}
                assert peer.repl.stats.forks == 1
            # F's later events, pushed by B, are refused by A (and B holds them back too).
            b.repl.announce([E3A])
            await pulse.until("A refused F's seq 3", lambda: a.refused() == 1)
            assert b.ledger.ingest([E3A.wire()]).rejected == {"forked_origin": 1}

            a.scope.cancel()  # C can only ever be linked to B
            await nursery.start(c.run, [b])
            await pulse.until("C recorded the fork", lambda: c.repl.stats.forks == 1)
            assert c.gossip.neighbours() == {b.id}
            assert FORKER.node_id not in c.ledger.ledger.heads()  # it holds nothing of F
            assert c.repl.stats.forks == 1 and c.forks == []  # and raises no alert of its own
            assert c.repl.stats.alerts_withheld == 1
            b.repl.announce([E3A, E4A])
            await pulse.until("C refused F's seqs 3 and 4", lambda: c.refused() == 2)
            nursery.cancel_scope.cancel()
        assert {r for _, r, _ in await c.fraud_alerts()} <= {a.id, b.id}  # holders' alerts
        for peer in (a, b):  # each holder raised its own alert, naming both events
            evidence = own_alert(peer, await peer.fraud_alerts())
            assert evidence["seq"] == 2
            assert {evidence["hash_a"], evidence["hash_b"]} == {E2A.hash_hex, E2B.hash_hex}
        assert a.ledger.ingest([E4A.wire()]).rejected == {"forked_origin": 1}
        assert len(a.forks) == len(b.forks) == 1  # evidence seen again raised nothing new
    finally:
        for peer in (a, b, c):
            peer.ledger.close()


async def test_evidence_that_proves_nothing_raises_nothing_and_true_evidence_spreads_once(
        tmp_path: Path) -> None:
    pulse = Pulse()
    x = Peer(tmp_path, "x", pulse)  # sends evidence by hand
    y = Peer(tmp_path, "y", pulse, holds=(E1,))  # Y and Z hold F's feed: they raise alerts
    z = Peer(tmp_path, "z", pulse, holds=(E1,))
    other = NodeIdentity.from_seed(b"other".ljust(32, b"."))
    bad = [
        ForkEvidence(FeedEvent(*E2A.wire()), FeedEvent(*E2A.wire())),  # no fork
        fork_evidence(E2A.wire(), E3A.wire()),  # two seqs
        fork_evidence(E2A.wire(), (E2B.wire()[0], other.sign(E2B.hash))),  # forged
        fork_evidence(E2A.wire(), note(2, E1, "x", other).wire()),  # two origins
        ForkEvidence(FeedEvent(*E2A.wire()), FeedEvent(E2B.wire()[0], bytes(63))),  # misshapen
    ]

    def refused(peer: Peer) -> int:
        return sum(n for r, n in peer.repl.stats.rejected.items() if r.startswith("evidence_"))

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(y.run)
            await nursery.start(x.run, [y])
            await nursery.start(z.run, [y])
            await pulse.until("Y is linked to X and Z",
                              lambda: {x.id, z.id} <= y.gossip.neighbours())
            for msg in bad:
                x.gossip.send(y.id, msg)  # over the link
                x.gossip.broadcast(wire.encode(msg))  # and by broadcast
            await pulse.until("Y refused all of it", lambda: refused(y) == 10)
            # Y relays none of it (nothing unverified is forwarded); Z can only
            # have it from X directly, if they were neighbours when X sent it.
            assert refused(z) <= 5
            assert dict(y.repl.stats.rejected) == {
                "evidence_malformed": 6, "evidence_bad_signature": 2, "evidence_bad_field": 2}
            # A broadcast is delivered to its sender too: X refused its own as well.
            for peer in (x, y, z):
                assert peer.forks == [] and peer.ledger.ledger.forked() == {}

            # True evidence, over the link to Y only: Y records it and spreads it.
            good = fork_evidence(E2A.wire(), E2B.wire())
            x.gossip.send(y.id, good)
            await pulse.until("Y and Z raised an alert", lambda: bool(y.alerts and z.alerts))
            known = y.repl.stats.evidence_known
            x.gossip.send(y.id, good)  # the same proof again
            await pulse.until("Y saw it again", lambda: y.repl.stats.evidence_known > known)
            for peer in (y, z):
                assert len(peer.forks) == 1 and peer.repl.stats.forks == 1
                assert peer.ledger.ledger.forked() == {FORKER.node_id: 2}
            nursery.cancel_scope.cancel()
        for peer in (y, z):  # one alert of its own each (others' alerts replicate in too)
            rows = await peer.fraud_alerts()
            assert [(n, r) for n, r, _ in rows if r == peer.id] == [(FORKER.node_id, peer.id)]
    finally:
        for peer in (x, y, z):
            peer.ledger.close()
