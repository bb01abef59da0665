"""Links the gossip service keeps for other services (hierarchy parent/child links).

Membership closes a link it does not need (idle for ``neighbour_timeout``);
a kept link stays open until it is let go. Two nodes that dial each other at
once end with one link, the same on both sides. On the in-memory transport
(``hartnode.testing``), trio's autojump clock; kept links over real sockets
are exercised end to end by ``tests/hierarchy/test_processes.py``.
"""

from __future__ import annotations

import random

import trio
import trio.testing

from hartnode.gossip.overlay_config import full
from hartnode.gossip.peer_record import PeerTable
from hartnode.gossip.service import GossipService, GossipSettings
from hartnode.identity import NodeIdentity
from hartnode.testing.memory_transport import MemoryNetwork

NET = b"K" * 32
HOST = "127.0.0.1"


def service(net: MemoryNetwork, name: str) -> GossipService:
    identity = NodeIdentity.from_seed(name.encode().ljust(32, b"."))
    settings = GossipSettings(network_key=NET, listen=(HOST, 0), advertise=(), seeds=(),
                              overlay=full())
    return GossipService(identity, settings, PeerTable(identity.node_id, ttl_ms=600_000),
                         rng=random.Random(name), transport=net.transport())


def url(svc: GossipService) -> str:
    return f"ws://{HOST}:{svc.port}/hart"


async def test_an_unkept_idle_link_is_closed_a_kept_one_stays_until_let_go(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    a, b, c = service(net, "a"), service(net, "b"), service(net, "c")
    for svc in (a, b, c):
        await nursery.start(svc.run)
    assert await a.connect(url(b)) == b.node_id
    b.keep_link(a.node_id, True)  # what a parent does when the child joins
    assert await a.connect(url(c)) == c.node_id  # c does not keep it
    await trio.sleep(60)  # many keepalive rounds (10 s); links idle since the start
    assert a.has_link(b.node_id) and b.has_link(a.node_id)
    assert not a.has_link(c.node_id) and not c.has_link(a.node_id)  # c's side closed it
    assert b.node_id not in a.neighbours()  # kept outside the active view
    a.keep_link(b.node_id, False)
    b.keep_link(a.node_id, False)
    await trio.sleep(1)
    assert not a.has_link(b.node_id) and not b.has_link(a.node_id)


async def test_two_nodes_dialling_each_other_at_once_keep_one_link(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    a, b = service(net, "a"), service(net, "b")
    for svc in (a, b):
        await nursery.start(svc.run)
    ids: dict[str, str] = {}

    async def dial(src: GossipService, dst: GossipService) -> None:
        ids[src.node_id] = await src.connect(url(dst))

    async with trio.open_nursery() as both:
        both.start_soon(dial, a, b)
        both.start_soon(dial, b, a)
    assert ids == {a.node_id: b.node_id, b.node_id: a.node_id}
    await trio.sleep(60)
    assert a.link_count() == b.link_count() == 1
    assert a.has_link(b.node_id) and b.has_link(a.node_id)
    # Once more, now that a link exists: the known id is reused, nothing is dialled.
    assert await a.connect(url(b), expected=b.node_id) == b.node_id
    assert a.transport_stats.links_opened == 2  # the two crossing dials, no third


async def test_dialling_a_peer_that_already_dialled_us_keeps_one_link_on_both_ends(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    low, high = sorted((service(net, "a"), service(net, "b")), key=lambda s: s.node_id)
    for svc in (low, high):
        await nursery.start(svc.run)
    await high.connect(url(low))  # the link the higher id dialled exists ...
    await trio.sleep(1)
    await low.connect(url(high))  # ... when the lower id dials: its link wins on both ends
    await trio.sleep(60)
    assert low.has_link(high.node_id) and high.has_link(low.node_id)
    assert low.link_count() == high.link_count() == 1
