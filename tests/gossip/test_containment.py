"""Containment: whatever is raised while serving one peer ends that peer's link, and nothing else.

Three nodes on an in-memory network (``hartnode.testing.memory_transport``),
trio's autojump clock. Node ``a`` carries a registered service that raises at
one stage of a link's life, on behalf of the peer ``bad`` only: the link-up
callback, the dispatch of a registered message, the encoding of a message
queued for it, the transport's send, the broadcast verdict, the link-down
callback. Each test shows the failure counted by its stage, ``a``'s link to
``bad`` ended, and ``a`` and ``b`` still exchanging broadcasts afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import trio
import trio.testing

from hartnode.gossip import wire
from hartnode.gossip.link_service import LinkService, ServiceConflict
from hartnode.gossip.links import Connection
from hartnode.gossip.plumtree import Gossip
from hartnode.gossip.transport import TransportConfig, TransportStats
from hartnode.identity import NodeIdentity
from hartnode.testing.memory_transport import MemoryNetwork, MemoryTransport

from .test_service import Node, Note, until


@wire.register(65210)
@dataclass(frozen=True, slots=True)
class Poke:
    """A message the test service claims on links."""

    text: str


@wire.register(65211)
@dataclass(frozen=True, slots=True)
class Blob:
    """A message that may be made larger than a frame."""

    data: bytes


class Boom(Exception):
    """What the faulty service raises."""


async def overlay(nursery: trio.Nursery, net: MemoryNetwork, service: LinkService | None = None,
                  ) -> tuple[Node, Node, Node]:
    a = Node("a", net=net)
    if service is not None:
        a.svc.register(service)
    await a.start(nursery)
    b = await Node("b", seeds=[a.url], net=net).start(nursery)
    bad = await Node("bad", seeds=[a.url], net=net).start(nursery)
    await until("a linked to b and bad", lambda: {b.id, bad.id} <= set(a.links()), [a, b, bad])
    return a, b, bad


async def still_talking(a: Node, b: Node, bad: Node, old: Any = None) -> None:
    """``a``'s link ``old`` to ``bad`` ended (bad may link again), and ``a`` and ``b``
    go on exchanging broadcasts."""
    if old is not None:
        await until("a's link to bad ended", lambda: (
            old.conn.closed is not None and a.links().get(bad.id) is not old), [a, b, bad])
    a.say("from a, after")
    b.say("from b, after")
    await until("a and b still exchange broadcasts", lambda: (
        b.texts()["from a, after"] == 1 and a.texts()["from b, after"] == 1), [a, b, bad])
    assert b.id in a.links()


async def test_a_link_up_callback_that_raises_ends_only_that_link(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    bad_id = NodeIdentity.from_seed(b"bad".ljust(32, b".")).node_id

    def on_link(peer: str, up: bool) -> None:
        if up and peer == bad_id:
            raise Boom("link up")

    a = Node("a", net=net)
    a.svc.register(LinkService("faulty", on_link=on_link))
    await a.start(nursery)
    b = await Node("b", seeds=[a.url], net=net).start(nursery)
    await until("a linked to b", lambda: b.id in a.links(), [a, b])
    bad = await Node("bad", seeds=[a.url], net=net).start(nursery)
    await until("a's link-up for bad failed", lambda: a.svc.stats.links_dropped["link_up"] >= 1,
                [a, b, bad])
    await still_talking(a, b, bad)


async def test_a_handler_that_raises_ends_only_that_link(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    got: list[str] = []

    def on_message(peer: str, msg: object) -> None:
        assert isinstance(msg, Poke)
        got.append(msg.text)
        if msg.text == "boom":
            raise KeyError(msg.text)  # a bug in the service, not the peer's protocol error

    a, b, bad = await overlay(nursery, net, LinkService(
        "faulty", message_types=frozenset({Poke}), on_message=on_message))
    old = a.links()[bad.id]
    assert bad.svc.send(a.id, Poke("boom"))
    await until("a's handler raised", lambda: a.svc.stats.links_dropped["dispatch"] == 1,
                [a, b, bad])
    await still_talking(a, b, bad, old)
    assert b.svc.send(a.id, Poke("fine"))
    await until("b's poke handled", lambda: got == ["boom", "fine"], [a, b, bad])


async def test_a_message_too_large_to_encode_ends_only_its_link(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    a, b, bad = await overlay(nursery, net)
    # A reply made for bad that no frame can carry (issue #8: a Batch of large events).
    old = a.links()[bad.id]
    assert not a.svc.send(bad.id, Blob(b"x" * (2 << 20)))
    assert a.svc.stats.links_dropped["encode"] == 1
    await still_talking(a, b, bad, old)


class _FailingSends:
    """A connection whose sends raise (a transport bug) once armed."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.remote_node_id = conn.remote_node_id
        self.armed = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)

    async def send_encoded(self, data: bytes) -> None:
        if self.armed:
            raise Boom("send")
        await self._conn.send_encoded(data)


class _FaultyTransport(MemoryTransport):
    """Hands inbound links from ``victim`` to the handler wrapped in ``_FailingSends``."""

    def __init__(self, net: MemoryNetwork, victim: str) -> None:
        super().__init__(net)
        self.victim = victim
        self.wrapped: list[_FailingSends] = []

    async def serve(self, identity: NodeIdentity, network_key: bytes,
                    handler: Callable[[Connection], Awaitable[None]], *,
                    config: TransportConfig, stats: TransportStats,
                    priority: Callable[[str], bool] | None = None,
                    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        async def wrapping(conn: Connection) -> None:
            if conn.remote_node_id == self.victim:
                failing = _FailingSends(conn)
                self.wrapped.append(failing)
                conn = failing  # type: ignore[assignment]
            await handler(conn)

        await super().serve(identity, network_key, wrapping, config=config, stats=stats,
                            priority=priority, task_status=task_status)


async def test_a_send_that_raises_ends_only_that_link(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    bad_id = NodeIdentity.from_seed(b"bad".ljust(32, b".")).node_id
    faulty = _FaultyTransport(net, bad_id)
    a = Node("a", net=net)
    a.svc.transport = faulty
    await a.start(nursery)
    b = await Node("b", seeds=[a.url], net=net).start(nursery)
    bad = await Node("bad", seeds=[a.url], net=net).start(nursery)
    await until("a linked to b and bad", lambda: {b.id, bad.id} <= set(a.links()), [a, b, bad])
    old = a.links()[bad.id]
    for conn in faulty.wrapped:
        conn.armed = True
    a.say("to everyone")  # its send to bad raises in a's sender task
    await until("a's send to bad failed", lambda: a.svc.stats.links_dropped["send"] >= 1,
                [a, b, bad])
    await still_talking(a, b, bad, old)


async def test_a_broadcast_verdict_that_raises_ends_only_the_senders_link(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    a, b, bad = await overlay(nursery, net)

    def judge(note: Note) -> bool:
        if note.text == "boom":
            raise Boom("verdict")
        return True

    a.judge = judge
    old = a.links()[bad.id]
    # Straight to a, so a is judging a payload it got from bad's link.
    assert bad.svc.send(a.id, Gossip(b"boom-id".ljust(16, b"."), 1,
                                     wire.encode(Note("bad", "boom"))))
    await until("a's verdict raised", lambda: a.svc.stats.links_dropped["broadcast"] == 1,
                [a, b, bad])
    await still_talking(a, b, bad, old)
    assert b.texts()["boom"] == 0  # never relayed by a


async def test_a_link_down_callback_that_raises_disturbs_no_one(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    downs: list[str] = []

    def failing(peer: str, up: bool) -> None:
        if not up:
            raise Boom("link down")

    a = Node("a", net=net)
    a.svc.register(LinkService("faulty", on_link=failing))
    a.svc.register(LinkService("after it", on_link=lambda p, up: None if up else downs.append(p)))
    await a.start(nursery)
    b = await Node("b", seeds=[a.url], net=net).start(nursery)
    bad = await Node("bad", seeds=[a.url], net=net).start(nursery)
    await until("a linked to b and bad", lambda: {b.id, bad.id} <= set(a.links()), [a, b, bad])
    old = a.links()[bad.id]
    a.svc.close_link(bad.id, "test")
    await until("a's link-down callback raised",
                lambda: a.svc.stats.links_dropped["link_down"] >= 1, [a, b, bad])
    assert bad.id in downs  # the next service still heard of it
    await still_talking(a, b, bad, old)


def test_a_message_type_is_claimed_by_one_service_only() -> None:
    node = Node("a", net=MemoryNetwork())
    node.svc.register(LinkService("one", message_types=frozenset({Poke}),
                                  on_message=lambda peer, msg: None))
    with pytest.raises(ServiceConflict, match="Poke is claimed by one"):
        node.svc.register(LinkService("two", message_types=frozenset({Poke}),
                                      on_message=lambda peer, msg: None))
    with pytest.raises(ServiceConflict, match="Note is claimed by notes"):
        node.svc.register(LinkService("two", broadcast_types=frozenset({Note}),
                                      on_broadcast=lambda payload, msg_id: True))
    with pytest.raises(ServiceConflict, match="Gossip is claimed by the overlay"):
        node.svc.register(LinkService("two", message_types=frozenset({Gossip}),
                                      on_message=lambda peer, msg: None))
