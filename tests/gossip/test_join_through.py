"""``hartnode join`` at run time and the per-link figures ``hartnode peers`` shows.

``join_through`` is the bootstrap path with one contact: dial it, send it a
Join, and it becomes a neighbour on both ends. ``link_rows`` reports each
open link's traffic (sealed frame bytes, the same the other end counts) and
the round trip of the last membership Ping. Real loopback sockets, trio's
autojump clock.
"""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from hartnode.gossip.overlay_config import full
from hartnode.gossip.peer_record import PeerTable
from hartnode.gossip.service import GossipService, GossipSettings
from hartnode.gossip.transport import DialError
from hartnode.identity import NodeIdentity

NET = b"K" * 32
HOST = "127.0.0.1"


def service(name: str) -> GossipService:
    identity = NodeIdentity.from_seed(name.encode().ljust(32, b"."))
    settings = GossipSettings(network_key=NET, listen=(HOST, 0), advertise=(), seeds=(),
                              overlay=full())
    return GossipService(identity, settings, PeerTable(identity.node_id, ttl_ms=600_000),
                         rng=random.Random(name))


def url(svc: GossipService) -> str:
    return f"ws://{HOST}:{svc.port}/hart"


async def test_joining_through_a_url_makes_the_contact_a_neighbour_on_both_ends(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    a, b = service("a"), service("b")
    for svc in (a, b):
        await nursery.start(svc.run)
    await trio.sleep(5)  # both started alone (no seeds): no neighbours
    assert a.neighbours() == b.neighbours() == frozenset()
    assert await a.join_through(url(b)) == b.node_id
    await trio.sleep(1)
    assert a.neighbours() == {b.node_id} and b.neighbours() == {a.node_id}
    # Joining again through a linked peer reuses the link.
    assert await a.join_through(url(b)) == b.node_id
    await trio.sleep(1)
    assert a.link_count() == b.link_count() == 1
    assert a.neighbours() == {b.node_id}


async def test_a_join_that_cannot_work_says_why(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    a = service("a")
    await nursery.start(a.run)
    with pytest.raises(ValueError, match="not a ws://"):
        await a.join_through("http://example.org/")
    with pytest.raises(DialError, match="self_connection"):  # the handshake tells
        await a.join_through(url(a))
    closed = trio.socket.socket()
    await closed.bind((HOST, 0))
    port = closed.getsockname()[1]
    closed.close()  # a port nobody listens on
    with pytest.raises(DialError):
        await a.join_through(f"ws://{HOST}:{port}/hart")
    assert a.link_count() == 0


async def test_link_rows_count_the_bytes_the_other_end_counts_and_time_a_ping(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    a, b = service("a"), service("b")
    for svc in (a, b):
        await nursery.start(svc.run)
    await a.join_through(url(b))
    await trio.sleep(1)
    assert a.link_rows()[b.node_id]["rtt_ms"] is None  # no Ping yet: traffic proves liveness
    await trio.sleep(25)  # quiet for more than the 10 s keepalive: one end Pings
    rows_a, rows_b = a.link_rows()[b.node_id], b.link_rows()[a.node_id]
    # (the Ping is traffic, which spares the other end its own)
    assert [rows_a["rtt_ms"], rows_b["rtt_ms"]].count(None) == 1
    assert rows_a["up_s"] == rows_b["up_s"] == pytest.approx(26, abs=0.5)
    assert isinstance(rows_a["bytes_out"], int) and rows_a["bytes_out"] > 0
    assert rows_a["bytes_out"] == rows_b["bytes_in"]
    assert rows_b["bytes_out"] == rows_a["bytes_in"]
    assert sum(b.transport_stats.link_bytes.values()) == rows_b["bytes_in"] + rows_b["bytes_out"]


async def test_joins_in_quick_succession_each_make_a_neighbour(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    a, b, c = service("a"), service("b"), service("c")
    for svc in (a, b, c):
        await nursery.start(svc.run)
    await a.join_through(url(b))
    await a.join_through(url(c))  # at once: no rejoin backoff holds an operator's join back
    await trio.sleep(1)
    assert a.neighbours() == {b.node_id, c.node_id}
    assert a.node_id in b.neighbours() and a.node_id in c.neighbours()
