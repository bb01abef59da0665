"""The one place asyncio (aiohttp) and trio meet (DESIGN §5).

aiohttp needs asyncio, the daemon is trio, and the two cannot share a loop.
So aiohttp runs in its own thread with its own asyncio loop (``server``), and
every request handler that needs node state calls::

    info = await bridge.call(backend.node_info)

which runs ``backend.node_info()`` as a task in the trio loop, in a nursery
the bridge owns, and hands the result (or exception) back to the asyncio
side through an asyncio future resolved with ``loop.call_soon_threadsafe``.

Why ``TrioToken.run_sync_soon`` and not ``trio.from_thread.run_sync``: the
latter blocks the calling thread until trio has run the function, so a busy
or wedged trio loop would stall the whole asyncio loop, and every other
request with it. ``run_sync_soon`` is the non-blocking primitive underneath
it: it only queues a callback, which then starts the task in the bridge's
nursery. The asyncio side never blocks; it only awaits its future.

Shutdown: when the bridge closes (its nursery is cancelled because the
daemon is stopping), pending calls are cancelled on the trio side and fail
on the asyncio side with :class:`BridgeClosedError`; later calls fail with it
at once. If the asyncio caller is cancelled instead (its client went away),
the trio task is cancelled too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar, TypeVarTuple, Unpack

import trio

log = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class BridgeClosedError(RuntimeError):
    """The trio side is shutting down or gone; the call was cancelled or never ran."""


class TrioBridge:
    """Runs trio async functions on behalf of asyncio code in another thread.

    Create it with :func:`open_bridge` in the trio thread; call :meth:`call`
    from the asyncio thread. It is safe to call from any number of asyncio
    tasks at once.
    """

    def __init__(self, token: trio.lowlevel.TrioToken, nursery: trio.Nursery) -> None:
        self._token = token
        self._nursery = nursery
        # Read and written only in the trio thread (run_sync_soon callbacks
        # run there), so it needs no lock.
        self._closed = False

    async def call(self, fn: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts) -> T:
        """Run ``await fn(*args)`` in the trio loop and return its result.

        Call this from the asyncio loop's thread only; it never blocks that
        loop. The function runs as its own task in the bridge's nursery, so it
        may use any trio API.

        Args:
            fn: a trio async function.
            args: its positional arguments.

        Returns:
            What ``fn`` returned.

        Raises:
            BridgeClosedError: the trio side is shutting down or has exited,
                so the call was cancelled or never started.
            Exception: whatever ``fn`` raised, unchanged.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        # Created here, entered by the trio task, cancelled from here via the
        # token if the asyncio caller gives up.
        scope = trio.CancelScope()
        try:
            self._token.run_sync_soon(self._start, fn, args, loop, future, scope)
        except trio.RunFinishedError:
            raise BridgeClosedError("the node's trio loop has exited") from None
        try:
            return await future
        except asyncio.CancelledError:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(scope.cancel)
            raise

    def close(self) -> None:
        """Refuse new calls and cancel pending ones. Trio thread only; idempotent."""
        self._closed = True
        self._nursery.cancel_scope.cancel()

    # --- trio side ------------------------------------------------------------
    # Everything below runs in the trio thread. _start runs as a run_sync_soon
    # callback, where an exception would crash the whole trio run
    # (TrioInternalError), so it must never raise.

    def _start(
        self,
        fn: Callable[[Unpack[Ts]], Awaitable[T]],
        args: tuple[*Ts],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[T],
        scope: trio.CancelScope,
    ) -> None:
        if self._closed:
            _fail(loop, future, BridgeClosedError("the node is shutting down"))
            return
        try:
            self._nursery.start_soon(self._run, fn, args, loop, future, scope, name=fn)
        except RuntimeError:
            # The nursery is already closed to new tasks.
            _fail(loop, future, BridgeClosedError("the node is shutting down"))

    @staticmethod
    async def _run(
        fn: Callable[[Unpack[Ts]], Awaitable[T]],
        args: tuple[*Ts],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[T],
        scope: trio.CancelScope,
    ) -> None:
        try:
            with scope:
                result = await fn(*args)
                _succeed(loop, future, result)
            # Reaching here without a result means the asyncio side cancelled
            # `scope`; its future is already cancelled, so nothing to deliver.
        except trio.Cancelled:
            # The bridge's nursery is being cancelled: the daemon is stopping.
            _fail(loop, future, BridgeClosedError("the node is shutting down; call cancelled"))
            raise
        except Exception as exc:
            # The caller's error belongs to the caller (an HTTP handler turns
            # it into a response); it must not take down the bridge's nursery.
            _fail(loop, future, exc)
        except BaseException:
            # KeyboardInterrupt / SystemExit / groups holding Cancelled: the
            # process is going down. Release the caller, then let it propagate.
            _fail(loop, future, BridgeClosedError("the node is shutting down; call aborted"))
            raise


def _succeed(loop: asyncio.AbstractEventLoop, future: asyncio.Future[T], result: T) -> None:
    def settle() -> None:
        if not future.done():  # the asyncio side may have cancelled it meanwhile
            future.set_result(result)

    _post(loop, settle)


def _fail(loop: asyncio.AbstractEventLoop, future: asyncio.Future[T], error: BaseException) -> None:
    def settle() -> None:
        if not future.done():
            future.set_exception(error)

    _post(loop, settle)


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:
        # The asyncio loop is closed: nobody is waiting for this result.
        log.debug("bridge: asyncio loop closed; dropping a result")


@contextlib.asynccontextmanager
async def open_bridge() -> AsyncIterator[TrioBridge]:
    """Open a bridge whose calls run in a nursery owned by this context.

    Use from the trio thread; hand the bridge to the asyncio thread. On exit
    the bridge is closed: pending calls fail with :class:`BridgeClosedError`.
    """
    async with trio.open_nursery() as nursery:
        bridge = TrioBridge(trio.lowlevel.current_trio_token(), nursery)
        try:
            yield bridge
        finally:
            bridge.close()
