"""Long maintenance operations the running daemon does for the web UI, with progress (issue #13).

``POST /api/v1/ops`` with ``{"op": "verify" | "backup" | "rebuild"}``
(``backup`` takes an optional ``"dest"``, a new or empty directory; by
default ``<data dir>/backups/backup-<UTC time>``) starts one and answers 202
with its record; ``GET /api/v1/ops`` lists the recent ones. Each record has
``done``/``total`` (and a ``unit``) while it runs; every change is also
pushed on the event stream as an ``op`` message, so a page shows a live bar.

What the progress counts, honestly:
- ``verify``: events checked, of the ledger's events (``kb verify``'s own
  counter; it reads one WAL snapshot, so the node keeps writing meanwhile);
- ``backup``: bytes written into the copies, of the databases' sizes
  (``kb backup``'s own report, from SQLite's progress handler while
  ``VACUUM INTO`` grows each copy; a copy drops free pages, so the bar may
  end short of 100% and then jump to done);
- ``rebuild``: events replayed, of the ledger's events. The views are
  emptied and replayed on the store's thread in batches, so appends and
  ingests go on between batches (each also brings the views up to date).

One operation at a time (a second is a 400 while one runs); the last
``KEEP_OPS`` records are kept in memory.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from hartnode.datadir import BACKUP_FILES
from hartnode.ledger import maintenance, store
from hartnode.routes import ApiRequest, ApiRequestError, RouteTable

if TYPE_CHECKING:
    from hartnode.node import Node

log = logging.getLogger(__name__)
OPS = ("verify", "backup", "rebuild")
KEEP_OPS = 20
Publish = Callable[[str, object], None]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Operations:
    """The daemon's maintenance operations: one at a time, progress published.

    Args:
        node: the running node (its data dir, ledger, views and store thread).
        publish: ``LiveHub.publish`` (any thread), or a no-op.
    """

    def __init__(self, node: Node, publish: Publish) -> None:
        self._node = node
        self._publish = publish
        self._records: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._next_id = 1
        self._running: dict[str, Any] | None = None
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The service that owns running operations (cancelled with the node)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def records(self) -> list[dict[str, Any]]:
        """The recent operations, newest first (copies)."""
        return [dict(r) for r in reversed(self._records.values())]

    def start(self, op: str, dest: str | None = None) -> dict[str, Any]:
        """Start ``op``; its record. Raises ApiRequestError if one is running."""
        if op not in OPS:
            raise ApiRequestError(f"op must be one of {', '.join(OPS)}")
        if self._nursery is None:
            raise ApiRequestError("maintenance operations are not running on this node")
        if self._running is not None:
            raise ApiRequestError(f"operation {self._running['id']} ({self._running['op']}) "
                                  "is still running; wait for it to finish")
        if dest is not None and op != "backup":
            raise ApiRequestError("only backup takes dest")
        if dest is not None and not Path(dest).is_absolute():
            raise ApiRequestError("dest must be an absolute path")
        record: dict[str, Any] = {
            "id": self._next_id, "op": op, "state": "running", "done": 0, "total": 0,
            "unit": {"verify": "events", "backup": "bytes", "rebuild": "events"}[op],
            "started_ms": _now_ms(), "finished_ms": None, "result": None, "error": None,
            "rev": 0}
        self._next_id += 1
        self._records[record["id"]] = record
        while len(self._records) > KEEP_OPS:
            self._records.popitem(last=False)
        self._running = record
        self._nursery.start_soon(self._run, record, dest)
        self._changed(record)
        return dict(record)

    def _changed(self, record: dict[str, Any]) -> None:
        # ``rev`` orders the copies: the POST's answer and the stream's
        # messages may reach a page in either order, and the newest must win.
        record["rev"] += 1
        self._publish("op", dict(record))

    async def _run(self, record: dict[str, Any], dest: str | None) -> None:
        try:
            if record["op"] == "verify":
                record["result"] = await self._verify(record)
            elif record["op"] == "backup":
                record["result"] = await self._backup(record, dest)
            else:
                record["result"] = await self._rebuild(record)
            record["state"] = "done"
        except (store.StoreError, OSError) as e:
            record["state"], record["error"] = "failed", str(e)
        except Exception as e:
            # A failed operation must not take the node down with it.
            log.exception("maintenance operation %s failed", record["op"])
            record["state"], record["error"] = "failed", f"internal error: {e}"
        finally:
            record["finished_ms"] = _now_ms()
            self._running = None
            self._changed(record)

    async def _verify(self, record: dict[str, Any]) -> dict[str, Any]:
        node = self._node
        record["total"] = await node.access.run(node.node_ledger.ledger.max_id)
        self._changed(record)

        def progress(what: str, done: int, total: int) -> None:
            # On verify's thread; publish is thread-safe.
            record["done"], record["total"] = done, max(total, done)
            self._changed(record)

        catalog = node.catalog
        assert catalog is not None
        report = await trio.to_thread.run_sync(
            lambda: maintenance.verify(node.data_dir.path, catalog, progress=progress))
        return report.as_json()

    async def _backup(self, record: dict[str, Any], dest: str | None) -> dict[str, Any]:
        node = self._node
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        target = Path(dest) if dest else node.data_dir.path / "backups" / f"backup-{stamp}"
        sources = [node.data_dir.path / kind.file for kind in (store.STATE, store.LEDGER)]
        record["total"] = sum(p.stat().st_size for p in sources if p.exists())
        record["dest"] = str(target)
        self._changed(record)
        copied: dict[str, int] = {}  # database file -> bytes of its copy so far

        def progress(name: str, done: int, total: int) -> None:
            # On the backup's thread (SQLite's progress handler); publish is thread-safe.
            copied[name] = done
            record["done"] = min(sum(copied.values()), record["total"])
            self._changed(record)

        written = await trio.to_thread.run_sync(lambda: maintenance.backup(
            node.data_dir.path, target, BACKUP_FILES, progress=progress))
        record["done"] = record["total"]
        return {"dest": str(target), "files": [str(p) for p in written]}

    async def _rebuild(self, record: dict[str, Any]) -> dict[str, Any]:
        node = self._node
        views = node.node_ledger.views
        record["total"] = await node.access.run(node.node_ledger.ledger.max_id)
        await node.access.run(views.reset, "ui rebuild")
        self._changed(record)
        replayed = 0
        while True:
            n = await node.access.run(lambda: views.catch_up(max_batches=1))
            replayed += n
            record["done"] = await node.access.run(views.watermark)
            self._changed(record)
            if n == 0:
                break
        return {"replayed": replayed, "watermark": record["done"]}


def register_routes(routes: RouteTable, ops: Operations) -> None:
    """``GET`` and ``POST /api/v1/ops``."""

    async def list_ops(request: ApiRequest) -> object:
        return {"ops": ops.records()}

    async def start_op(request: ApiRequest) -> object:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("op"), str):
            raise ApiRequestError('expected {"op": "verify" | "backup" | "rebuild"}')
        dest = body.get("dest")
        if dest is not None and not isinstance(dest, str):
            raise ApiRequestError("dest must be a string (a directory path)")
        return ops.start(body["op"], dest)

    routes.add("GET", "/api/v1/ops", list_ops)
    routes.add("POST", "/api/v1/ops", start_op, status=202)
