"""Live updates for the web UI: server-sent events from the API thread (issue #13).

``GET /api/v1/events/stream`` is an ``text/event-stream``. The daemon (trio
thread) calls :meth:`LiveHub.publish` when something the UI shows changed:
new ledger events (committed or ingested), a maintenance operation's
progress. The hub hands each message to aiohttp's loop with
``call_soon_threadsafe`` (the trio side never blocks, and costs nothing
when no browser listens), and the loop copies it into every client's queue.

Bounded per client and in total: at most ``MAX_CLIENTS`` streams (the next
is refused with 503); each client's queue holds ``QUEUE_MAX`` messages, and
a client that falls that far behind is disconnected rather than buffered
(the browser's EventSource reconnects and the page re-reads what it shows);
a stream lives at most ``STREAM_MAX_S`` seconds (the session is re-checked
on reconnect); a comment line every ``HEARTBEAT_S`` seconds finds clients
that went away. Messages are small JSON objects (``MAX_MESSAGE_BYTES``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator

log = logging.getLogger(__name__)

#: Streams open at once.
MAX_CLIENTS = 16
#: Messages queued per client before it is disconnected as too slow.
QUEUE_MAX = 256
#: Seconds one stream lives before the server ends it (the browser reconnects).
STREAM_MAX_S = 600.0
#: Seconds between keep-alive comments.
HEARTBEAT_S = 15.0
#: Largest message, bytes of JSON; bigger ones are replaced by a "resync" hint.
MAX_MESSAGE_BYTES = 16 * 1024

_CLOSE = object()


class TooManyClientsError(RuntimeError):
    """``MAX_CLIENTS`` streams are open already."""


class LiveHub:
    """Fans messages out to the open event streams. ``publish`` from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Each stream's queue and the session it was opened with (None: the bearer
        # token), so a logout ends that session's streams at once.
        self._clients: dict[asyncio.Queue[object], str | None] = {}
        self._seq = 0  # message ids, so a browser sees a gap if it missed one
        self.dropped_clients = 0  # disconnected for falling QUEUE_MAX behind

    # -- any thread ---------------------------------------------------------

    def publish(self, kind: str, data: object) -> None:
        """Queue ``{"type": kind, "data": data}`` for every open stream."""
        with self._lock:
            loop, listening = self._loop, bool(self._clients)
        if loop is None or not listening:
            return  # nobody is watching: no JSON, no cross-thread call
        text = json.dumps({"type": kind, "data": data}, separators=(",", ":"))
        if len(text) > MAX_MESSAGE_BYTES:
            text = json.dumps({"type": "resync", "data": {"reason": f"{kind} too large"}})
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._fanout, text)

    # -- aiohttp's loop -----------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._loop = loop

    def close(self) -> None:
        """End every stream (server shutdown). Loop thread."""
        with self._lock:
            self._loop = None
            clients = list(self._clients)
        for queue in clients:
            self._close_client(queue)

    @property
    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    def _fanout(self, text: str) -> None:
        self._seq += 1
        with self._lock:
            clients = list(self._clients)
        for queue in clients:
            try:
                queue.put_nowait((self._seq, text))
            except asyncio.QueueFull:
                self.dropped_clients += 1
                self._close_client(queue)

    def _close_client(self, queue: asyncio.Queue[object]) -> None:
        with self._lock:
            self._clients.pop(queue, None)
        # Make room so the sentinel always fits: what it displaces is moot.
        while queue.full():
            queue.get_nowait()
        queue.put_nowait(_CLOSE)

    def open_client(self, owner: str | None = None) -> asyncio.Queue[object]:
        """A new stream's queue of ``(id, json text)`` messages, ended by a close
        sentinel. ``owner``: the browser session it belongs to (``close_owner``).
        Loop thread; pair with :meth:`release`.

        Raises:
            TooManyClientsError: ``MAX_CLIENTS`` streams are open.
        """
        queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_MAX)
        with self._lock:
            if len(self._clients) >= MAX_CLIENTS:
                raise TooManyClientsError(f"{MAX_CLIENTS} event streams are open already")
            self._clients[queue] = owner
        return queue

    def close_owner(self, owner: str) -> int:
        """End every stream opened by the session ``owner`` (its logout); how many.
        Loop thread."""
        with self._lock:
            mine = [q for q, o in self._clients.items() if o is not None and o == owner]
        for queue in mine:
            self._close_client(queue)
        return len(mine)

    def release(self, queue: asyncio.Queue[object]) -> None:
        """Forget a stream's queue (its client left). Loop thread; idempotent."""
        with self._lock:
            self._clients.pop(queue, None)


async def stream_messages(queue: asyncio.Queue[object], *, max_s: float = STREAM_MAX_S,
                          heartbeat_s: float = HEARTBEAT_S) -> AsyncIterator[bytes]:
    """The event-stream bytes for one client: messages, keep-alives, until the
    hub closes it or ``max_s`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_s
    yield b"retry: 2000\n\n"
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return
        try:
            item = await asyncio.wait_for(queue.get(), min(heartbeat_s, left))
        except TimeoutError:
            yield b": keep-alive\n\n"
            continue
        if item is _CLOSE:
            return
        assert isinstance(item, tuple)
        yield f"id: {item[0]}\ndata: {item[1]}\n\n".encode()
