"""One link's state and its send queue, and the transport seam under them.

``Transport`` is what the gossip service needs from a transport: ``serve``
and ``dial`` handing out ``Connection``s. ``SocketTransport`` is the real one
(``hartnode.gossip.transport``: WebSockets, handshake, sealed frames);
``hartnode.testing.memory_transport`` runs nodes without sockets.

A link's send queue is bounded twice: ``SEND_QUEUE`` messages and the
profile's ``send_queue_bytes`` (messages are encoded when queued, so their
size is known and they are encoded once). A message that does not fit is
dropped and counted; the Plumtree repair or the next anti-entropy round
covers it. A queue that stays full while one send does not finish for
``slow_reader_timeout`` means the peer stopped reading: the sender gives up
(``slow_reader``) and the link ends, which frees the queue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import trio

from hartnode.gossip import transport
from hartnode.gossip.secretbox import TAG_BYTES
from hartnode.gossip.token_bucket import TokenBucket
from hartnode.identity import NodeIdentity

SEND_QUEUE = 256  # messages queued per link before further ones are dropped (counted)
PACE_BACKLOG = SEND_QUEUE // 4  # queued messages per link beyond which broadcast_paced waits


class Connection(Protocol):
    """One authenticated link, as ``transport.SecureConnection`` offers it."""

    remote_node_id: str
    remote_address: str  # HOST:PORT of the other end
    last_frame_bytes: int

    @property
    def closed(self) -> transport.LinkClosed | None: ...

    async def send(self, msg: object) -> None: ...

    async def send_encoded(self, data: bytes) -> None: ...

    async def receive(self) -> object: ...

    async def aclose(self, reason: str = "closing") -> None: ...


class Transport(Protocol):
    """Listener and dialler; both raise and count as ``hartnode.gossip.transport`` does.

    ``priority(node_id)``: whether a peer may take the listener's reserved slots.
    """

    async def serve(self, identity: NodeIdentity, network_key: bytes,
                    handler: Callable[[Connection], Awaitable[None]], *,
                    config: transport.TransportConfig, stats: transport.TransportStats,
                    priority: Callable[[str], bool] | None = None,
                    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None: ...

    async def dial(self, nursery: trio.Nursery, host: str, port: int, identity: NodeIdentity,
                   network_key: bytes, *, expected_node_id: str | None = None,
                   config: transport.TransportConfig,
                   stats: transport.TransportStats) -> Connection: ...


class SocketTransport:
    """The real transport: WebSockets on TCP (``hartnode.gossip.transport``)."""

    async def serve(self, identity: NodeIdentity, network_key: bytes,
                    handler: Callable[[Connection], Awaitable[None]], *,
                    config: transport.TransportConfig, stats: transport.TransportStats,
                    priority: Callable[[str], bool] | None = None,
                    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        await transport.serve(identity, network_key, handler, config=config, stats=stats,
                              priority=priority, task_status=task_status)

    async def dial(self, nursery: trio.Nursery, host: str, port: int, identity: NodeIdentity,
                   network_key: bytes, *, expected_node_id: str | None = None,
                   config: transport.TransportConfig,
                   stats: transport.TransportStats) -> Connection:
        return await transport.dial(nursery, host, port, identity, network_key,
                                    expected_node_id=expected_node_id, config=config,
                                    stats=stats)


@dataclass(eq=False)
class Link:
    """The gossip service's state for one open link."""

    peer: str
    conn: Connection
    initiator: str  # node id of the side that dialled
    bucket: TokenBucket  # what the peer may send us (DESIGN §3 byte budget)
    queue_bytes: int  # bound on ``queued_bytes``
    send: trio.MemorySendChannel[tuple[str, bytes]]
    receive: trio.MemoryReceiveChannel[tuple[str, bytes]]
    queued_bytes: int = 0
    replaced: bool = False  # closed by us on the cores' behalf: do not report it down
    # Bounds the sender's last flush once CloseLink closed the queue (DESIGN §2 grace period).
    flush: trio.CancelScope = field(default_factory=trio.CancelScope)
    full_since: float | None = None  # when a message last found the queue full, until a send
    stall: trio.CancelScope | None = None  # the send in progress
    # Traffic and latency for ``hartnode peers``: sealed frame bytes each way
    # (handshake and transport Pings excepted), the round trip of the last
    # membership Ping answered (seconds), and the Ping awaiting its Pong.
    bytes_in: int = 0
    bytes_out: int = 0
    rtt: float | None = None
    ping: tuple[int, float] | None = None  # (nonce, sent at)
    opened_at: float = 0.0  # trio time the link came up

    @classmethod
    def open(cls, peer: str, conn: Connection, initiator: str, bucket: TokenBucket,
             queue_bytes: int) -> Link:
        send, receive = trio.open_memory_channel[tuple[str, bytes]](SEND_QUEUE)
        return cls(peer, conn, initiator, bucket, queue_bytes, send, receive)

    def backlog(self) -> int:
        """Messages queued and not yet handed to the transport."""
        return self.send.statistics().current_buffer_used

    def offer(self, name: str, data: bytes, now: float, slow_reader_timeout: float) -> bool:
        """Queue one encoded message; False when the queue is full or closed.

        One message is always admitted to an empty queue, whatever its size
        (the wire bounds a frame; ``send_queue_bytes`` is at least one frame).
        """
        if self.queued_bytes and self.queued_bytes + len(data) > self.queue_bytes:
            self._full(now, slow_reader_timeout)
            return False
        try:
            self.send.send_nowait((name, data))
        except trio.WouldBlock:
            self._full(now, slow_reader_timeout)
            return False
        except trio.ClosedResourceError:
            return False
        self.queued_bytes += len(data)
        return True

    def _full(self, now: float, slow_reader_timeout: float) -> None:
        if self.full_since is None:
            self.full_since = now
            if self.stall is not None:
                self.stall.deadline = now + slow_reader_timeout

    async def run_sender(self, slow_reader_timeout: float,
                         sent: Callable[[str], None]) -> bool:
        """Hand queued messages to the transport until the queue closes.

        Returns False when the peer stopped reading (a send stalled for
        ``slow_reader_timeout`` behind a full queue), True otherwise (the queue
        was closed and flushed, or the link closed).

        Raises:
            Exception: whatever the transport raised but ``LinkClosed`` (the
                caller contains it to this link).
        """
        with self.flush:
            async for name, data in self.receive:
                self.queued_bytes -= len(data)
                with trio.CancelScope() as stall:
                    if self.full_since is not None:
                        stall.deadline = self.full_since + slow_reader_timeout
                    self.stall = stall
                    try:
                        await self.conn.send_encoded(data)
                    except transport.LinkClosed:
                        return True
                    finally:
                        self.stall = None
                if stall.cancelled_caught:
                    return False
                self.full_since = None  # it reads: whatever filled the queue is going out
                self.bytes_out += len(data) + TAG_BYTES  # the sealed frame the transport sent
                sent(name)
        return True

    def free(self) -> None:
        """Drop what is still queued (the link is gone): its memory goes at once."""
        self.send.close()
        self.receive.close()
        self.queued_bytes = 0
