"""One chunker of event pushes (issue #9): replication's ``NewEvents``, the
simulator's and the link ``Push`` (the hierarchy's sync) are all cut by
``messages.chunk_events``, by count and by bytes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

from hartnode.catalog import build_catalog
from hartnode.gossip import wire
from hartnode.identity import NodeIdentity
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.items import Draft
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.replication.core import FeedEvent, NewEvents, Push
from hartnode.replication.messages import chunk_events, event_bytes
from hartnode.replication.service import (
    PUSH_MAX,
    PUSH_MAX_BYTES,
    ReplicationService,
    ReplicationStats,
)
from hartnode.testing.repsim import ReplicationApp, RepNode

from .test_replication_bounds import FEED


def test_chunks_keep_order_and_both_bounds_and_one_event_always_goes() -> None:
    events = [FeedEvent(b"e" * size, b"s" * 64) for size in (10, 500, 10, 10, 2000, 10)]
    chunks = chunk_events(events, lambda e: e, 2, 700)
    assert [e for c in chunks for e in c] == events  # nothing lost, nothing reordered
    assert all(len(c) <= 2 and (len(c) == 1 or sum(map(event_bytes, c)) <= 700)
               for c in chunks)
    assert [len(c) for c in chunks] == [2, 2, 1, 1]  # the 2 KB event goes alone
    assert chunk_events([], lambda e: e, 2, 700) == []


def test_the_simulator_cuts_its_pushes_as_the_daemon_does() -> None:
    """It cut by count only: a write of large events made pushes beyond PUSH_MAX_BYTES."""
    pushed: list[NewEvents] = []
    app = SimpleNamespace(_push=lambda node, msg: pushed.append(msg))
    ReplicationApp._announce(cast(ReplicationApp, app), cast(RepNode, None), FEED)
    assert [e for m in pushed for e in m.events] == [FeedEvent(*e.wire()) for e in FEED]
    for msg in pushed:
        assert len(msg.events) <= PUSH_MAX
        assert sum(map(event_bytes, msg.events)) <= PUSH_MAX_BYTES
        wire.encode(msg)


async def test_a_link_push_is_cut_like_a_broadcast_and_says_what_it_sent(
        tmp_path: Path) -> None:
    """The hierarchy's sync is replication's ``push``: more events than PUSH_MAX go in
    several ``Push`` messages, an id not held and an event the link may not carry
    that way stay unsent, and the hashes sent come back (the sync queue's rows)."""
    nl = NodeLedger(tmp_path, NodeIdentity.generate(), build_catalog(), create=True)
    n = PUSH_MAX + 44
    events = nl.append([Draft("note.created", {"text": f"n{i}"}, reach="hierarchy")
                        for i in range(n)])
    policy = nl.append([Draft("policy.notice.published", {"text": "down only"},
                              reach="hierarchy")])
    ids = ledger_ids(nl, [*events, *policy])
    sent: list[object] = []
    svc = SimpleNamespace(
        _role=lambda peer: "parent", node_ledger=nl, access=StoreAccess(),
        gossip=SimpleNamespace(send=lambda peer, msg: sent.append(msg) or True),
        stats=ReplicationStats())
    try:
        hashes = await ReplicationService.push(cast(ReplicationService, svc), "p" * 64,
                                               [*ids, 10_000])
    finally:
        nl.close()
    assert all(isinstance(m, Push) for m in sent)
    pushes = cast(list[Push], sent)
    assert [len(m.events) for m in pushes] == [PUSH_MAX, 44]
    assert [e for m in pushes for e in m.events] == [FeedEvent(*e.wire()) for e in events]
    assert hashes == {e.hash for e in events}  # not the policy event: it never goes up
    assert svc.stats.pushed == n


def ledger_ids(nl: NodeLedger, events: list[Event]) -> list[int]:
    """The ledger ids of ``events`` (appended in order, so consecutive)."""
    top = nl.ledger.max_id()
    return list(range(top - len(events) + 1, top + 1))
