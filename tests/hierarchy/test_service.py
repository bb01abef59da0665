"""HierarchyService with replication over in-memory gossip links, on trio's autojump clock.

Each node is a real GossipService on one ``MemoryNetwork`` (no sockets; the
real-socket end-to-end case is ``test_processes.py``), with a real
ReplicationService, a real ledger and state database in a temp dir, and a
certificate chain from a test master key. The hierarchy syncs by
replication's push (``Push``/``Held``), as in the daemon. Store calls run
inline in the trio thread (``InlineAccess``), so virtual time stands still
while the database works and times can be asserted exactly. Nothing sleeps
for readiness: ``until`` re-checks its condition whenever a service woke its
pump (a parent linked, a child joined, an ack or a stored push), within a
virtual deadline. A faulty peer is the network's ``tap``, not an override.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
import trio.testing

from hartnode.attestation.certificate import SignedCertificate, issue_certificate
from hartnode.attestation.revocation import RevocationList, sign_revocations
from hartnode.catalog import build_catalog
from hartnode.gossip.overlay_config import full
from hartnode.gossip.peer_record import PeerTable
from hartnode.gossip.service import GossipService, GossipSettings
from hartnode.gossip.trust import RevocationListMessage, TrustState
from hartnode.hierarchy.messages import HierarchyWelcome
from hartnode.hierarchy.service import HierarchyService, HierarchySettings
from hartnode.identity import NodeIdentity
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.items import IngestResult
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.replication.messages import Batch, FeedEvent, Held, Push
from hartnode.replication.service import ReplicationService
from hartnode.testing.memory_transport import MemoryNetwork

NET = b"H" * 32
HOST = "127.0.0.1"
CATALOG = build_catalog()
MASTER = NodeIdentity.from_seed(b"master".ljust(32, b"."))
T = TypeVar("T")


class InlineAccess(StoreAccess):
    """Store calls in the trio thread: the virtual clock cannot move during one."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        await trio.lowlevel.checkpoint()
        return fn(*args)


class _Watched(HierarchyService):
    """Announces every wake of its pump (the service's state changes) for ``until``."""

    changed: trio.Event

    def wake(self) -> None:
        super().wake()
        self.changed.set()
        self.changed = trio.Event()


def chain_for(identity: NodeIdentity, tier: str, region: str) -> tuple[SignedCertificate, ...]:
    now = time.time_ns() // 1_000_000
    cert = issue_certificate(MASTER, serial=identity.node_id[:32], subject=identity.node_id,
                             tier=tier, region=region, not_before=now - 3_600_000,
                             not_after=now + 86_400_000, path_len=0, capabilities=())
    return (cert,)


class Node:
    def __init__(self, net: MemoryNetwork, tmp: Path, name: str, tier: str, region: str, *,
                 parents: Sequence[str] = ()) -> None:
        self.name = name
        self.identity = NodeIdentity.from_seed(name.encode().ljust(32, b"."))
        (tmp / name).mkdir()
        self.ledger = NodeLedger(tmp / name, self.identity, CATALOG, create=True)
        chain = (() if tier == "flat"
                 else tuple(c.to_wire() for c in chain_for(self.identity, tier, region)))
        settings = GossipSettings(network_key=NET, listen=(HOST, 0), advertise=(), seeds=(),
                                  overlay=full(), tier=tier, region=region, chain=chain)
        table = PeerTable(self.identity.node_id, ttl_ms=3_600_000,
                          master_public_key=MASTER.public_key)
        self.gossip = GossipService(self.identity, settings, table,
                                    trust=TrustState(MASTER.public_key), transport=net.transport())
        access = InlineAccess()
        # As the node wires it: a stored ingest may owe the parent (or children) a push.
        self.replication = ReplicationService(self.gossip, self.ledger, access,
                                              on_ingested=self._ingested)
        self.hier = _Watched(self.gossip, self.replication, self.ledger, access,
                             HierarchySettings(tier, region, tuple(parents), retry_min=1.0,
                                               retry_max=8.0, ack_timeout=10.0),
                             clock_ms=lambda: int(trio.current_time() * 1000))
        self.hier.changed = trio.Event()
        self.scope = trio.CancelScope()

    def _ingested(self, result: IngestResult) -> None:
        if result.stored:
            self.hier.wake()

    @property
    def id(self) -> str:
        return self.identity.node_id

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.gossip.port}/hart"

    async def start(self, nursery: trio.Nursery) -> Node:
        await nursery.start(self._run)
        return self

    async def _run(self, *, task_status: trio.TaskStatus[None]) -> None:
        with self.scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.gossip.run)
                await nursery.start(self.replication.run)
                await nursery.start(self.hier.run)
                task_status.started()
        self.ledger.close()

    def append(self, text: str, reach: str = "hierarchy",
               kind: str = "note.created") -> Event:
        (event,) = self.ledger.append([Draft(kind, {"text": text}, reach=reach)])
        self.hier.wake()
        return event

    def holds(self, event: Event) -> bool:
        return bool(self.ledger.ledger.feed(event.origin, event.seq, 1)
                    and self.ledger.ledger.feed(event.origin, event.seq, 1)[0].hash == event.hash)

    def queue(self) -> dict[str, dict[str, dict[str, int]]]:
        return self.hier.queue.summary()


async def until(what: str, cond: Callable[[], bool], nodes: Sequence[Node],
                timeout: float = 60.0) -> None:
    """Wait, in virtual time, until ``cond()`` holds; re-checked on every wake of ``nodes``."""

    async def woken(event: trio.Event, scope: trio.CancelScope) -> None:
        await event.wait()
        scope.cancel()

    with trio.move_on_after(timeout) as deadline:
        while not cond():
            events = [n.hier.changed for n in nodes]
            async with trio.open_nursery() as nursery:
                for event in events:
                    nursery.start_soon(woken, event, nursery.cancel_scope)
    if deadline.cancelled_caught:
        pytest.fail(f"not within {timeout} virtual s: {what}; "
                    f"{[(n.name, n.hier.parent, n.hier.stats, n.queue()) for n in nodes]}")


async def test_a_local_joins_its_configured_regional_and_its_event_is_acknowledged(
        tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    regional = await Node(net, tmp_path, "r", "regional", "eu").start(nursery)
    local = await Node(net, tmp_path, "l", "local", "eu", parents=[regional.url]).start(nursery)
    up = local.append("for my parents")
    public = local.append("for everyone", reach="network")  # anti-entropy's, never queued
    await until("the regional acknowledged the local's hierarchy event",
                lambda: local.queue().get(regional.id, {}).get("up", {}).get("acked") == 1,
                [local, regional])
    assert local.hier.parent == regional.id and regional.hier.children == {
        local.id: regional.hier.children[local.id]}
    assert regional.holds(up)
    # Only the hierarchy event was queued and pushed; the public one came by a pull.
    assert local.queue()[regional.id] == {"up": {"pending": 0, "in_flight": 0, "acked": 1}}
    await until("the regional pulled the public event", lambda: regional.holds(public),
                [local, regional])
    # A notice from above comes down; the local's own events never come back down.
    notice = regional.append("policy for my subtree", kind="policy.notice.published")
    await until("the local acknowledged the notice", lambda: regional.queue().get(
        local.id, {}).get("down", {}).get("acked") == 1, [local, regional])
    assert local.holds(notice)
    assert set(regional.queue()) == {local.id} and set(local.queue()) == {regional.id}

    # The link stays, though membership let go of it long ago (idle after 5 s).
    await trio.sleep(120)
    assert local.gossip.has_link(regional.id) and regional.gossip.has_link(local.id)
    assert local.hier.stats.failovers == 0 and local.hier.parent == regional.id
    assert regional.id not in local.gossip.neighbours()  # not in the active view


async def test_a_refused_push_is_retried_with_exponential_backoff_at_exact_times(
        tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    regional = await Node(net, tmp_path, "r", "regional", "eu").start(nursery)
    local = await Node(net, tmp_path, "l", "local", "eu", parents=[regional.url]).start(nursery)
    pushes: list[float] = []
    enough = trio.Event()

    def refuse_six(sender: str, receiver: str, msg: object) -> object | None:
        # The regional's first six answers say it could not store anything.
        if len(pushes) == 6 or not isinstance(msg, Held) or sender != regional.id:
            return msg
        pushes.append(trio.current_time())
        if len(pushes) == 6:
            enough.set()
        return Held((), msg.acked + msg.refused, "not_stored")

    net.tap = refuse_six
    event = local.append("for my parents")
    with trio.fail_after(100):
        await enough.wait()
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(pushes)]
    assert gaps == [1.0, 2.0, 4.0, 8.0, 8.0]  # retry_min doubling to retry_max
    await until("the seventh push is stored and acknowledged", lambda: local.queue().get(
        regional.id, {}).get("up", {}).get("acked") == 1, [local, regional])
    assert regional.holds(event)
    assert local.hier.queue.rows(regional.id)[0].attempts == 7


async def test_a_lost_parent_is_replaced_by_the_next_and_nothing_is_lost(
        tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    first = await Node(net, tmp_path, "r1", "regional", "eu").start(nursery)
    second = await Node(net, tmp_path, "r2", "regional", "eu").start(nursery)
    local = await Node(net, tmp_path, "l", "local", "eu",
                       parents=[first.url, second.url]).start(nursery)
    e1 = local.append("one")
    await until("the first regional acknowledged", lambda: local.queue().get(
        first.id, {}).get("up", {}).get("acked") == 1, [local, first])
    first.scope.cancel()  # it dies
    lost_at = trio.current_time()
    e2 = local.append("two")
    await until("the second regional is the parent", lambda: local.hier.parent == second.id,
                [local, second])
    assert trio.current_time() - lost_at < 1.0  # at once, not after a backoff
    await until("the second regional acknowledged both events", lambda: local.queue().get(
        second.id, {}).get("up", {}).get("acked") == 2, [local, second])
    assert second.holds(e1) and second.holds(e2)
    assert local.hier.stats.failovers == 1
    # Per parent: the first acknowledged e1 only; the second got everything again.
    summary = local.queue()
    assert summary[second.id]["up"]["acked"] == 2
    assert summary[first.id]["up"]["acked"] == 1


async def test_a_regional_refuses_a_local_of_another_region(
        tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    regional = await Node(net, tmp_path, "r", "regional", "eu").start(nursery)
    local = await Node(net, tmp_path, "l", "local", "us", parents=[regional.url]).start(nursery)
    local.append("for my parents")
    await trio.sleep(30)
    assert local.hier.parent is None and not regional.hier.children
    # Tried at 0, 1, 3, 7, 15 and 23 s (backoff 1, 2, 4, 8, 8 s): never spinning.
    assert regional.hier.stats.joins_refused == {"wrong_tier_or_region": 6}
    backoff = local.hier.choice.backoff(trio.current_time())
    assert backoff[regional.url]["reason"] == "wrong_tier_or_region"


async def test_a_child_whose_chain_a_revocation_list_breaks_is_dropped(
        tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    regional = await Node(net, tmp_path, "r", "regional", "eu").start(nursery)
    local = await Node(net, tmp_path, "l", "local", "eu", parents=[regional.url]).start(nursery)
    await until("the local joined", lambda: local.id in regional.hier.children,
                [local, regional])
    # The local's certificate (not its key) is revoked: it stays linked, but flat.
    revoked = sign_revocations(RevocationList.build(
        seq=1, issued_ms=time.time_ns() // 1_000_000, serials=[local.id[:32]]), MASTER)
    assert regional.gossip.take_revocations(RevocationListMessage(*revoked.to_wire()))
    regional.hier.recheck()  # what the node does after every new list
    assert local.id not in regional.hier.children
    assert regional.hier.role(local.id) is None  # replication serves it network events only


async def test_an_event_a_link_may_not_carry_that_way_is_refused_on_receipt(
        tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    """Direction is checked by the receiver too: a child pushing policy up, a parent
    pushing a non-policy event down, each is refused at ingest (``wrong_direction``)
    and the push is answered so; a flat peer may not push at all (``not_linked``),
    and a ``hierarchy`` event it sends another way (a Batch) is refused at ingest."""
    net = MemoryNetwork()
    regional = await Node(net, tmp_path, "r", "regional", "eu").start(nursery)
    local = await Node(net, tmp_path, "l", "local", "eu", parents=[regional.url]).start(nursery)
    flat = await Node(net, tmp_path, "f", "flat", "").start(nursery)
    await until("the local joined", lambda: local.hier.parent == regional.id,
                [local, regional])
    answers: dict[tuple[str, str], Held] = {}  # (sender, receiver) -> its answer
    net.tap = lambda sender, receiver, msg: (
        answers.setdefault((sender, receiver), msg) if isinstance(msg, Held) else msg)
    await flat.gossip.connect(regional.url, expected=regional.id)

    # Each node appends an event its own pump would never send that way, and
    # pushes it anyway, as a faulty or lying peer would.
    up_policy = local.append("policy from below", kind="policy.notice.published")
    down_note = regional.append("a regional's own hierarchy note")
    flat_note = flat.append("a flat node's hierarchy note")
    for sender, receiver, event in ((local, regional, up_policy), (regional, local, down_note),
                                    (flat, regional, flat_note)):
        assert sender.gossip.send(receiver.id, Push((FeedEvent(*event.wire()),)))
    await until("three answers", lambda: len(answers) == 3, [local, regional, flat])

    assert answers == {
        (regional.id, local.id): Held((), (up_policy.hash,), "wrong_direction"),
        (local.id, regional.id): Held((), (down_note.hash,), "wrong_direction"),
        (regional.id, flat.id): Held((), (flat_note.hash,), "not_linked")}
    assert not regional.holds(up_policy) and not local.holds(down_note)
    assert local.hier.stats.refused == {"wrong_direction": 1}
    assert regional.replication.stats.rejected["not_linked"] == 1

    # The flat node's event as an answer to a pull (unasked): verified, then refused.
    # A push after it is answered once the regional is past the batch (one inbox, in order).
    assert flat.gossip.send(regional.id, Batch(bytes.fromhex(flat.id),
                                               (FeedEvent(*flat_note.wire()),), ()))
    assert flat.gossip.send(regional.id, Push((FeedEvent(*flat_note.wire()),)))
    await until("the second push answered", lambda: flat.hier.stats.refused == {
        "not_linked": 2}, [local, regional, flat])
    assert regional.replication.stats.rejected["wrong_direction"] == 2
    assert not regional.holds(flat_note)
    assert local.replication.stats.rejected["wrong_direction"] == 1


async def test_a_lost_welcome_is_asked_again_on_the_same_link_not_failed_over(
        tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    """As when two nodes dial each other at once and the Welcome goes out on the
    link the gossip service then closes: the child joins again, once, and keeps
    the parent it named first."""
    net = MemoryNetwork()
    regional = await Node(net, tmp_path, "r", "regional", "eu").start(nursery)
    lost: list[float] = []

    def lose_first_welcome(sender: str, receiver: str, msg: object) -> object | None:
        if isinstance(msg, HierarchyWelcome) and not lost:
            lost.append(trio.current_time())
            return None
        return msg

    net.tap = lose_first_welcome
    start = trio.current_time()
    local = await Node(net, tmp_path, "l", "local", "eu", parents=[regional.url]).start(nursery)
    await until("the local joined", lambda: local.hier.parent == regional.id, [local, regional])
    assert len(lost) == 1
    assert trio.current_time() - start == 10.0  # one ack_timeout, then the second Join
    assert local.hier.choice.backoff(trio.current_time()) == {}
    assert list(regional.hier.children) == [local.id]
