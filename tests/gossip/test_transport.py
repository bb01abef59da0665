"""Transport over real loopback sockets: links, hostile peers, limits and timeouts.

Synchronisation never sleeps: a server-side counter is always incremented
before the server closes the offending socket, so a test may read it as soon
as its client sees the close. Timeout tests run on trio's autojump clock and
assert exact virtual times.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import pytest
import trio
import trio.testing
import trio_websocket

from hartnode.gossip import transport, wire
from hartnode.gossip.handshake import Initiator
from hartnode.gossip.inbound_slots import WarnThrottle
from hartnode.gossip.secretbox import TAG_BYTES, FrameOpener, FrameSealer
from hartnode.gossip.transport import (
    DialError,
    LinkClosed,
    SecureConnection,
    TransportConfig,
    TransportStats,
    dial,
    serve,
)
from hartnode.identity import NodeIdentity

NET = b"N" * 32
OTHER_NET = b"O" * 32
SERVER = NodeIdentity.from_seed(b"s" * 32)
CLIENT = NodeIdentity.from_seed(b"c" * 32)
OTHER = NodeIdentity.from_seed(b"o" * 32)
HOST = "127.0.0.1"
LOCAL = TransportConfig(host=HOST, port=0)


@wire.register(65100)
@dataclass(frozen=True, slots=True)
class _Chat:
    text: str
    blob: bytes


class _Server:
    """A listener whose handler echoes every message and records how links end."""

    def __init__(self, port: int, stats: TransportStats) -> None:
        self.port = port
        self.stats = stats
        self.links: list[SecureConnection] = []
        self.ended_send, self.ended = trio.open_memory_channel[LinkClosed](100)

    async def echo(self, conn: SecureConnection) -> None:
        self.links.append(conn)
        try:
            while True:
                await conn.send(await conn.receive())
        except LinkClosed as e:
            self.ended_send.send_nowait(e)
            raise


async def _start(nursery: trio.Nursery, config: TransportConfig = LOCAL) -> _Server:
    stats = TransportStats()
    server = _Server(0, stats)
    server.port = await nursery.start(
        partial(serve, SERVER, NET, server.echo, config=config, stats=stats)
    )
    return server


async def _dial(nursery: trio.Nursery, server: _Server, **kwargs: object) -> SecureConnection:
    args: dict[str, object] = {"config": LOCAL, **kwargs}
    identity = args.pop("identity", CLIENT)
    net = args.pop("net", NET)
    return await dial(nursery, HOST, server.port, identity, net, **args)  # type: ignore[arg-type]


async def _round_trip(conn: SecureConnection, text: str) -> None:
    await conn.send(_Chat(text, text.encode()))
    assert await conn.receive() == _Chat(text, text.encode())


@asynccontextmanager
async def _raw_ws(port: int) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A bare WebSocket to the server, for peers that misbehave on purpose."""
    stream = await trio.open_tcp_stream(HOST, port)
    try:
        async with trio.open_nursery() as nursery:
            yield await trio_websocket.wrap_client_stream(nursery, stream, HOST, "/hart")
            nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)


async def _raw_handshake(
    ws: trio_websocket.WebSocketConnection,
) -> tuple[FrameSealer, FrameOpener]:
    """Authenticate by hand over a raw WebSocket, to send frames the real client never would."""
    init = Initiator(CLIENT, NET, os.urandom(32))
    await ws.send_message(init.start())
    data = await ws.get_message()
    assert isinstance(data, bytes)
    for out in init.receive(data):
        await ws.send_message(out)
    assert init.result is not None
    return FrameSealer(init.result.send_key), FrameOpener(init.result.receive_key)


async def _assert_dropped(ws: trio_websocket.WebSocketConnection) -> None:
    """The server hangs up without saying anything we could read."""
    with pytest.raises(trio_websocket.ConnectionClosed):
        await ws.get_message()


# --- working links ------------------------------------------------------------------------


async def test_two_endpoints_exchange_messages(nursery: trio.Nursery) -> None:
    server = await _start(nursery)
    conn = await _dial(nursery, server, expected_node_id=SERVER.node_id)
    assert conn.remote_node_id == SERVER.node_id
    for i in range(20):
        await _round_trip(conn, f"hello {i}")
    (inbound,) = server.links
    assert inbound.remote_node_id == CLIENT.node_id
    assert inbound.handshake_hash == conn.handshake_hash
    assert server.stats.links_opened == 1
    # Pings are answered by the peer's transport, not its handler.
    await conn.send(wire.Ping(42))
    assert await conn.receive() == wire.Pong(42)
    await conn.aclose("done")
    ended = await server.ended.receive()
    assert (ended.reason, ended.detail) == ("closed_by_peer", "closed_locally:done")
    with pytest.raises(LinkClosed) as info:
        await conn.send(_Chat("late", b""))
    assert info.value.reason == "closed_locally"


async def test_link_bytes_count_the_sealed_frames_each_way(nursery: trio.Nursery) -> None:
    server = await _start(nursery)
    stats = TransportStats()
    conn = await _dial(nursery, server, stats=stats)
    frame = len(wire.encode(_Chat("x" * 100, b"y" * 1000))) + TAG_BYTES
    for _ in range(5):
        await conn.send(_Chat("x" * 100, b"y" * 1000))
        await conn.receive()
    assert stats.link_bytes == {"sent": 5 * frame, "received": 5 * frame}
    assert server.stats.link_bytes == {"sent": 5 * frame, "received": 5 * frame}


async def test_large_messages_after_handshake(nursery: trio.Nursery) -> None:
    # Handshake messages are capped at a few hundred bytes; sealed frames are not.
    server = await _start(nursery)
    conn = await _dial(nursery, server)
    big = _Chat("big", os.urandom(500_000))
    await conn.send(big)
    assert await conn.receive() == big


async def test_oversize_handshake_message_is_refused(nursery: trio.Nursery) -> None:
    server = await _start(nursery)
    async with _raw_ws(server.port) as ws:
        await ws.send_message(b"\x00" * 100_000)
        await _assert_dropped(ws)
    assert server.stats.handshake_failures["connection_lost"] == 1


async def test_many_links_at_once(nursery: trio.Nursery) -> None:
    server = await _start(nursery)
    conns = [await _dial(nursery, server) for _ in range(5)]
    async with trio.open_nursery() as inner:
        for i, conn in enumerate(conns):
            inner.start_soon(_round_trip, conn, f"link {i}")
    assert server.stats.inbound_active == 5


async def test_peer_close_and_lost_connection(nursery: trio.Nursery) -> None:
    server = await _start(nursery)
    conn = await _dial(nursery, server)
    await _round_trip(conn, "the server has the link now")  # dial returns before it does
    await server.links[0].aclose("going away")
    with pytest.raises(LinkClosed) as info:
        await conn.receive()
    assert (info.value.reason, info.value.detail) == ("closed_by_peer", "closed_locally:going away")
    # A stream that stops without a sealed Close is reported as lost (maybe truncated).
    async with _raw_ws(server.port) as ws:
        await _raw_handshake(ws)
    ended = [await server.ended.receive() for _ in range(2)]
    assert sorted(e.reason for e in ended) == ["closed_locally", "connection_lost"]


# --- hostile and mistaken peers -----------------------------------------------------------


async def test_wrong_network_key_is_dropped_while_a_good_link_works(nursery: trio.Nursery) -> None:
    server = await _start(nursery)
    good = await _dial(nursery, server)
    with pytest.raises(DialError) as info:
        await _dial(nursery, server, net=OTHER_NET)
    assert info.value.reason == "connection_lost"
    assert server.stats.handshake_failures["bad_network_key"] == 1
    await _round_trip(good, "still here")


async def test_unexpected_node_id_aborts_the_dial(nursery: trio.Nursery) -> None:
    server = await _start(nursery)
    stats = TransportStats()
    with pytest.raises(DialError) as info:
        await _dial(nursery, server, expected_node_id=OTHER.node_id, stats=stats)
    assert info.value.reason == "unexpected_node_id"
    assert stats.handshake_failures["unexpected_node_id"] == 1
    assert server.stats.links_opened == 0


async def test_garbage_handshakes_are_counted(nursery: trio.Nursery) -> None:
    server = await _start(nursery)
    good = await _dial(nursery, server)
    async with _raw_ws(server.port) as ws:
        await ws.send_message(b"\x00" * 10)
        await _assert_dropped(ws)
    async with _raw_ws(server.port) as ws:
        await ws.send_message(os.urandom(64))  # right size, no network key
        await _assert_dropped(ws)
    async with _raw_ws(server.port) as ws:
        await ws.send_message("text")
        await _assert_dropped(ws)
    failures = server.stats.handshake_failures
    assert (failures["malformed"], failures["bad_network_key"], failures["text_frame"]) == (1, 1, 1)
    await _round_trip(good, "unaffected")


async def _after_handshake(port: int, frame: bytes | str | None, replay: bool = False) -> None:
    """Send one bad frame on an authenticated raw link; the server must say Close and hang up."""
    async with _raw_ws(port) as ws:
        sealer, opener = await _raw_handshake(ws)
        if replay:
            first = sealer.seal(wire.encode(_Chat("x", b"")))
            await ws.send_message(first)
            assert wire.decode(opener.open(await _bytes(ws))) == _Chat("x", b"")
            frame = first
        assert frame is not None
        await ws.send_message(frame)
        close = wire.decode(opener.open(await _bytes(ws)))
        assert isinstance(close, wire.Close)
        await _assert_dropped(ws)


async def _bytes(ws: trio_websocket.WebSocketConnection) -> bytes:
    data = await ws.get_message()
    assert isinstance(data, bytes)
    return data


async def test_bad_frames_end_only_their_link(nursery: trio.Nursery) -> None:
    server = await _start(nursery)
    good = await _dial(nursery, server)
    key = b"k" * 32
    await _after_handshake(server.port, FrameSealer(key).seal(b"not sealed for you"))
    await _after_handshake(server.port, b"short")
    await _after_handshake(server.port, "text after handshake")
    await _after_handshake(server.port, None, replay=True)
    assert server.stats.frame_errors["open_failed"] == 3
    assert server.stats.frame_errors["text_frame"] == 1
    await _round_trip(good, "unaffected")


async def test_undecodable_sealed_frames_are_counted_by_reason(nursery: trio.Nursery) -> None:
    server = await _start(nursery)
    good = await _dial(nursery, server)
    for payload in (
        b"\xc1",
        b"\x92\x01",
        wire.encode(wire.Ping(1)) + b"\x00",
        b"\x92\xcd\xff\xff\x00",
    ):
        async with _raw_ws(server.port) as ws:
            sealer, opener = await _raw_handshake(ws)
            await ws.send_message(sealer.seal(payload))
            close = wire.decode(opener.open(await _bytes(ws)))
            assert isinstance(close, wire.Close) and close.reason.startswith("decode_error:")
    errors = server.stats.decode_errors
    assert [errors[r] for r in ("malformed", "truncated", "trailing_bytes", "unknown_type")] == [
        1
    ] * 4
    assert server.stats.links_closed["decode_error"] == 4
    await _round_trip(good, "unaffected")


async def test_oversize_frame_ends_the_link(nursery: trio.Nursery) -> None:
    small = TransportConfig(host=HOST, port=0, wire_limits=wire.Limits(max_frame_bytes=1000))
    server = await _start(nursery, small)
    conn = await _dial(nursery, server)
    await _round_trip(conn, "x" * 400)
    await conn.send(_Chat("", b"x" * 2000))
    ended = await server.ended.receive()
    assert ended.reason == "frame_too_large"
    assert server.stats.frame_errors["too_large"] == 1


async def test_wrong_path_is_rejected(nursery: trio.Nursery) -> None:
    server = await _start(nursery)
    with pytest.raises(DialError) as info:
        await _dial(nursery, server, config=TransportConfig(host=HOST, port=0, path="/other"))
    assert (info.value.reason, info.value.detail) == ("rejected", "404")
    assert server.stats.refused["bad_path"] == 1


async def test_nothing_listening(nursery: trio.Nursery) -> None:
    with trio.socket.socket() as sock:  # a port that is surely closed: bound, not listening
        await sock.bind((HOST, 0))
        port = sock.getsockname()[1]
        with pytest.raises(DialError) as info:
            await dial(nursery, HOST, port, CLIENT, NET, config=LOCAL)
    assert info.value.reason == "connect_failed"


async def test_connection_limit(nursery: trio.Nursery) -> None:
    server = await _start(nursery, TransportConfig(host=HOST, port=0, max_connections=1))
    first = await _dial(nursery, server)
    with pytest.raises(DialError) as info:
        await _dial(nursery, server)
    assert (info.value.reason, info.value.detail) == ("rejected", "503")
    assert server.stats.refused["connection_limit"] == 1
    await _round_trip(first, "first still works")
    await first.aclose()
    await server.ended.receive()
    # The slot is free once the server's handler has finished with the link.
    await trio.testing.wait_all_tasks_blocked()
    second = await _dial(nursery, server)
    await _round_trip(second, "second")


# --- timeouts (virtual time) --------------------------------------------------------------


async def test_silent_socket_is_dropped_at_the_first_message_deadline(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    config = TransportConfig(host=HOST, port=0, handshake_timeout=7.0, first_message_timeout=2.0)
    server = await _start(nursery, config)
    start = trio.current_time()
    stream = await trio.open_tcp_stream(HOST, server.port)  # connects, then says nothing
    assert await stream.receive_some() == b""
    assert trio.current_time() - start == 2.0
    assert server.stats.handshake_failures["first_message_timeout"] == 1
    await stream.aclose()


async def test_handshake_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    config = TransportConfig(host=HOST, port=0, handshake_timeout=7.0, first_message_timeout=2.0)
    server = await _start(nursery, config)
    start = trio.current_time()
    async with _raw_ws(server.port) as ws:  # msg1 in time, then never msg3
        await ws.send_message(Initiator(CLIENT, NET, os.urandom(32)).start())
        await _bytes(ws)
        await _assert_dropped(ws)
    assert trio.current_time() - start == 7.0
    assert server.stats.handshake_failures["timeout"] == 1


async def test_idle_timeout(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    config = TransportConfig(host=HOST, port=0, idle_timeout=30.0)
    server = await _start(nursery, config)
    conn = await _dial(nursery, server)
    await _round_trip(conn, "then silence")
    start = trio.current_time()
    with pytest.raises(LinkClosed) as info:
        await conn.receive()  # the client is idle too, but its timeout is the default 120 s
    assert trio.current_time() - start == 30.0
    assert (info.value.reason, info.value.detail) == ("closed_by_peer", "idle_timeout")
    assert server.stats.links_closed["idle_timeout"] == 1


async def test_dial_timeout(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    # A listener that accepts TCP but never answers the WebSocket upgrade.
    listeners = await trio.open_tcp_listeners(0, host=HOST)
    port = listeners[0].socket.getsockname()[1]
    start = trio.current_time()
    with pytest.raises(DialError) as info:
        await dial(
            nursery,
            HOST,
            port,
            CLIENT,
            NET,
            config=TransportConfig(host=HOST, port=0, handshake_timeout=5.0),
        )
    assert info.value.reason == "timeout"
    assert trio.current_time() - start == 5.0
    for listener in listeners:
        await listener.aclose()


async def test_shutdown_closes_links_politely(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # Virtual time must not move: a close that waited for a WebSocket close
    # handshake the cancelled reader task can no longer finish would show here.
    async with trio.open_nursery() as server_nursery:
        server = await _start(server_nursery)
        conn = await _dial(nursery, server)
        await _round_trip(conn, "before shutdown")
        start = trio.current_time()
        server_nursery.cancel_scope.cancel()
    assert trio.current_time() == start
    with pytest.raises(LinkClosed) as info:
        await conn.receive()
    assert (info.value.reason, info.value.detail) == ("closed_by_peer", "closed_locally:closing")


async def test_cancelling_the_dialler_closes_its_links(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = await _start(nursery)
    async with trio.open_nursery() as client_nursery:
        conn = await _dial(client_nursery, server)
        await _round_trip(conn, "before shutdown")
        start = trio.current_time()
        client_nursery.cancel_scope.cancel()
    assert trio.current_time() == start
    ended = await server.ended.receive()
    assert (ended.reason, ended.detail) == ("closed_by_peer", "closed_locally:closing")
    assert conn.closed is not None and conn.closed.reason == "closed_locally"


# --- inbound slots (issue #8.4) -------------------------------------------------------------
# Every test connection comes from 127.0.0.1; the honest newcomer of the flood
# tests comes from 127.0.0.2 (Linux routes all of 127/8 to loopback), so the
# per-address limit can be tested end to end.


async def _honest_from(port: int, local: str) -> None:
    """Complete a handshake from ``local`` and exchange one message."""
    stream = await trio.open_tcp_stream(HOST, port, local_address=local)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(nursery, stream, HOST, "/hart")
            sealer, opener = await _raw_handshake(ws)
            await ws.send_message(sealer.seal(wire.encode(_Chat("hi", b""))))
            assert wire.decode(opener.open(await _bytes(ws))) == _Chat("hi", b"")
            nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)


async def test_silent_socket_flood_leaves_room_for_an_honest_handshake(
    nursery: trio.Nursery,
) -> None:
    config = TransportConfig(host=HOST, port=0, max_connections=16)
    server = await _start(nursery, config)
    silent = [await trio.open_tcp_stream(HOST, server.port) for _ in range(40)]
    await trio.testing.wait_all_tasks_blocked()
    # Four pending from 127.0.0.1 (its share); the rest were refused at once.
    assert server.stats.inbound_pending == 4
    assert server.stats.refused["address_limit"] == 36
    await _honest_from(server.port, "127.0.0.2")
    assert server.stats.links_opened == 1
    for stream in silent:
        await stream.aclose()


async def test_an_address_over_its_pending_limit_is_closed_without_an_answer(
    nursery: trio.Nursery,
) -> None:
    config = TransportConfig(host=HOST, port=0, max_connections=16, max_pending_per_address=1)
    server = await _start(nursery, config)
    held = await trio.open_tcp_stream(HOST, server.port)
    await trio.testing.wait_all_tasks_blocked()
    over = await trio.open_tcp_stream(HOST, server.port)
    await over.send_all(b"GET /hart HTTP/1.1\r\nHost: x\r\n\r\n")
    # Closed with nothing sent: no 503 is read, parsed and answered for it.
    assert await over.receive_some(4096) == b""
    assert server.stats.refused == {"address_limit": 1}
    await over.aclose()
    await held.aclose()


async def test_pending_handshakes_hold_at_most_their_share_of_slots(
    nursery: trio.Nursery,
) -> None:
    # With no per-address limit (all tests share 127.0.0.1), the pending share still
    # leaves the other half of the slots to links that finish their handshake.
    config = TransportConfig(host=HOST, port=0, max_connections=8, max_pending_per_address=100)
    server = await _start(nursery, config)
    silent = [await trio.open_tcp_stream(HOST, server.port) for _ in range(20)]
    await trio.testing.wait_all_tasks_blocked()
    assert server.stats.inbound_pending == 4
    assert server.stats.refused["pending_limit"] == 16
    for stream in silent[:1]:
        await stream.aclose()
    await trio.testing.wait_all_tasks_blocked()
    conn = await _dial(nursery, server)
    await _round_trip(conn, "room for me")
    for stream in silent[1:]:
        await stream.aclose()


async def test_connect_close_loop_frees_each_slot_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # Paced generously: this is about slots, not the per-address pace (tested below).
    config = TransportConfig(host=HOST, port=0, max_connections=8,
                             handshake_burst_per_address=100)
    server = await _start(nursery, config)
    start = trio.current_time()
    for _ in range(50):
        stream = await trio.open_tcp_stream(HOST, server.port)
        await stream.aclose()
        await trio.testing.wait_all_tasks_blocked()
    assert trio.current_time() == start  # no slot waited for a timeout
    assert server.stats.inbound_active == 0
    assert sum(server.stats.refused.values()) == 0
    conn = await _dial(nursery, server)
    await _round_trip(conn, "honest")


async def test_an_address_that_reconnects_in_a_loop_is_held_to_its_pace(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    config = TransportConfig(host=HOST, port=0, handshake_rate_per_address=1.0,
                             handshake_burst_per_address=2)
    server = await _start(nursery, config)
    for _ in range(3):
        stream = await trio.open_tcp_stream(HOST, server.port)
        await stream.aclose()
        await trio.testing.wait_all_tasks_blocked()
    assert server.stats.refused == {"address_rate": 1}
    await _honest_from(server.port, "127.0.0.2")  # another address is not held back
    await trio.sleep(1.0)  # virtual: the pace gives 127.0.0.1 one handshake a second
    conn = await _dial(nursery, server)
    await _round_trip(conn, "after its pace")


async def test_reserved_slots_take_only_priority_peers(nursery: trio.Nursery) -> None:
    stats = TransportStats()
    server = _Server(0, stats)
    config = TransportConfig(host=HOST, port=0, max_connections=4, reserved_share=0.25)
    server.port = await nursery.start(partial(
        serve, SERVER, NET, server.echo, config=config, stats=stats,
        priority=lambda node_id: node_id == OTHER.node_id))
    links = [await _dial(nursery, server) for _ in range(3)]
    unknown = await _dial(nursery, server)
    with pytest.raises(LinkClosed) as info:
        await unknown.receive()
    assert info.value.detail == "closed_locally:no free slot"
    assert stats.refused["reserved_slots"] == 1
    parent = await _dial(nursery, server, identity=OTHER)
    await _round_trip(parent, "a priority peer gets the reserved slot")
    await _round_trip(links[0], "the others are unaffected")


# --- network-key mismatch is logged (issue #8.13) ------------------------------------------


async def test_network_key_mismatch_warns_on_both_ends_rate_limited(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "_mismatch_warnings",
                        WarnThrottle(transport.MISMATCH_WARN_INTERVAL))
    server = await _start(nursery)
    caplog.set_level(logging.WARNING, logger="hartnode.gossip.transport")
    for _ in range(3):
        with pytest.raises(DialError):
            await _dial(nursery, server, net=OTHER_NET)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    inbound = [m for m in warnings if "dir=in" in m]
    outbound = [m for m in warnings if "dir=out" in m]
    assert len(inbound) == 1 and len(outbound) == 1  # three failures, one line per end
    for line in inbound + outbound:
        assert "network.name / network.key" in line
    assert server.stats.handshake_failures["bad_network_key"] == 3
