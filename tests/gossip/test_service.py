"""GossipService, several in one trio run: on the in-memory transport, and on sockets
where the test is about what a socket carries.

Each test starts real ``GossipService`` instances and drives them only through
what a node does: seeds, broadcast, and peers that dial to misbehave. Most run
on one ``MemoryNetwork`` (``hartnode.testing``: no sockets, every message
encoded and decoded with the wire's limits); the ones about bytes no node
would send (garbage frames through a hand-made handshake) and about socket
buffers (a paced publisher) run on real loopback sockets (127.0.0.1, port 0).

Nothing sleeps for readiness. ``until`` re-checks a condition each time one
of the services handled a message, a link or a timer (it waits on
``GossipService.changes()``, the public seam for observers), within a
deadline. The tests run on trio's autojump clock: a link delivers as soon as
it is written, so the clock only jumps when every service is idle, and times
can be asserted exactly in virtual seconds.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

from hartnode.gossip import transport, wire
from hartnode.gossip.handshake import Initiator
from hartnode.gossip.hyparview import Join, PeerInfo
from hartnode.gossip.links import Connection
from hartnode.gossip.overlay_config import OverlayConfig, full
from hartnode.gossip.peer_record import (
    PeerRecordMessage,
    PeerTable,
)
from hartnode.gossip.plumtree import Gossip
from hartnode.gossip.secretbox import FrameSealer
from hartnode.gossip.service import BOOTSTRAP_BACKOFF, GossipService, GossipSettings, LinkService
from hartnode.identity import NodeIdentity
from hartnode.testing.memory_transport import MemoryNetwork

NET = b"T" * 32
HOST = "127.0.0.1"
REAL_TIME_LIMIT_S = 30.0


@wire.register(65200)
@dataclass(frozen=True, slots=True)
class Note:
    """The application payload these tests broadcast (a registered wire message)."""

    origin: str
    text: str


def identity(name: str) -> NodeIdentity:
    return NodeIdentity.from_seed(name.encode().ljust(32, b"."))


async def dial(net: MemoryNetwork, nursery: trio.Nursery, port: int,
               who: NodeIdentity) -> Connection:
    """A raw link to the node on ``port``, as ``who``: a peer that may send anything."""
    return await net.transport().dial(nursery, HOST, port, who, NET,
                                      config=transport.TransportConfig(),
                                      stats=transport.TransportStats())


class Node:
    """One GossipService and what it delivered to the application, with virtual times.

    On real loopback sockets, or on ``net`` (an in-memory network) when given.
    ``judge`` is the application's verdict on each Note (relay or not).
    """

    def __init__(self, name: str, *, seeds: Iterable[str] = (),
                 listen: tuple[str, int] = (HOST, 0), overlay: OverlayConfig | None = None,
                 announce_interval: float = 60.0, net: MemoryNetwork | None = None,
                 judge: Callable[[Note], bool] = lambda note: True) -> None:
        self.name = name
        self.identity = identity(name)
        settings = GossipSettings(
            network_key=NET, listen=listen, advertise=(), seeds=tuple(seeds),
            overlay=overlay or full(), announce_interval=announce_interval)
        self.svc = GossipService(
            self.identity, settings, PeerTable(self.identity.node_id, ttl_ms=600_000),
            rng=random.Random(name), transport=net.transport() if net is not None else None)
        self.judge = judge
        self.svc.register(LinkService("notes", broadcast_types=frozenset({Note}),
                                      on_broadcast=self._on_payload))
        self.delivered: list[tuple[float, Note]] = []

    def _on_payload(self, payload: bytes, msg_id: str) -> bool:
        note = wire.decode(payload)
        assert isinstance(note, Note)
        self.delivered.append((trio.current_time(), note))
        return self.judge(note)

    @property
    def id(self) -> str:
        return self.identity.node_id

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.svc.port}/hart"

    async def start(self, nursery: trio.Nursery) -> Node:
        await nursery.start(self.svc.run)
        return self

    def say(self, text: str) -> float:
        """Broadcast a Note; returns the virtual time it left."""
        self.svc.broadcast(wire.encode(Note(self.name, text)))
        return trio.current_time()

    def texts(self) -> Counter[str]:
        return Counter(n.text for _, n in self.delivered)

    def links(self) -> dict[str, Any]:
        return self.svc._links  # white box: the shell's one link per peer


async def until(what: str, cond: Callable[[], bool], nodes: Iterable[Node],
                timeout: float = 10.0) -> None:
    """Wait until ``cond()`` holds, re-checked whenever one of ``nodes`` did anything.

    Fails the test after ``timeout`` seconds (virtual ones on the autojump clock).
    """
    services = [n.svc for n in nodes]

    async def woken(event: trio.Event, scope: trio.CancelScope) -> None:
        await event.wait()
        scope.cancel()

    # A livelock (say, links dropped and redialled without end) never lets the
    # virtual clock move, so the real clock bounds the wait too.
    real_deadline = time.monotonic() + REAL_TIME_LIMIT_S
    with trio.move_on_after(timeout) as deadline:
        while not cond():
            if time.monotonic() > real_deadline:
                pytest.fail(f"not within {REAL_TIME_LIMIT_S} s of real time (a livelock?): {what}")
            # Taken right after the check, with no checkpoint between, so no
            # change after the check goes unseen (``GossipService.changes``).
            events = [svc.changes() for svc in services]
            async with trio.open_nursery() as nursery:
                for event in events:
                    nursery.start_soon(woken, event, nursery.cancel_scope)
    if deadline.cancelled_caught:
        pytest.fail(f"not within {timeout} s: {what}")


def connected(nodes: list[Node]) -> bool:
    """The active views are symmetric and form one connected graph."""
    by_id = {n.id: n for n in nodes}
    for n in nodes:
        for peer in n.svc.neighbours():
            if peer not in by_id or n.id not in by_id[peer].svc.neighbours():
                return False
    seen, todo = {nodes[0].id}, [nodes[0].id]
    while todo:
        for peer in by_id[todo.pop()].svc.neighbours():
            if peer not in seen:
                seen.add(peer)
                todo.append(peer)
    return len(seen) == len(nodes)


# --- an overlay of services -----------------------------------------------------------------


async def test_overlay_forms_and_every_broadcast_is_delivered_exactly_once(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    seed = await Node("seed", net=net).start(nursery)
    nodes = [seed] + [await Node(f"n{i}", seeds=[seed.url], net=net).start(nursery)
                      for i in range(4)]
    await until("one symmetric, connected overlay in which every node knows every record",
                lambda: connected(nodes) and all(len(n.svc.peers.entries) == 4 for n in nodes),
                nodes)
    # Joins spread by walks that end in links to the joiner's advertised address,
    # so the overlay is more than a star around the seed (each view holds 5).
    assert all(len(n.svc.neighbours()) >= 2 for n in nodes), [n.svc.overview() for n in nodes]

    # The overlay's first broadcast is pushed eagerly along every link: it is
    # delivered everywhere at the instant it was sent, not after IHAVE + GRAFT.
    sent = nodes[2].say("first")
    await until("everyone has the first note", lambda: all(n.texts()["first"] for n in nodes),
                nodes)
    assert [t for n in nodes for t, note in n.delivered] == [sent] * 5

    for n in nodes:
        for k in range(3):
            n.say(f"{n.name}-{k}")
    expected = Counter({"first": 1} | {f"{n.name}-{k}": 1 for n in nodes for k in range(3)})
    await until("every node delivered every note",
                lambda: all(set(n.texts()) == set(expected) for n in nodes), nodes)
    await trio.sleep(20)  # virtual: IHAVE, GRAFT, keepalive and shuffle timers all run
    for n in nodes:
        assert n.texts() == expected, n.name  # each note exactly once, the origin's own too
        assert n.svc.stats.delivered == len(expected)


# --- hostile peers --------------------------------------------------------------------------


@asynccontextmanager
async def _raw_authenticated(port: int, who: NodeIdentity) -> AsyncIterator[
        tuple[trio_websocket.WebSocketConnection, FrameSealer]]:
    """A WebSocket through which the handshake was done by hand, to send what no node would."""
    stream = await trio.open_tcp_stream(HOST, port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(nursery, stream, HOST, "/hart")
            init = Initiator(who, NET, b"e" * 32)
            await ws.send_message(init.start())
            reply = await ws.get_message()
            assert isinstance(reply, bytes)
            for out in init.receive(reply):
                await ws.send_message(out)
            assert init.result is not None
            yield ws, FrameSealer(init.result.send_key)
            nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)


async def _dropped(ws: trio_websocket.WebSocketConnection) -> None:
    """Read until the service hangs up (it may first send its record)."""
    with pytest.raises(trio_websocket.ConnectionClosed):
        while True:
            await ws.get_message()


async def test_garbage_and_protocol_violations_end_only_that_link(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    a = await Node("a").start(nursery)
    b = await Node("b", seeds=[a.url]).start(nursery)
    await until("a and b are neighbours", lambda: a.svc.neighbours() == {b.id}, [a, b])
    ts = a.svc.transport_stats

    # 1. Sealed correctly, but not a wire message.
    async with _raw_authenticated(a.svc.port, identity("garbage-1")) as (ws, sealer):
        await ws.send_message(sealer.seal(b"\xc1 not msgpack"))
        await _dropped(ws)
    assert ts.decode_errors["malformed"] == 1
    # 2. Not sealed with the session key at all.
    async with _raw_authenticated(a.svc.port, identity("garbage-2")) as (ws, _):
        await ws.send_message(b"\x00" * 40)
        await _dropped(ws)
    assert sum(ts.frame_errors.values()) == 1
    # 3. A well-formed message that breaks the membership protocol.
    liar = identity("liar")
    conn = await transport.dial(nursery, HOST, a.svc.port, liar, NET)
    await conn.send(Join(PeerInfo(b.id, "")))  # a Join in someone else's name
    with pytest.raises(transport.LinkClosed):
        while True:
            await conn.receive()
    assert a.svc.stats.protocol_errors == Counter({"join_peer_mismatch": 1})
    overview = a.svc.overview()
    assert overview["decode_errors"] == {"malformed": 1}
    assert overview["protocol_errors"] == {"join_peer_mismatch": 1}

    # The link to b never noticed.
    assert a.svc.neighbours() == {b.id} and set(a.links()) == {b.id}
    b.say("still here")
    await until("a delivers b's note", lambda: bool(a.texts()["still here"]), [a, b])
    assert liar.node_id not in a.svc.neighbours()


async def test_flooding_peer_is_held_to_its_byte_budget_and_others_get_through(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    rate, burst = 256 * 1024.0, 65_536.0
    overlay = replace(full(), link_rate=rate, link_burst=burst)
    net = MemoryNetwork()
    a = await Node("a", overlay=overlay, net=net).start(nursery)
    b = await Node("b", seeds=[a.url], overlay=overlay, net=net).start(nursery)
    await until("a and b are neighbours", lambda: a.svc.neighbours() == {b.id}, [a, b])
    b.say("warm-up")  # after it, b's link to a is a tree link whatever it was before
    await until("a delivers the warm-up", lambda: bool(a.texts()["warm-up"]), [a, b])

    flooder = identity("flooder")
    conn = await dial(net, nursery, a.svc.port, flooder)
    floods = [Gossip(bytes([1, i]) * 8, 1, wire.encode(Note("flooder", f"f{i:02} " + "x" * 16_000)))
              for i in range(40)]
    total = sum(min(len(wire.encode(g)), int(burst)) for g in floods)
    start = trio.current_time()

    async def flood() -> None:
        for g in floods:
            await conn.send(g)

    nursery.start_soon(flood)
    await until("the flooder is throttled", lambda: a.svc.stats.throttled > 0, [a, b])
    sent = b.say("meanwhile")
    await until("a delivers b's note", lambda: bool(a.texts()["meanwhile"]), [a, b])
    (got,) = [t for t, n in a.delivered if n.text == "meanwhile"]
    flood_left = [n.text for _, n in a.delivered if n.origin == "flooder"]
    assert got == sent  # b's link is not held up behind the flooder's
    assert len(flood_left) < len(floods), "b's note waited for the whole flood"

    await until("a took the whole flood", lambda: len(
        [n for _, n in a.delivered if n.origin == "flooder"]) == len(floods), [a, b], timeout=30)
    last = max(t for t, n in a.delivered if n.origin == "flooder")
    # A full bucket lets ``burst`` bytes in at once; the rest comes at ``rate``.
    assert last - start >= (total - burst) / rate
    assert last - start <= total / rate
    assert a.svc.stats.throttled >= len(floods) - burst // 16_000 - 1


# --- links ----------------------------------------------------------------------------------


async def test_simultaneous_dials_end_as_one_link(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    a = await Node("a", net=net).start(nursery)
    b = await Node("b", net=net).start(nursery)
    now = trio.current_time()
    # Both cores decide, in the same instant, to join through the other.
    for x, y in ((a, b), (b, a)):
        hv = x.svc._hv
        assert hv is not None
        x.svc._apply(hv.join([PeerInfo(y.id, y.url)], now))
    await until("one link, neighbours both ways", lambda: (
        a.svc.neighbours() == {b.id} and b.svc.neighbours() == {a.id}
        and len(a.links()) == len(b.links()) == 1), [a, b])
    assert a.svc.transport_stats.links_opened == b.svc.transport_stats.links_opened == 2
    dialler = min(a.id, b.id)
    assert a.links()[b.id].initiator == b.links()[a.id].initiator == dialler
    await trio.sleep(30)  # virtual: keepalives and shuffles run; the link stays put
    assert len(a.links()) == len(b.links()) == 1
    assert a.svc.neighbours() == {b.id} and b.svc.neighbours() == {a.id}
    a.say("over the one link")
    await until("b delivers", lambda: bool(b.texts()["over the one link"]), [a, b])
    assert b.texts()["over the one link"] == 1


async def test_a_peer_that_dials_again_replaces_its_old_link(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    # b's end of its link died without a word (power loss, then a restart):
    # a still holds the old link when b's new one arrives.
    net = MemoryNetwork()
    a = await Node("a", net=net).start(nursery)
    b = await Node("b", seeds=[a.url], net=net).start(nursery)
    await until("a and b are neighbours", lambda: a.svc.neighbours() == {b.id}, [a, b])
    old = a.links()[b.id]
    conn = await dial(net, nursery, a.svc.port, b.identity)
    first = await conn.receive()  # a greets every new link with its record
    assert isinstance(first, PeerRecordMessage)
    await until("a replaced the old link", lambda: a.links().get(b.id) is not old, [a, b])
    assert a.links()[b.id].conn is not old.conn
    assert old.conn.closed is not None


async def test_close_link_flushes_what_was_queued_first(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    # With room for one neighbour, a's view is full with b; c's Join evicts b,
    # and a must tell b (Disconnect) before it closes the link (CloseLink).
    one = replace(full(), active_view_size=1)
    net = MemoryNetwork()
    a = await Node("a", overlay=one, net=net).start(nursery)
    b = await Node("b", seeds=[a.url], overlay=one, net=net).start(nursery)
    await until("a and b are neighbours", lambda: a.svc.neighbours() == {b.id}, [a, b])
    c = await Node("c", seeds=[a.url], overlay=one, net=net).start(nursery)
    await until("b was told to go", lambda: b.svc.stats.received["Disconnect"] >= 1, [a, b, c],
                timeout=3)


async def test_unreachable_seed_is_retried_with_backoff(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    port = 6778  # nothing listens there until the seed starts below
    t0 = trio.current_time()
    lonely = await Node("lonely", seeds=[f"ws://{HOST}:{port}/hart"], net=net).start(nursery)

    def seed_dials() -> list[float]:  # bootstrap dials seeds without an id
        return [d.at - t0 for d in net.dials if d.expected_node_id is None]

    await trio.sleep(20)  # virtual: the seed is down for the first 20 s
    first, cap = BOOTSTRAP_BACKOFF
    assert first == 1.0 and cap == 60.0
    assert seed_dials() == [0, 1, 3, 7, 15]  # 1, 2, 4, 8 s apart: no spinning
    assert lonely.svc.transport_stats.handshake_failures["connect_failed"] == 5
    seed = await Node("seed", listen=(HOST, port), net=net).start(nursery)
    await until("joined through the seed", lambda: lonely.svc.neighbours() == {seed.id},
                [lonely, seed], timeout=60)
    assert trio.current_time() - t0 == 31  # the next round after 16 s more
    await trio.sleep(300)  # virtual: joined, so bootstrap is over
    assert seed_dials() == [0, 1, 3, 7, 15, 31]


async def test_node_without_an_address_is_never_dialled_but_takes_part(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    a = await Node("a", net=net).start(nursery)
    b = await Node("b", seeds=[a.url], net=net).start(nursery)
    # Listening on every interface there is no one address to offer: behind NAT.
    hidden = await Node("hidden", seeds=[a.url], listen=("0.0.0.0", 0), net=net).start(nursery)
    nodes = [a, b, hidden]
    assert hidden.svc.overview()["advertise"] == []
    await until("an overlay of three with every record known", lambda: connected(nodes) and all(
        len(n.svc.peers.entries) == 2 for n in nodes), nodes)
    for n in (a, b):
        row = {r["node_id"]: r for r in n.svc.peers.rows(0)}[hidden.id]
        assert row["addrs"] == [] and row["reachable"] is False
    a.say("to all")
    hidden.say("from behind NAT")
    await until("every note everywhere", lambda: all(
        n.texts() == Counter({"to all": 1, "from behind NAT": 1}) for n in nodes), nodes)
    await trio.sleep(100)  # virtual: keepalives, shuffles, announcements and repairs run
    assert hidden.svc.port not in [d.port for d in net.dials]
    assert hidden.svc.transport_stats.inbound_active == 0
    assert all(link.initiator == hidden.id for link in hidden.links().values())
    assert hidden.svc.neighbours(), "hidden lost its place in the overlay"


async def test_concurrent_first_broadcasts_still_leave_a_broadcast_tree(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork()
    seed = await Node("seed", net=net).start(nursery)
    nodes = [seed] + [await Node(f"n{i}", seeds=[seed.url], net=net).start(nursery)
                      for i in range(9)]
    await until("one connected overlay", lambda: connected(nodes), nodes)
    for n in nodes:  # every node's first message, in the same instant
        n.say(f"{n.name}-first")
    await trio.sleep(5)  # virtual: IHAVE and GRAFT repair whatever the first messages cut
    sent: dict[str, float] = {}
    for r in range(3):
        for n in nodes:
            sent[f"{n.name}-{r}"] = n.say(f"{n.name}-{r}")
            await trio.sleep(0.05)  # virtual: 20 broadcasts a second, network-wide
    await until("every note everywhere", lambda: all(
        set(sent) <= set(n.texts()) for n in nodes), nodes)
    late = sorted(round(t - sent[note.text], 2) for n in nodes for t, note in n.delivered
                  if note.text in sent and t - sent[note.text] >= 0.2)
    assert late == [], f"{len(late)} of {len(sent) * len(nodes)} deliveries were late: {late}"


@pytest.mark.parametrize("paced", [True, False])
async def test_a_paced_publisher_waits_for_its_slowest_link_instead_of_dropping(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, paced: bool) -> None:
    # b takes in 2 MB/s of a's frames (its byte budget), so once the sockets'
    # buffers are full a's send queue to b grows with every broadcast.
    a = await Node("a").start(nursery)
    slow = replace(full(), link_rate=2_000_000.0, link_burst=65_536.0)
    b = await Node("b", seeds=[a.url], overlay=slow).start(nursery)
    await until("a and b linked", lambda: connected([a, b]), [a, b])
    count, filler = 600, "x" * 60_000  # 36 MB: far beyond loopback's socket buffers
    for i in range(count):
        payload = wire.encode(Note("a", f"{i} {filler}"))
        if paced:
            await a.svc.broadcast_paced(payload)
        else:
            a.svc.broadcast(payload)
    if paced:
        await until("b has every note", lambda: len(b.delivered) == count, [a, b], timeout=60)
        assert a.svc.stats.dropped["queue_full"] == 0
    else:  # what pacing is for: the same burst unpaced overflows the queue
        assert a.svc.stats.dropped["queue_full"] > 0


async def test_a_payload_the_application_refuses_is_delivered_there_and_goes_no_further(
        nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    # a's application judges each payload; b's relays everything.
    net = MemoryNetwork()
    a = await Node("a", judge=lambda note: note.text != "forged", net=net).start(nursery)
    b = await Node("b", seeds=[a.url], net=net).start(nursery)
    await until("a and b are neighbours", lambda: a.svc.neighbours() == {b.id}, [a, b])
    forger = await dial(net, nursery, a.svc.port, identity("forger"))
    for text in ("forged", "fine"):
        await forger.send(Gossip(text.encode().ljust(16, b"."), 1,
                                 wire.encode(Note("forger", text))))
    await until("b got the good one", lambda: bool(b.texts()["fine"]), [a, b])
    await trio.sleep(10)  # virtual: an IHAVE and a GRAFT for it would have come by now
    assert a.texts() == {"forged": 1, "fine": 1}
    assert b.texts() == {"fine": 1}
    # Nor can a GRAFT fetch it: a keeps no payload of it (white box).
    assert a.svc._pt is not None
    assert not any(b"forged" in payload for payload, _, _ in a.svc._pt._cache.values())
