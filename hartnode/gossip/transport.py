"""The trio shell around handshake, sealed frames and wire: the only socket code (DESIGN §2-3).

A link is one WebSocket (``ws://HOST:6778/hart``, binary messages only). Its
life, read top to bottom:

1. TCP accept or connect. An inbound connection first needs a slot
   (``inbound_slots.py``: a bounded share for pending handshakes, a few per
   address group, the last slots for priority peers); without one it is
   answered HTTP 503.
2. WebSocket upgrade on ``config.path``.
3. The handshake (``handshake.py``), one WebSocket message per handshake
   message. A failure closes the TCP stream without a word: a peer without
   the network key gets nothing back (it is logged at warning, throttled,
   with a hint to check the network key, on both ends).
4. Sealed frames (``secretbox.py``) carrying wire messages (``wire.py``).

Steps 1-3 must finish within ``handshake_timeout``, and an inbound
connection must deliver its first handshake message within
``first_message_timeout``; one that hangs up frees its slot at once. Afterwards a link that
receives nothing for ``idle_timeout`` is closed; the keepalive cadence that
prevents it belongs to the membership core, which sends ``wire.Ping`` (this
module answers a peer's Ping with a Pong by itself and hands Pongs up).

Every protocol decision lives in the sans-I/O modules; this one moves bytes,
keeps time, and turns each failure into a counted reason that ends only its
own link: a text frame, an oversize frame, a frame that fails to open, or one
that fails to decode. A sealed ``wire.Close`` ends a link cleanly; a stream
that stops without one ends as ``connection_lost`` (it may be a truncation).

Entry points: ``serve(...)`` for the listener (``await nursery.start(serve,
...)`` returns the bound port) and ``dial(nursery, ...)`` for an outbound link.
Both hand out ``SecureConnection`` objects.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Final

import trio
import trio_websocket
from trio_websocket import ConnectionClosed as WsClosed
from trio_websocket import WebSocketConnection

from hartnode.gossip import wire
from hartnode.gossip.handshake import (
    EPHEMERAL_BYTES,
    HandshakeError,
    HandshakeResult,
    Initiator,
    Responder,
    State,
)
from hartnode.gossip.inbound_slots import InboundSlots, SlotLimits, WarnThrottle, address_key
from hartnode.gossip.secretbox import TAG_BYTES, FrameError, FrameOpener, FrameSealer
from hartnode.identity import NodeIdentity, short_id
from hartnode.protocol import ReasonedError

log = logging.getLogger(__name__)

DEFAULT_HOST: Final = "0.0.0.0"
DEFAULT_PORT: Final = 6778
DEFAULT_PATH: Final = "/hart"
_CLOSE_REASON_CHARS: Final = 200  # of a peer's Close reason kept for logs
_HANDSHAKE_MESSAGE_MAX: Final = 256  # bytes; the largest handshake message is 176
_WS_MESSAGE_TOO_BIG: Final = 1009  # RFC 6455 close code trio-websocket uses for oversize
MISMATCH_WARN_INTERVAL: Final = 60.0  # seconds between two network-key mismatch warnings
_NO_ANSWER_TO_HELLO: Final = "closed after msg1"  # DialError detail
MISMATCH_HINT: Final = "check network.name / network.key: the peer may be on another network"
# One per process: a scanner may hit the listener and make dials fail at once.
_mismatch_warnings = WarnThrottle(MISMATCH_WARN_INTERVAL)


@dataclass(frozen=True)
class TransportConfig:
    """Listener and link settings. Times are in seconds."""

    host: str = DEFAULT_HOST  # listen address; a literal address, one listener
    port: int = DEFAULT_PORT  # listen port; 0 lets the kernel choose (tests)
    path: str = DEFAULT_PATH  # WebSocket resource path
    max_connections: int = 128  # concurrent inbound links, including those still handshaking
    pending_share: float = 0.5  # of max_connections that handshakes in progress may hold
    max_pending_per_address: int = 4  # handshakes in progress from one IPv4 address or IPv6 /64
    reserved_share: float = 0.125  # of max_connections kept for priority peers (parents, certified)
    max_links_per_address: int = 8  # established inbound links per address group (priority aside)
    handshake_rate_per_address: float = 2.0  # new handshakes per second from one address group
    handshake_burst_per_address: int = 16  # handshakes one address group may start at once
    handshake_timeout: float = 10.0  # from TCP accept/connect to a finished handshake
    first_message_timeout: float = 3.0  # from TCP accept to the peer's first handshake message
    idle_timeout: float = 120.0  # without any received frame before a link is dropped
    close_timeout: float = 2.0  # granted to an orderly close, even during shutdown
    refuse_timeout: float = 1.0  # for answering 503 to a connection over max_connections
    message_queue_size: int = 4  # received frames buffered per link (backpressure beyond)
    wire_limits: wire.Limits = wire.DEFAULT_LIMITS  # bounds on every decoded message
    source_address: str | None = None  # local address outbound dials leave from (None: any)

    @property
    def max_message_bytes(self) -> int:
        """Largest WebSocket message accepted: one wire frame plus its tag."""
        return self.wire_limits.max_frame_bytes + TAG_BYTES


@dataclass
class TransportStats:
    """Counters for ``/metrics``; each counter is keyed by a stable reason.

    ``handshake_failures`` keys: ``handshake.HANDSHAKE_REASONS`` plus
    ``timeout`` (also a peer whose HTTP upgrade never parses), ``connection_lost``,
    ``first_message_timeout``, ``text_frame`` and, when dialling,
    ``connect_failed`` and ``rejected``.
    ``decode_errors``: ``wire.DECODE_REASONS``.
    ``frame_errors``: ``secretbox.FRAME_REASONS`` plus ``text_frame`` and
    ``too_large``. ``refused``: ``connection_limit``, ``pending_limit``,
    ``address_limit``, ``address_rate``, ``address_links``, ``reserved_slots``
    (see ``inbound_slots``), ``bad_path``.
    ``links_closed``: ``LinkClosed.reason`` values.
    ``link_bytes``: ``sent`` and ``received``, sealed frame bytes over every link
    (WebSocket and TCP headers not included), handshakes excepted.
    """

    handshake_failures: collections.Counter[str] = field(default_factory=collections.Counter)
    decode_errors: collections.Counter[str] = field(default_factory=wire.decode_error_counter)
    frame_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    links_closed: collections.Counter[str] = field(default_factory=collections.Counter)
    link_bytes: collections.Counter[str] = field(default_factory=collections.Counter)
    links_opened: int = 0  # handshakes completed, both directions
    inbound_active: int = 0  # inbound connections now held (gauge)
    inbound_pending: int = 0  # of which still handshaking (gauge)


class TransportError(ReasonedError[str]):
    """Base of this module's errors; ``reason`` is a stable metrics label. Either
    side may be at fault (``closed_locally`` and ``closed_by_peer`` are both links
    ending), so it derives from the plain base."""


class DialError(TransportError):
    """An outbound link could not be established (see TransportStats.handshake_failures)."""


class LinkClosed(TransportError):
    """The link is over. ``reason``: ``closed_locally``, ``closed_by_peer``,
    ``connection_lost``, ``idle_timeout``, ``text_frame``, ``frame_too_large``,
    ``frame_error`` or ``decode_error`` (``detail`` names the sub-reason)."""

    def copy(self) -> LinkClosed:
        """A fresh instance to raise (re-raising one instance piles up tracebacks)."""
        return LinkClosed(self.reason, self.detail)


class _TextFrame(Exception):
    """Internal: a text WebSocket message where only binary ones are allowed."""


def _endpoint(ws: WebSocketConnection) -> str:
    remote = ws.remote
    if isinstance(remote, trio_websocket.Endpoint):
        return f"{remote.address}:{remote.port}"
    return str(remote)


class SecureConnection(trio.abc.AsyncResource):
    """One authenticated, sealed link. Made by ``serve`` and ``dial`` only.

    ``send`` may be called from several tasks (sends are serialized, because
    the frame counter must match the order on the wire); ``receive`` should
    have one consumer task.
    """

    def __init__(
        self,
        ws: WebSocketConnection,
        result: HandshakeResult,
        *,
        initiator: bool,
        config: TransportConfig,
        stats: TransportStats,
        remote_address: str | None = None,
    ) -> None:
        self._ws = ws
        self._sealer = FrameSealer(result.send_key)
        self._opener = FrameOpener(result.receive_key)
        self._config = config
        self._stats = stats
        self._send_lock = trio.StrictFIFOLock()
        self._receive_lock = trio.StrictFIFOLock()
        self._closed: LinkClosed | None = None
        self._closed_event = trio.Event()
        # Sealed size of the last frame ``receive`` returned: what the link
        # carried, for a byte budget, without encoding the message again.
        self.last_frame_bytes = 0
        self.remote_node_id: str = result.remote_node_id
        self.handshake_hash: bytes = result.handshake_hash
        self.is_initiator = initiator
        self.remote_address = remote_address or _endpoint(ws)

    def __repr__(self) -> str:
        side = "out" if self.is_initiator else "in"
        return f"<SecureConnection {side} {short_id(self.remote_node_id)}@{self.remote_address}>"

    @property
    def closed(self) -> LinkClosed | None:
        """Why the link ended, or None while it is open."""
        return self._closed

    async def wait_closed(self) -> None:
        """Return once the link has ended, for whatever reason."""
        await self._closed_event.wait()

    async def send(self, msg: object) -> None:
        """Encode, seal and send one registered wire message.

        Raises:
            LinkClosed: the link is over (before or during the send).
            wire.EncodeError: ``msg`` is not a valid registered message (our bug).
        """
        await self.send_encoded(wire.encode(msg, self._config.wire_limits))

    async def send_encoded(self, data: bytes) -> None:
        """Seal and send one message ``wire.encode`` made (a sender that bounds its
        queue in bytes encodes when it queues, and only once).

        Raises:
            LinkClosed: the link is over (before or during the send).
        """
        async with self._send_lock:
            if self._closed is not None:
                raise self._closed.copy()
            frame = self._sealer.seal(data)
            try:
                await self._ws.send_message(frame)
                self._stats.link_bytes["sent"] += len(frame)
                return
            except WsClosed:
                pass
        raise await self._end("connection_lost", notify=False)

    async def receive(self) -> object:
        """Return the next wire message from the peer.

        Pings are answered here and not returned; a sealed Close ends the link.

        Raises:
            LinkClosed: the link is over; every failure of the peer's frames
                (text, oversize, unsealed, undecodable) lands here after being
                counted in ``TransportStats``.
        """
        async with self._receive_lock:
            while True:
                msg = await self._receive_one()
                if type(msg) is wire.Ping:
                    await self.send(wire.Pong(msg.nonce))
                    continue
                if type(msg) is wire.Close:
                    detail = msg.reason[:_CLOSE_REASON_CHARS]
                    raise await self._end("closed_by_peer", detail, notify=False)
                return msg

    async def _receive_one(self) -> object:
        if self._closed is not None:
            raise self._closed.copy()
        with trio.move_on_after(self._config.idle_timeout) as idle:
            try:
                frame = await self._ws.get_message()
            except WsClosed:
                close = self._ws.closed
                if close is not None and close.code == _WS_MESSAGE_TOO_BIG:
                    self._stats.frame_errors["too_large"] += 1
                    raise await self._end("frame_too_large", notify=False) from None
                raise await self._end("connection_lost", notify=False) from None
        if idle.cancelled_caught:
            raise await self._end("idle_timeout")
        if not isinstance(frame, bytes):
            self._stats.frame_errors["text_frame"] += 1
            raise await self._end("text_frame")
        self._stats.link_bytes["received"] += len(frame)
        try:
            plaintext = self._opener.open(frame)
        except FrameError as e:
            self._stats.frame_errors[e.reason] += 1
            raise await self._end("frame_error", e.reason) from None
        self.last_frame_bytes = len(frame)
        try:
            return wire.decode(plaintext, self._config.wire_limits)
        except wire.DecodeError as e:
            self._stats.decode_errors[e.reason] += 1
            raise await self._end("decode_error", e.reason) from None

    async def aclose(self, reason: str = "closing") -> None:
        """Close the link politely: a sealed ``Close(reason)``, then the socket.

        Idempotent; returns once the link is fully closed (whoever started the
        close), bounded by ``close_timeout`` even when the caller is cancelled.
        """
        await self._end("closed_locally", reason)
        with trio.CancelScope(shield=True):  # bounded: the closing task has a deadline
            await self._closed_event.wait()

    async def _end(self, reason: str, detail: str = "", *, notify: bool = True) -> LinkClosed:
        """End the link once: count it, tell the peer if we can, close the socket.

        Returns a LinkClosed for the caller to raise (a copy of the first one,
        if the link had already ended).
        """
        if self._closed is not None:
            return self._closed.copy()
        self._closed = LinkClosed(reason, detail)
        self._stats.links_closed[reason] += 1
        log.info("link_down peer=%s addr=%s dir=%s reason=%s detail=%s",
                 short_id(self.remote_node_id), self.remote_address,
                 "out" if self.is_initiator else "in", reason, detail or "-")
        # During shutdown the WebSocket reader task is cancelled with us, so the
        # WebSocket close handshake could never complete: then send only the
        # sealed Close (our protocol's own clean-close signal) and drop the socket.
        shutting_down = trio.current_effective_deadline() == -math.inf
        # Shielded so that shutdown still closes links in order (DESIGN §2:
        # ask links to close, wait a bounded grace period, then cancel).
        with trio.CancelScope(shield=True):
            deadline = trio.current_time() + self._config.close_timeout
            if notify:
                close = wire.Close(f"{reason}:{detail}" if detail else reason)
                # Its own scope: a send stuck behind a peer that stopped reading
                # must not keep the socket open past the deadline.
                with trio.move_on_at(deadline):
                    async with self._send_lock:
                        with contextlib.suppress(WsClosed):
                            await self._ws.send_message(self._sealer.seal(wire.encode(close)))
            # Even past its deadline, aclose() closes the TCP stream (in a finally).
            with trio.move_on_at(-math.inf if shutting_down else deadline):
                await self._ws.aclose()
        self._closed_event.set()
        return self._closed.copy()


def _allow_messages_up_to(ws: WebSocketConnection, size: int) -> None:
    """Raise the WebSocket message limit once the peer is authenticated.

    Until then the limit is ``_HANDSHAKE_MESSAGE_MAX``, so an unauthenticated
    peer can make us buffer only a few hundred bytes, not megabytes. The
    library takes the limit only at construction, hence the private attribute
    (read per message in trio-websocket 0.11-0.12); should it ever be renamed,
    ``test_large_messages_after_handshake`` fails at once.
    """
    ws._max_message_size = size


async def _run_handshake(
    ws: WebSocketConnection, core: Initiator | Responder, first: bytes | None,
    max_message_bytes: int, first_scope: trio.CancelScope | None = None,
) -> HandshakeResult:
    """Move handshake messages between ``ws`` and the sans-I/O core until it is done.

    The message limit is raised to ``max_message_bytes`` *before* this side's
    last handshake message goes out, since the peer sends its first frames the
    moment that message arrives, and our WebSocket reader (its own task) would
    refuse them as too large (close code 1009) if they came in before we got to
    raise the limit. The initiator has authenticated the responder by then.
    The responder's last message is msg2, sent before msg3 authenticates the
    initiator: it raises the limit once msg1's network-key MAC verified (a
    peer of this network, or a replay of one's msg1), so until the handshake
    timeout such a peer can make it buffer one frame (64 KiB) per queued
    message, not megabytes. Raising it only after msg3 lost the initiator's
    first large frame (a peer record with its certificate chain) in a
    real-process hierarchy run (``frame_too_large`` at the responder; a race
    between two tasks that no in-process test reproduced on demand).

    ``first_scope`` (the listener's pre-handshake deadline) is lifted once
    the peer's first handshake message has arrived.
    """
    if first is not None:
        await ws.send_message(first)
    while core.result is None:
        data = await ws.get_message()
        if first_scope is not None:
            first_scope.deadline = math.inf
        if not isinstance(data, bytes):
            raise _TextFrame
        outs = core.receive(data)
        if core.result is not None or (outs and isinstance(core, Responder)):
            _allow_messages_up_to(ws, max_message_bytes)
        for out in outs:
            await ws.send_message(out)
    return core.result


class _WatchedStream(trio.abc.Stream):
    """A socket stream that tells when the peer hung up (EOF or a reset).

    trio-websocket waits for the HTTP upgrade request until the handshake
    timeout even when the socket has already closed under it, so a connect
    and close loop kept slots taken for nothing; with this, a hang-up frees
    the slot at once.
    """

    def __init__(self, inner: trio.SocketStream) -> None:
        self.inner = inner
        self.hung_up = trio.Event()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            data = await self.inner.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.hung_up.set()
            raise
        if not data:
            self.hung_up.set()
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


def _stream_address(stream: trio.SocketStream) -> tuple[str, int]:
    try:
        name = stream.socket.getpeername()
    except OSError:
        return "", 0
    if isinstance(name, tuple):
        return str(name[0]), int(name[1])
    return str(name), 0


def _warn_mismatch(direction: str, peer: str, reason: str) -> None:
    """Log a likely network-key mismatch at warning, at most once a minute per direction."""
    held_back = _mismatch_warnings.allow(direction, trio.current_time())
    if held_back is not None:
        log.warning("handshake_failed dir=%s peer=%s reason=%s suppressed=%d hint: %s",
                    direction, peer, reason, held_back, MISMATCH_HINT)


class _Listener:
    """Per-listener state: the slot accounting and the per-connection lifecycle."""

    def __init__(
        self,
        identity: NodeIdentity,
        network_key: bytes,
        handler: Callable[[SecureConnection], Awaitable[None]],
        config: TransportConfig,
        stats: TransportStats,
        priority: Callable[[str], bool] | None = None,
    ) -> None:
        self._identity = identity
        self._network_key = network_key
        self._handler = handler
        self._config = config
        self._stats = stats
        self._priority = priority or (lambda node_id: False)
        self._slots = InboundSlots(SlotLimits(
            config.max_connections, config.pending_share, config.max_pending_per_address,
            config.reserved_share, config.max_links_per_address,
            config.handshake_rate_per_address, config.handshake_burst_per_address))
        self._refusing = 0  # 503 answers in progress, bounded like the slots

    async def handle_stream(self, stream: trio.SocketStream) -> None:
        host, port = _stream_address(stream)
        key = address_key(host)
        refusal = self._slots.admit(key, trio.current_time())
        if refusal in ("address_limit", "address_rate"):
            # That address already holds its share of pending handshakes, or
            # starts them too fast: a dialer flooding us is owed no polite 503
            # (reading its request would cost more than the close), so one
            # address cannot buy CPU.
            self._stats.refused[refusal] += 1
            await trio.aclose_forcefully(stream)
            return
        if refusal is not None:
            self._stats.refused[refusal] += 1
            await self._refuse(stream)
            return
        self._sync_gauges()
        established = False
        try:
            async with trio.open_nursery() as nursery:
                conn = await self._accept(nursery, stream, f"{host}:{port}")
                refusal = None if conn is None else self._slots.handshake_done(
                    key, priority=self._priority(conn.remote_node_id))
                if conn is not None and refusal is not None:
                    self._stats.refused[refusal] += 1
                    self._sync_gauges()
                    await conn.aclose("no free slot")
                elif conn is not None:
                    established = True
                    self._sync_gauges()
                    try:
                        await self._handler(conn)
                    except LinkClosed:
                        pass  # counted when it ended
                    finally:
                        await conn.aclose()
                else:
                    self._slots.handshake_failed(key)
                    self._sync_gauges()
                nursery.cancel_scope.cancel()  # ends the WebSocket reader task
        finally:
            # We own the stream: trio-websocket does not always close it.
            await trio.aclose_forcefully(stream)
            if established:
                self._slots.link_ended(key)
            self._sync_gauges()

    def _sync_gauges(self) -> None:
        self._stats.inbound_active = self._slots.held
        self._stats.inbound_pending = self._slots.pending

    async def _refuse(self, stream: trio.SocketStream) -> None:
        """Answer HTTP 503 and hang up, within ``refuse_timeout``.

        A plain TCP close would be cheaper, but trio-websocket's client would
        then wait out its whole handshake timeout; a 503 lets a dialer move on
        to its next candidate at once. Beyond ``max_connections`` answers in
        progress (a flood), the socket is just closed.
        """
        if self._refusing >= self._config.max_connections:
            await trio.aclose_forcefully(stream)
            return
        self._refusing += 1
        watched = _WatchedStream(stream)
        try:
            async with trio.open_nursery() as nursery:
                with trio.move_on_after(self._config.refuse_timeout) as scope:
                    nursery.start_soon(_cancel_on_hang_up, watched, scope)
                    request = await trio_websocket.wrap_server_stream(
                        nursery, watched, max_message_size=_HANDSHAKE_MESSAGE_MAX
                    )
                    await request.reject(503)
                nursery.cancel_scope.cancel()
        finally:
            self._refusing -= 1
            await trio.aclose_forcefully(stream)

    async def _accept(
        self, nursery: trio.Nursery, stream: trio.SocketStream, address: str
    ) -> SecureConnection | None:
        """Upgrade and authenticate one inbound stream; None when it failed (counted)."""
        failures = self._stats.handshake_failures
        watched = _WatchedStream(stream)
        with trio.move_on_after(self._config.handshake_timeout) as timer:
            first = trio.CancelScope(deadline=trio.current_time()
                                     + self._config.first_message_timeout)
            watcher = trio.CancelScope()
            nursery.start_soon(_cancel_on_hang_up, watched, timer, watcher)
            try:
                with first:
                    request = await trio_websocket.wrap_server_stream(
                        nursery,
                        watched,
                        message_queue_size=self._config.message_queue_size,
                        max_message_size=_HANDSHAKE_MESSAGE_MAX,
                    )
                    if request.path != self._config.path:
                        self._stats.refused["bad_path"] += 1
                        await request.reject(404)
                        return None
                    ws = await request.accept()
                    responder = Responder(
                        self._identity, self._network_key, os.urandom(EPHEMERAL_BYTES)
                    )
                    result = await _run_handshake(ws, responder, None,
                                                  self._config.max_message_bytes, first)
            except HandshakeError as e:
                failures[e.reason] += 1
                if e.reason == "bad_network_key":
                    _warn_mismatch("in", address, e.reason)
                log.debug("handshake_failed dir=in reason=%s detail=%s", e.reason, e.detail)
                return None
            except WsClosed:
                failures["connection_lost"] += 1
                return None
            except _TextFrame:
                failures["text_frame"] += 1
                return None
            finally:
                watcher.cancel()
            if first.cancelled_caught:
                failures["first_message_timeout"] += 1
                return None
        if timer.cancelled_caught:
            failures["connection_lost" if watched.hung_up.is_set() else "timeout"] += 1
            return None
        conn = SecureConnection(ws, result, initiator=False, config=self._config,
                                stats=self._stats, remote_address=address)
        self._stats.links_opened += 1
        log.info("link_up peer=%s addr=%s dir=in", short_id(conn.remote_node_id), address)
        return conn


async def _cancel_on_hang_up(
    watched: _WatchedStream, target: trio.CancelScope, own: trio.CancelScope | None = None
) -> None:
    """Cancel ``target`` once the peer hangs up (until ``own`` is cancelled)."""
    with own if own is not None else trio.CancelScope():
        await watched.hung_up.wait()
        target.cancel()


async def serve(
    identity: NodeIdentity,
    network_key: bytes,
    handler: Callable[[SecureConnection], Awaitable[None]],
    *,
    config: TransportConfig = TransportConfig(),  # frozen, so one shared default is safe
    stats: TransportStats | None = None,
    priority: Callable[[str], bool] | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen for links and run ``handler(conn)`` for each authenticated one.

    Calls ``task_status.started(port)`` once the socket is bound and listening,
    then runs until cancelled. The link is closed when ``handler`` returns;
    a ``LinkClosed`` escaping ``handler`` ends only that link. Failed
    handshakes and bad frames are counted in ``stats`` and never reach
    ``handler`` or disturb other links.

    Args:
        identity: our node identity, proven to every peer.
        network_key: the 32-byte network key.
        handler: called once per authenticated inbound link, in its own task.
        config: addresses, limits and timeouts.
        stats: where to count; a fresh TransportStats when None.
        priority: whether an authenticated node id may take one of the
            reserved slots (``TransportConfig.reserved_share``); none may when None.

    Raises:
        OSError: the address cannot be bound.
    """
    stats = stats if stats is not None else TransportStats()
    listeners = await trio.open_tcp_listeners(config.port, host=config.host)
    listener = _Listener(identity, network_key, handler, config, stats, priority)
    port: int = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(trio.serve_listeners, listener.handle_stream, listeners))
        log.info("listening host=%s port=%d path=%s", config.host, port, config.path)
        task_status.started(port)


async def dial(
    nursery: trio.Nursery,
    host: str,
    port: int,
    identity: NodeIdentity,
    network_key: bytes,
    *,
    expected_node_id: str | None = None,
    config: TransportConfig = TransportConfig(),  # frozen, so one shared default is safe
    stats: TransportStats | None = None,
) -> SecureConnection:
    """Open an authenticated link to ``host:port``.

    The link's background task runs in ``nursery`` until the link is closed;
    close it with ``await conn.aclose()`` (or ``async with conn``).

    Args:
        nursery: owns the link's background task.
        host, port: the peer's listener; ``config.path`` is the resource.
        identity: our node identity.
        network_key: the 32-byte network key.
        expected_node_id: abort unless the peer proves this node id.
        config: limits and timeouts (``handshake_timeout`` bounds the whole dial).
        stats: where to count; a fresh TransportStats when None.

    Raises:
        DialError: ``reason`` is a handshake reason (``unexpected_node_id``,
            ``bad_network_key``, ...) or ``timeout``, ``connect_failed``,
            ``rejected``, ``connection_lost``, ``text_frame``; it is counted in
            ``stats.handshake_failures`` too.
    """
    stats = stats if stats is not None else TransportStats()
    conn: SecureConnection = await nursery.start(
        _dialled_link, host, port, identity, network_key, expected_node_id, config, stats
    )
    return conn


async def _dialled_link(
    host: str,
    port: int,
    identity: NodeIdentity,
    network_key: bytes,
    expected_node_id: str | None,
    config: TransportConfig,
    stats: TransportStats,
    *,
    task_status: trio.TaskStatus[SecureConnection],
) -> None:
    """Connect, upgrade, authenticate; then hold the link's reader task until it ends."""
    deadline = trio.current_time() + config.handshake_timeout
    # We open and close the TCP stream ourselves: trio-websocket's client leaves
    # it open when the server is the one that closes.
    stream: trio.SocketStream | None = None
    with trio.move_on_at(deadline):
        try:
            stream = await trio.open_tcp_stream(host, port, local_address=config.source_address)
        except OSError as e:
            raise _dial_failed(stats, host, port, "connect_failed", repr(e)) from None
    if stream is None:
        raise _dial_failed(stats, host, port, "timeout")
    try:
        async with trio.open_nursery() as nursery:  # holds the WebSocket reader task
            outcome = await _client_handshake(
                nursery, stream, host, port, identity, network_key, expected_node_id,
                config, stats, deadline,
            )  # fmt: skip
            if isinstance(outcome, SecureConnection):
                task_status.started(outcome)
                try:
                    await outcome.wait_closed()
                finally:
                    await outcome.aclose()
                    nursery.cancel_scope.cancel()  # the reader: a peer may keep TCP open
                return
            failure = outcome
            nursery.cancel_scope.cancel()
    except* trio_websocket.ConnectionRejected as group:
        # raised in the reader task, hence the exception group
        failure = ("rejected", str(getattr(group.exceptions[0], "status_code", "")))
    finally:
        await trio.aclose_forcefully(stream)
    raise _dial_failed(stats, host, port, *failure)


def _dial_failed(
    stats: TransportStats, host: str, port: int, reason: str, detail: str = ""
) -> DialError:
    stats.handshake_failures[reason] += 1
    if reason == "bad_network_key" or detail == _NO_ANSWER_TO_HELLO:
        _warn_mismatch("out", f"{host}:{port}", reason)
    log.debug("handshake_failed dir=out peer=%s:%d reason=%s detail=%s", host, port, reason, detail)
    return DialError(reason, detail)


async def _client_handshake(
    nursery: trio.Nursery,
    stream: trio.SocketStream,
    host: str,
    port: int,
    identity: NodeIdentity,
    network_key: bytes,
    expected_node_id: str | None,
    config: TransportConfig,
    stats: TransportStats,
    deadline: float,
) -> SecureConnection | tuple[str, str]:
    """Upgrade and authenticate an outbound stream; a (reason, detail) pair on failure."""
    initiator: Initiator | None = None
    with trio.move_on_at(deadline):
        try:
            ws = await trio_websocket.wrap_client_stream(
                nursery,
                stream,
                f"{host}:{port}",  # the Host header
                config.path,
                message_queue_size=config.message_queue_size,
                max_message_size=_HANDSHAKE_MESSAGE_MAX,
            )
            initiator = Initiator(
                identity, network_key, os.urandom(EPHEMERAL_BYTES), expected_node_id
            )
            result = await _run_handshake(ws, initiator, initiator.start(),
                                          config.max_message_bytes)
        except HandshakeError as e:
            return e.reason, e.detail
        except _TextFrame:
            return "text_frame", ""
        except WsClosed:
            # A responder drops a msg1 whose network-key MAC fails without a
            # word, so silence right after our first message is the dialer's
            # only sign of a network-key mismatch.
            hello_only = initiator is not None and initiator.state is State.WAIT_MSG2
            return "connection_lost", _NO_ANSWER_TO_HELLO if hello_only else ""
        conn = SecureConnection(ws, result, initiator=True, config=config, stats=stats)
        stats.links_opened += 1
        log.info("link_up peer=%s addr=%s dir=out", short_id(conn.remote_node_id),
                 conn.remote_address)
        return conn
    return "timeout", ""
