"""Maintenance operations the daemon runs for the web UI (issue #13): progress, one at a time,
a failure that ends only the operation. Real SQLite files; trio, as in the daemon."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from hartnode.catalog import Catalog, build_catalog
from hartnode.datadir import DataDir
from hartnode.identity import NodeIdentity
from hartnode.ledger import maintenance
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.items import Draft
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.ops_api import Operations
from hartnode.routes import ApiRequestError

EVENTS = maintenance.VERIFY_CHUNK + 500  # two chunks: verify reports progress twice


@dataclass
class FakeNode:
    """What Operations reads of the running node."""

    node_ledger: NodeLedger
    access: StoreAccess
    data_dir: DataDir
    catalog: Catalog


class Watcher:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.finished = trio.Event()

    def publish(self, kind: str, data: object) -> None:
        assert kind == "op" and isinstance(data, dict)
        self.messages.append(data)
        if data["state"] != "running":  # the last message, sent from the trio thread
            self.finished.set()

    async def run(self, ops: Operations, op: str, dest: str | None = None) -> dict[str, Any]:
        self.messages.clear()
        self.finished = trio.Event()
        ops.start(op, dest)
        await self.finished.wait()
        return self.messages[-1]


@pytest.fixture
def node(tmp_path: Path) -> Any:
    catalog = build_catalog()
    nl = NodeLedger(tmp_path, NodeIdentity.generate(), catalog, create=True)
    nl.append([Draft("note.created", {"text": f"n{i}"}) for i in range(EVENTS)])
    yield FakeNode(nl, StoreAccess(), DataDir(tmp_path), catalog)
    nl.close()


async def test_verify_reports_rising_progress_to_done(node: FakeNode) -> None:
    watcher = Watcher()
    ops = Operations(node, watcher.publish)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(ops.run)
        final = await watcher.run(ops, "verify")
        nursery.cancel_scope.cancel()
    done = [m["done"] for m in watcher.messages]
    assert done == sorted(done) and len(set(done)) >= 3  # 0, a chunk, all
    assert final["state"] == "done" and final["done"] == final["total"] == EVENTS
    assert final["result"]["ok"] is True and final["result"]["events"] == EVENTS
    revs = [m["rev"] for m in watcher.messages]
    assert revs == sorted(revs) and len(set(revs)) == len(revs)  # pages keep the newest
    assert ops.records()[0]["state"] == "done"


async def test_one_at_a_time_and_a_failure_ends_only_the_operation(node: FakeNode) -> None:
    watcher = Watcher()
    ops = Operations(node, watcher.publish)  # type: ignore[arg-type]
    taken = node.data_dir.path / "taken"
    taken.mkdir()
    (taken / "something").write_text("x")
    async with trio.open_nursery() as nursery:
        await nursery.start(ops.run)
        ops.start("verify")
        with pytest.raises(ApiRequestError, match="still running"):
            ops.start("rebuild")
        await watcher.finished.wait()
        failed = await watcher.run(ops, "backup", str(taken))
        # The service lives on after a failure.
        after = await watcher.run(ops, "verify")
        nursery.cancel_scope.cancel()
    assert failed["state"] == "failed" and "not empty" in failed["error"]
    assert after["state"] == "done"
    for bad in (("nothing", None), ("verify", "/tmp/x"), ("backup", "relative/path")):
        with pytest.raises(ApiRequestError):
            ops.start(*bad)


async def test_backup_and_rebuild_while_running(node: FakeNode) -> None:
    watcher = Watcher()
    ops = Operations(node, watcher.publish)  # type: ignore[arg-type]
    state = node.node_ledger.views.state
    notes_before = state.execute("SELECT COUNT(*) FROM notes").fetchall()[0][0]
    async with trio.open_nursery() as nursery:
        await nursery.start(ops.run)
        backup = await watcher.run(ops, "backup")
        copied = [m["done"] for m in watcher.messages]
        assert copied == sorted(copied) and 0 < copied[-2] <= copied[-1]  # it grew
        rebuild = await watcher.run(ops, "rebuild")
        nursery.cancel_scope.cancel()
    assert backup["state"] == "done" and backup["unit"] == "bytes"
    assert backup["done"] == backup["total"] > 0
    dest = Path(backup["result"]["dest"])
    assert dest.parent == node.data_dir.path / "backups"
    assert maintenance.verify(dest, node.catalog).ok
    assert rebuild["state"] == "done" and rebuild["result"]["replayed"] == EVENTS
    assert rebuild["done"] == rebuild["total"] == EVENTS
    assert state.execute("SELECT COUNT(*) FROM notes").fetchall()[0][0] == notes_before == EVENTS


async def test_an_unexpected_error_fails_the_operation_not_the_node(
        node: FakeNode, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(maintenance, "verify", broken)
    watcher = Watcher()
    ops = Operations(node, watcher.publish)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(ops.run)
        failed = await watcher.run(ops, "verify")
        rebuilt = await watcher.run(ops, "rebuild")
        nursery.cancel_scope.cancel()
    assert failed["state"] == "failed" and "disk on fire" in failed["error"]
    assert rebuilt["state"] == "done"
