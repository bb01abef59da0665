"""The replication core owns its protocol (issue #9.2): heads, forks, evidence on
link-up, push verdicts and feed confirmation are decided in ``Replicator`` (messages
and ``now`` in, effects out); the shells only carry the effects out."""

from __future__ import annotations

import random
from pathlib import Path

import trio

from hartnode.catalog import build_catalog
from hartnode.gossip.hyparview import Send
from hartnode.gossip.overlay_config import full
from hartnode.gossip.peer_record import PeerTable
from hartnode.gossip.service import GossipService, GossipSettings
from hartnode.identity import NodeIdentity
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import Event, sign_event
from hartnode.ledger.items import Draft, Head, IngestResult
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.replication.core import (
    ConfirmFeed,
    Heads,
    HeadsDigest,
    HeadsRequest,
    RaiseAlert,
    Replicator,
    SendEvidence,
    Spread,
    heads_digest,
)
from hartnode.replication.fork_evidence import ALERT_BURST, EvidenceGate, fork_evidence
from hartnode.replication.service import ReplicationService

from .helpers import next_round

FORKER = NodeIdentity.from_seed(b"forker".ljust(32, b"."))
PEER = "e" * 64


def event(seq: int, text: str, identity: NodeIdentity = FORKER) -> Event:
    return sign_event(identity, seq=seq, prev=None if seq == 1 else "00" * 32, ts_ms=seq,
                      actor="node", kind="note.created", scope="system", reach="network",
                      payload={"text": text}, provenance={})


def test_the_core_keeps_the_heads_it_is_told_and_they_only_move_up() -> None:
    core = Replicator()
    a, b = "a" * 64, "b" * 64
    core.load({a: Head(3, b"3" * 32)})
    core.appended([event(1, "own")])
    core.stored(IngestResult(heads={a: Head(5, b"5" * 32), b: Head(1, b"1" * 32)}), now=0.0)
    core.load({a: Head(4, b"4" * 32)})  # an older copy of the ledger's heads changes nothing
    assert core.heads == {a: Head(5, b"5" * 32), b: Head(1, b"1" * 32),
                          FORKER.node_id: Head(1, event(1, "own").hash)}
    # With no heads passed, the core answers from its own.
    core.on_link_up(PEER)
    [digest] = [e.msg for e in next_round(core) if isinstance(e, Send)]
    assert digest == heads_digest(core.heads)
    assert core.on_message(PEER, digest) == [ConfirmFeed()]  # in step with a neighbour


def test_feed_confirmation_is_said_once_and_only_when_nothing_is_left_to_pull() -> None:
    core = Replicator()
    core.on_link_up(PEER)
    raw = bytes.fromhex("a" * 64)
    pulling = core.on_message(PEER, Heads((raw,), (3,)))  # they have more: not in step yet
    assert not any(isinstance(e, ConfirmFeed) for e in pulling) and core.pulling(PEER)
    core.heads["a" * 64] = 3
    assert core.on_ingested(PEER, "a" * 64, 0) == [ConfirmFeed()]
    assert core.on_message(PEER, heads_digest({})) == [Send(PEER, HeadsRequest((10,)))]
    assert core.on_message(PEER, heads_digest(core.heads)) == []  # said once


def test_a_fork_is_marked_alerted_within_the_budget_and_always_spread() -> None:
    core = Replicator(gate=EvidenceGate())
    a, b = event(1, "A"), event(1, "B")
    effects = core.stored(IngestResult(equivocations=[(a, b)]), now=0.0)
    assert effects == [RaiseAlert(a, b), Spread(fork_evidence(a.wire(), b.wire()),
                                                "fork_detected", a.origin, 1)]
    assert a.origin in core.forked and core.forks_found == 1
    # Proven by a peer for a feed this node never held: recorded and spread, no alert.
    c, d = event(1, "C", NodeIdentity.from_seed(b"x" * 32)), event(
        1, "D", NodeIdentity.from_seed(b"x" * 32))
    assert [type(e) for e in core.fork(c, d, held=False, how="fork_proven", now=0.0)] == [Spread]
    # The alert budget: ALERT_BURST at once, then none until it refills.
    for i in range(ALERT_BURST + 2):
        ident = NodeIdentity.from_seed(bytes([i + 1]) * 32)
        core.fork(event(1, "e", ident), event(1, "f", ident), held=True, how="fork_detected",
                  now=1.0)
    assert core.gate.alerts_withheld == 1 + 3  # the unheld one, and three beyond the budget


def test_a_new_neighbour_gets_the_evidence_before_the_digest() -> None:
    core = Replicator()
    assert [type(e) for e in core.on_link_up(PEER, {})] == [Send]
    core.mark_forked(FORKER.node_id)
    effects = core.on_link_up(PEER, {})
    assert effects[0] == SendEvidence(PEER) and isinstance(effects[1], Send)
    assert isinstance(effects[1].msg, HeadsDigest)


def test_push_verdict_relays_only_what_was_all_taken() -> None:
    assert Replicator.push_verdict(IngestResult(duplicates=2))
    refused = IngestResult()
    refused.rejected["bad_signature"] += 1
    assert not Replicator.push_verdict(refused)


async def test_the_daemon_shell_reads_the_heads_on_link_up_not_per_message(
        tmp_path: Path) -> None:
    identity = NodeIdentity.from_seed(b"shell".ljust(32, b"."))
    ledger = NodeLedger(tmp_path, identity, build_catalog(), create=True)
    ledger.append([Draft("note.created", {"text": "one"})])
    reads = 0
    head_map = ledger.ledger.head_map

    def counted() -> dict[str, Head]:
        nonlocal reads
        reads += 1
        return head_map()

    ledger.ledger.head_map = counted  # type: ignore[method-assign]
    try:
        settings = GossipSettings(network_key=b"S" * 32, listen=("127.0.0.1", 0), advertise=(),
                                  seeds=(), overlay=full())
        gossip = GossipService(identity, settings, PeerTable(identity.node_id, ttl_ms=600_000),
                               rng=random.Random(1))
        service = ReplicationService(gossip, ledger, StoreAccess(), round_interval=3600.0)
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            await service._handle("up", PEER, None)
            at_link_up = reads
            theirs = heads_digest({"a" * 64: 1})
            for _ in range(20):
                await service._handle("msg", PEER, theirs)
                await service._handle("msg", PEER, HeadsRequest(tuple(range(16))))
            assert reads == at_link_up  # forty messages, no trip for the heads
            mine = heads_digest(head_map())
            await service._handle("msg", PEER, mine)
            assert service.feed_confirmed.is_set()  # the core said so; the shell carried it out
            nursery.cancel_scope.cancel()
    finally:
        ledger.close()
