"""The search service: the indexer's trio shell in the daemon.

Reads and writes of ``state.sqlite`` run on the store's thread
(``StoreAccess``); embedding and index work run on trio worker threads, so
neither the trio loop nor the store waits for a model. The service wakes
when recipe events are committed or ingested (``wake``), embeds what is
new, updates the index, and saves it at most every ``SAVE_INTERVAL_S``
and once more on the way out.

An embedder that cannot load (its extra is missing) does not stop the node:
search answers that it is unavailable and why, everything else runs.

A node that holds no recipe opens nothing: the embedder, numpy and hnswlib
(~20 MB of a daemon's ~60 MB idle, bench_daemon) load when the first recipe
arrives or the first search or reindex asks (``_needed``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from hartnode.apps.recipes import indexer as idx
from hartnode.apps.recipes.embedder import Embedder, EmbedderError
from hartnode.apps.recipes.index import VectorIndexError
from hartnode.apps.recipes.kinds import KINDS
from hartnode.apps.recipes.queries import QueryError
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.node_ledger import NodeLedger

log = logging.getLogger(__name__)
SAVE_INTERVAL_S = 60.0  # most seconds an index change waits to be written to disk
K_MAX = 100
QUERY_MAX_CHARS = 2000
READY_WAIT_S = 5.0  # how long a search waits for the index to open before it is refused
RECIPE_KINDS = frozenset(spec.kind for spec in KINDS)


class SearchUnavailable(RuntimeError):
    """Search cannot run on this node; the message says why and what to do."""


def touches_recipes(events: Sequence[Event]) -> bool:
    return any(e.kind in RECIPE_KINDS for e in events)


class SearchService:
    def __init__(self, data_dir: Path, node_ledger: NodeLedger, access: StoreAccess,
                 make_embedder: Callable[[], Embedder]) -> None:
        self.data_dir = data_dir
        self.nl = node_ledger
        self.access = access
        self._make_embedder = make_embedder
        self.indexer: idx.Indexer | None = None
        self.unavailable = "the index is being opened"
        self._wake = trio.Event()
        self._work = trio.Lock()  # one sync or rebuild at a time
        self._ready = trio.Event()  # set once the index is open (or search is off)
        self._synced = trio.Event()  # set (and replaced) as each wake-up's work ends
        self._needed = trio.Event()  # set once there is a recipe or a search to serve
        self.last_rebuild = ""

    def wake(self, events: Sequence[Event] = ()) -> None:
        """New events: sync if any is a recipe's (or always, with none given)."""
        if not events or touches_recipes(events):
            self._needed.set()
            self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Started at once; searches wait (``_ready``) while the index opens or rebuilds,
        which at 100k recipes takes a while and must not hold the daemon's READY."""
        if not await self.access.run(idx.holds_recipes, self.nl.views.state):
            self.unavailable = ""  # nothing to search yet; a search opens it (_opened)
            task_status.started()
            await self._needed.wait()
        else:
            task_status.started()
        self.unavailable = "the index is being opened"
        try:
            embedder = await trio.to_thread.run_sync(self._make_embedder)
        except EmbedderError as e:
            self.unavailable = str(e)
            log.warning("recipe search is off: %s", e)
            self._ready.set()
            await trio.sleep_forever()
        self.indexer = idx.Indexer(self.data_dir, embedder)
        try:
            async with self._work:
                reason = await trio.to_thread.run_sync(self.indexer.load)
                reason = reason or await self.access.run(self.indexer.check,
                                                         self.nl.views.state)
                if reason:
                    await self._rebuild(reason)
                await self._sync()
        except (VectorIndexError, OSError) as e:  # search is off; the node runs on
            self.unavailable = f"the index could not be opened or rebuilt: {e}"
            log.error("recipe search is off: %s", e)
            self._ready.set()
            await trio.sleep_forever()
        self.unavailable = ""
        self._ready.set()
        saved_at = trio.current_time()
        try:
            while True:
                with trio.move_on_after(SAVE_INTERVAL_S):
                    await self._wake.wait()
                self._wake = trio.Event()
                async with self._work:
                    try:
                        await self._sync()
                        # Saving 100k items writes ~170 MB: not on every recipe.
                        if trio.current_time() - saved_at >= SAVE_INTERVAL_S:
                            await trio.to_thread.run_sync(self.indexer.save)
                            saved_at = trio.current_time()
                    except Exception as e:  # a derived artifact: it lags, the next wake
                        # retries, and no failure of it ends the node (a crash before the
                        # next save only replays changes past the saved watermark)
                        log.error("recipe index update failed: %s: %s", type(e).__name__, e)
                self._synced.set()
                self._synced = trio.Event()
        finally:
            with trio.CancelScope(shield=True):
                try:
                    await trio.to_thread.run_sync(self.indexer.save)
                except OSError as e:  # the next start rebuilds what was not saved
                    log.error("recipe index not saved: %s", e)

    async def wait_synced(self) -> None:
        """Until the service's next round of work (a wake-up or its save timer) ends."""
        await self._synced.wait()

    async def _embed_pending(self) -> None:
        assert self.indexer is not None
        state = self.nl.views.state
        while rows := await self.access.run(self.indexer.pending, state):
            vectors = await trio.to_thread.run_sync(
                self.indexer.embedder.embed, [r[2] for r in rows])
            await self.access.run(self.indexer.store_vectors, state, rows, vectors)

    async def _sync(self) -> None:
        assert self.indexer is not None
        await self._embed_pending()
        changes = await self.access.run(self.indexer.changes, self.nl.views.state)
        await trio.to_thread.run_sync(self.indexer.apply, changes)

    async def _rebuild(self, reason: str) -> dict[str, Any]:
        assert self.indexer is not None
        if not self._ready.is_set():
            self.unavailable = f"the index is being rebuilt ({reason})"
        await self._embed_pending()
        snap = await self.access.run(self.indexer.snapshot, self.nl.views.state)
        tag = await trio.to_thread.run_sync(self.indexer.build, snap)
        self.last_rebuild = reason
        log.info("recipe index rebuilt", extra={"fields": {
            "reason": reason, "model": tag.model, "items": tag.count,
            "watermark": tag.watermark}})
        return {"reason": reason, "model": tag.model, "items": tag.count,
                "watermark": tag.watermark}

    async def _opened(self) -> idx.Indexer:
        # A short start is waited out; a long rebuild (a new model over 100k recipes)
        # is answered at once with what is happening, not with a client's timeout.
        self._needed.set()
        with trio.move_on_after(READY_WAIT_S):
            await self._ready.wait()
        if not self._ready.is_set():
            raise SearchUnavailable(f"recipe search is not ready: {self.unavailable}; "
                                    "try again in a while")
        if self.unavailable or self.indexer is None:
            raise SearchUnavailable(f"recipe search is unavailable: {self.unavailable}")
        return self.indexer

    async def reindex(self) -> dict[str, Any]:
        """Rebuild the index from the ``embeddings`` view now (on demand)."""
        indexer = await self._opened()
        async with self._work:
            out = await self._rebuild("on_demand")
            await self._sync()
        assert indexer.tag is not None
        return out

    async def search(self, text: str, k: int) -> list[idx.Hit]:
        """The ``k`` recipes nearest to ``text``, best first."""
        if not text.strip() or len(text) > QUERY_MAX_CHARS:
            raise QueryError("q", f"expected 1 to {QUERY_MAX_CHARS} characters")
        if not 1 <= k <= K_MAX:
            raise QueryError("k", f"expected 1 to {K_MAX}")
        indexer = await self._opened()
        query = await trio.to_thread.run_sync(indexer.embedder.embed, [text])
        hits = await trio.to_thread.run_sync(indexer.nearest, query[0], k)
        return await self.access.run(idx.describe, self.nl.views.state, hits)

    def status(self) -> dict[str, Any]:
        indexer = self.indexer
        tag = indexer.tag if indexer is not None else None
        return {"available": not self.unavailable, "reason": self.unavailable,
                "model": tag.model if tag else None, "items": tag.count if tag else 0,
                "watermark": tag.watermark if tag else 0, "last_rebuild": self.last_rebuild}
