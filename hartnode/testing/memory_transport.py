"""An in-memory transport: gossip services in one trio run, without sockets.

memberlist's mock transport. ``MemoryNetwork`` is one switchboard; each node
gets ``network.transport()`` and passes it to ``GossipService(transport=...)``.
Nodes listen on a port number (any host name reaches it: all of them share
one address space), dial ``ws://host:port/...`` URLs as usual, and exchange
encoded wire messages over bounded memory channels, so

- there is no handshake, but the network key and the expected node id are
  checked and failures raise and count ``DialError`` as the real dial does;
- every message is encoded and decoded with the transport's ``wire.Limits``
  (an oversize message fails as on a socket), and ``last_frame_bytes`` is the
  sealed size a socket would carry (encoded size plus the secretbox tag);
- a link carries at most ``buffer_frames`` frames in flight per direction:
  a peer that stops reading pushes back on its sender, as TCP does;
- Ping is answered and Close ends the link, as in ``transport``; a link that
  receives nothing for ``idle_timeout`` ends;
- ``remote_address`` is ``HOST:PORT`` dialled, or ``mem-<short id>:1`` for the
  dialler: each node its own address group;
- with trio's autojump clock, times are exact: nothing here waits on a real
  clock. ``dials`` records every dial (virtual time, host, port, expected id);
- ``tap``, when set, sees every message a node is about to receive, as
  ``tap(sender id, receiver id, msg)``, and returns what is delivered: the
  message, another in its place, or None to lose it (a test's faulty or
  lying peer, without reaching into the services).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeAlias

import trio

from hartnode.gossip import wire
from hartnode.gossip.links import Connection
from hartnode.gossip.secretbox import TAG_BYTES
from hartnode.gossip.transport import DialError, LinkClosed, TransportConfig, TransportStats
from hartnode.identity import NodeIdentity, short_id

FIRST_PORT = 40_000  # ports handed out for listen port 0
# (sender id, receiver id, message) -> the message delivered, or None: lost.
Tap: TypeAlias = Callable[[str, str, object], object | None]


@dataclass(frozen=True)
class Dial:
    at: float  # trio.current_time() of the dial
    host: str
    port: int
    expected_node_id: str | None


@dataclass(eq=False)
class _Listener:
    identity: NodeIdentity
    network_key: bytes
    handler: Callable[[Connection], Awaitable[None]]
    config: TransportConfig
    stats: TransportStats
    nursery: trio.Nursery


class MemoryNetwork:
    """Listeners by port, and the links between them."""

    def __init__(self, *, buffer_frames: int = 16) -> None:
        self.buffer_frames = buffer_frames
        self.tap: Tap | None = None
        self.dials: list[Dial] = []
        self._listeners: dict[int, _Listener] = {}
        self._next_port = FIRST_PORT

    def transport(self) -> MemoryTransport:
        return MemoryTransport(self)

    def _port(self, wanted: int) -> int:
        if wanted:
            if wanted in self._listeners:
                raise OSError(f"port {wanted} is in use on this memory network")
            return wanted
        while self._next_port in self._listeners:
            self._next_port += 1
        return self._next_port


class MemoryTransport:
    """One node's access to a ``MemoryNetwork`` (``links.Transport``)."""

    def __init__(self, network: MemoryNetwork) -> None:
        self.network = network

    async def serve(self, identity: NodeIdentity, network_key: bytes,
                    handler: Callable[[Connection], Awaitable[None]], *,
                    config: TransportConfig, stats: TransportStats,
                    priority: Callable[[str], bool] | None = None,
                    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on ``config.port`` (a fresh one for 0) until cancelled; there are
        no connection slots here, so ``priority`` is not needed."""
        port = self.network._port(config.port)
        try:
            async with trio.open_nursery() as nursery:
                self.network._listeners[port] = _Listener(identity, network_key, handler,
                                                          config, stats, nursery)
                task_status.started(port)
                await trio.sleep_forever()
        finally:
            self.network._listeners.pop(port, None)

    async def dial(self, nursery: trio.Nursery, host: str, port: int, identity: NodeIdentity,
                   network_key: bytes, *, expected_node_id: str | None = None,
                   config: TransportConfig, stats: TransportStats) -> Connection:
        """A link to the node listening on ``port``.

        Raises:
            DialError: ``connect_failed`` (nobody listens), ``bad_network_key``,
                ``unexpected_node_id``; counted in ``stats.handshake_failures``.
        """
        self.network.dials.append(Dial(trio.current_time(), host, port, expected_node_id))
        await trio.lowlevel.checkpoint()
        there = self.network._listeners.get(port)
        reason = ("connect_failed" if there is None
                  else "bad_network_key" if there.network_key != network_key
                  else "unexpected_node_id"
                  if expected_node_id not in (None, there.identity.node_id) else "")
        if reason:
            stats.handshake_failures[reason] += 1
            if there is not None:
                there.stats.handshake_failures[reason] += 1
            raise DialError(reason, f"{host}:{port}")
        assert there is not None
        ours, theirs = _pair(identity.node_id, config, stats, there.identity.node_id,
                             there.config, there.stats, self.network)
        ours.remote_address = f"{host}:{port}"
        # Each node dials from a host of its own (an address group of its own).
        theirs.remote_address = f"mem-{short_id(identity.node_id)}:1"
        stats.links_opened += 1
        there.stats.links_opened += 1
        there.nursery.start_soon(_serve_link, there, theirs)
        return ours


async def _serve_link(listener: _Listener, conn: MemoryConnection) -> None:
    """As ``transport.serve``: the handler runs the link, which ends when it returns."""
    listener.stats.inbound_active += 1
    try:
        await listener.handler(conn)
    except LinkClosed:
        pass
    finally:
        listener.stats.inbound_active -= 1
        await conn.aclose("handler returned")


def _pair(a_id: str, a_config: TransportConfig, a_stats: TransportStats, b_id: str,
          b_config: TransportConfig, b_stats: TransportStats,
          network: MemoryNetwork) -> tuple[MemoryConnection, MemoryConnection]:
    a_to_b, b_from_a = trio.open_memory_channel[bytes](network.buffer_frames)
    b_to_a, a_from_b = trio.open_memory_channel[bytes](network.buffer_frames)
    a = MemoryConnection(b_id, a_to_b, a_from_b, a_config, a_stats, initiator=True,
                         local_node_id=a_id, network=network)
    b = MemoryConnection(a_id, b_to_a, b_from_a, b_config, b_stats, initiator=False,
                         local_node_id=b_id, network=network)
    return a, b


@dataclass(eq=False)
class MemoryConnection:
    """One end of an in-memory link (``links.Connection``)."""

    remote_node_id: str
    _out: trio.MemorySendChannel[bytes]
    _in: trio.MemoryReceiveChannel[bytes]
    _config: TransportConfig
    _stats: TransportStats
    initiator: bool
    local_node_id: str = ""
    network: MemoryNetwork | None = None
    remote_address: str = ""
    last_frame_bytes: int = 0
    _closed: LinkClosed | None = None
    _closed_event: trio.Event = field(default_factory=trio.Event)

    def __repr__(self) -> str:
        return f"<MemoryConnection {'out' if self.initiator else 'in'} " \
               f"{short_id(self.remote_node_id)}>"

    @property
    def closed(self) -> LinkClosed | None:
        return self._closed

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    async def send(self, msg: object) -> None:
        await self.send_encoded(wire.encode(msg, self._config.wire_limits))

    async def send_encoded(self, data: bytes) -> None:
        if self._closed is not None:
            raise self._closed.copy()
        try:
            await self._out.send(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._end("connection_lost") from None
        self._stats.link_bytes["sent"] += len(data) + TAG_BYTES

    async def receive(self) -> object:
        while True:
            if self._closed is not None:
                raise self._closed.copy()
            with trio.move_on_after(self._config.idle_timeout) as idle:
                try:
                    data = await self._in.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    raise self._end("connection_lost") from None
            if idle.cancelled_caught:
                raise self._end("idle_timeout")
            self._stats.link_bytes["received"] += len(data) + TAG_BYTES
            try:
                msg = wire.decode(data, self._config.wire_limits)
            except wire.DecodeError as e:
                self._stats.decode_errors[e.reason] += 1
                raise self._end("decode_error", e.reason) from None
            self.last_frame_bytes = len(data) + TAG_BYTES
            tap = self.network.tap if self.network is not None else None
            if tap is not None:
                msg = tap(self.remote_node_id, self.local_node_id, msg)
                if msg is None:
                    continue
            if type(msg) is wire.Ping:
                await self.send(wire.Pong(msg.nonce))
                continue
            if type(msg) is wire.Close:
                raise self._end("closed_by_peer", msg.reason[:200])
            return msg

    async def aclose(self, reason: str = "closing") -> None:
        if self._closed is None:
            # A Close when there is room (as the real one's bounded attempt), then hang up.
            with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError,
                                     trio.ClosedResourceError):
                self._out.send_nowait(wire.encode(wire.Close(f"closed_locally:{reason}")))
            self._end("closed_locally", reason)
        await trio.lowlevel.checkpoint()

    def _end(self, reason: str, detail: str = "") -> LinkClosed:
        if self._closed is None:
            self._closed = LinkClosed(reason, detail)
            self._stats.links_closed[reason] += 1
            self._out.close()
            self._in.close()
            self._closed_event.set()
        return self._closed.copy()


__all__ = ["Dial", "MemoryConnection", "MemoryNetwork", "MemoryTransport"]
