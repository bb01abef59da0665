"""HierarchyService over real loopback gossip links, on trio's autojump clock.

Each node is a real GossipService (127.0.0.1, port 0) with a real ledger and
state database in a temp dir, and a certificate chain from a test master
key. Store calls run inline in the trio thread (``InlineAccess``), so virtual
time stands still while the database works and times can be asserted
exactly. Nothing sleeps for readiness: ``until`` re-checks its condition
whenever a service woke its pump (a parent linked, a child joined, an ack or
a stored push), within a virtual deadline.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import blake3
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
from hartnode.hierarchy.messages import HierarchyAck, HierarchyPush
from hartnode.hierarchy.service import HierarchyService, HierarchySettings
from hartnode.identity import NodeIdentity
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger

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
    """Announces every wake of its pump (the service's state changes) for ``until``;
    ``intercept`` (when set) sees each hierarchy message first and may take it."""

    changed: trio.Event
    intercept: Callable[[str, object], bool] | None = None

    def wake(self) -> None:
        super().wake()
        self.changed.set()
        self.changed = trio.Event()

    def _on_message(self, peer: str, msg: object) -> None:
        if self.intercept is None or not self.intercept(peer, msg):
            super()._on_message(peer, msg)


def chain_for(identity: NodeIdentity, tier: str, region: str) -> tuple[SignedCertificate, ...]:
    now = time.time_ns() // 1_000_000
    cert = issue_certificate(MASTER, serial=identity.node_id[:32], subject=identity.node_id,
                             tier=tier, region=region, not_before=now - 3_600_000,
                             not_after=now + 86_400_000, path_len=0, capabilities=())
    return (cert,)


class Node:
    def __init__(self, tmp: Path, name: str, tier: str, region: str, *,
                 parents: Sequence[str] = ()) -> None:
        self.name = name
        self.identity = NodeIdentity.from_seed(name.encode().ljust(32, b"."))
        (tmp / name).mkdir()
        self.ledger = NodeLedger(tmp / name, self.identity, CATALOG, create=True)
        chain = tuple(c.to_wire() for c in chain_for(self.identity, tier, region))
        settings = GossipSettings(network_key=NET, listen=(HOST, 0), advertise=(), seeds=(),
                                  overlay=full(), tier=tier, region=region, chain=chain)
        table = PeerTable(self.identity.node_id, ttl_ms=3_600_000,
                          master_public_key=MASTER.public_key)
        self.gossip = GossipService(self.identity, settings, table,
                                    trust=TrustState(MASTER.public_key))
        self.hier = _Watched(self.gossip, self.ledger, InlineAccess(),
                             HierarchySettings(tier, region, tuple(parents), retry_min=1.0,
                                               retry_max=8.0, ack_timeout=10.0),
                             clock_ms=lambda: int(trio.current_time() * 1000))
        self.hier.changed = trio.Event()
        self.scope = trio.CancelScope()

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
    regional = await Node(tmp_path, "r", "regional", "eu").start(nursery)
    local = await Node(tmp_path, "l", "local", "eu", parents=[regional.url]).start(nursery)
    up = local.append("for my parents")
    public = local.append("for everyone", reach="network")  # (replication's job, not run here)
    await until("the regional acknowledged the local's hierarchy event",
                lambda: local.queue().get(regional.id, {}).get("up", {}).get("acked") == 1,
                [local, regional])
    assert local.hier.parent == regional.id and regional.hier.children == {
        local.id: regional.hier.children[local.id]}
    assert regional.holds(up) and not regional.holds(public)  # only hierarchy is pushed
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
    regional = await Node(tmp_path, "r", "regional", "eu").start(nursery)
    local = await Node(tmp_path, "l", "local", "eu", parents=[regional.url]).start(nursery)
    pushes: list[float] = []
    enough = trio.Event()

    def refuse_six(peer: str, msg: object) -> bool:
        # The first six pushes find the regional unable to store anything.
        if len(pushes) == 6 or not isinstance(msg, HierarchyPush):
            return False
        pushes.append(trio.current_time())
        hashes = tuple(blake3.blake3(e.envelope).digest() for e in msg.events)
        regional.gossip.send(peer, HierarchyAck((), hashes, "not_stored"))
        if len(pushes) == 6:
            enough.set()
        return True

    regional.hier.intercept = refuse_six
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
    first = await Node(tmp_path, "r1", "regional", "eu").start(nursery)
    second = await Node(tmp_path, "r2", "regional", "eu").start(nursery)
    local = await Node(tmp_path, "l", "local", "eu",
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
    regional = await Node(tmp_path, "r", "regional", "eu").start(nursery)
    local = await Node(tmp_path, "l", "local", "us", parents=[regional.url]).start(nursery)
    local.append("for my parents")
    await trio.sleep(30)
    assert local.hier.parent is None and not regional.hier.children
    # Tried at 0, 1, 3, 7, 15 and 23 s (backoff 1, 2, 4, 8, 8 s): never spinning.
    assert regional.hier.stats.joins_refused == {"wrong_tier_or_region": 6}
    backoff = local.hier.choice.backoff(trio.current_time())
    assert backoff[regional.url]["reason"] == "wrong_tier_or_region"


async def test_a_child_whose_chain_a_revocation_list_breaks_is_dropped(
        tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    regional = await Node(tmp_path, "r", "regional", "eu").start(nursery)
    local = await Node(tmp_path, "l", "local", "eu", parents=[regional.url]).start(nursery)
    await until("the local joined", lambda: local.id in regional.hier.children,
                [local, regional])
    # The local's certificate (not its key) is revoked: it stays linked, but flat.
    revoked = sign_revocations(RevocationList.build(
        seq=1, issued_ms=time.time_ns() // 1_000_000, serials=[local.id[:32]]), MASTER)
    assert regional.gossip.take_revocations(RevocationListMessage(*revoked.to_wire()))
    regional.hier.recheck()  # what the node does after every new list
    assert local.id not in regional.hier.children
    assert regional.hier.role(local.id) is None  # replication serves it network events only
