"""What the daemon pushes to the web UI's event stream (issue #13): ledger messages on commit and
ingest, bounded in size, nothing when nothing was stored; status deltas while a browser listens
(on trio's autojump clock)."""

from __future__ import annotations

from pathlib import Path

import trio

from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger.items import Draft, IngestResult
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.live_feed import MAX_LISTED, STATUS_S, on_committed, on_ingested, publish_status


class Hub:
    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []

    def publish(self, kind: str, data: object) -> None:
        self.sent.append((kind, data))


def test_commits_and_ingests_become_bounded_ledger_messages(tmp_path: Path) -> None:
    nl = NodeLedger(tmp_path, NodeIdentity.generate(), build_catalog(), create=True)
    try:
        drafts = [Draft("note.created", {"text": f"n{i}"}) for i in range(MAX_LISTED + 5)]
        events = nl.append(drafts)
    finally:
        nl.close()
    hub = Hub()
    on_committed(hub, events)
    on_committed(hub, [])
    on_ingested(hub, IngestResult())
    on_ingested(hub, IngestResult(stored=[(7, events[0])]))
    assert [kind for kind, _ in hub.sent] == ["ledger", "ledger"]
    local, peers = (data for _, data in hub.sent)
    assert isinstance(local, dict) and isinstance(peers, dict)
    assert local["source"] == "local" and local["count"] == MAX_LISTED + 5
    assert len(local["events"]) == MAX_LISTED  # the newest ones
    assert local["events"][-1] == {"origin": events[-1].origin, "seq": events[-1].seq,
                                   "kind": "note.created", "hash": events[-1].hash_hex}
    assert peers["source"] == "peers" and peers["last_id"] == 7 and peers["count"] == 1


class ListeningHub(Hub):
    def __init__(self) -> None:
        super().__init__()
        self.client_count = 0


class StillNode:
    """What publish_status reads of a node: its ledger head; no overlay, no hierarchy."""

    gossip = None
    hierarchy = None

    def __init__(self) -> None:
        self.seq = 1

    async def ledger_head(self) -> dict[str, object]:
        return {"seq": self.seq, "events": self.seq, "origins": 1}


async def test_status_is_sent_while_someone_listens_and_only_when_it_changed(
        autojump_clock: object) -> None:
    hub, node = ListeningHub(), StillNode()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(publish_status, node, hub)
        await trio.sleep(STATUS_S * 3.5)
        assert hub.sent == []  # nobody listening: nothing computed or sent
        hub.client_count = 1
        await trio.sleep(STATUS_S * 3)
        assert len(hub.sent) == 1  # the first figures, then no change
        node.seq = 2
        await trio.sleep(STATUS_S * 3)
        nursery.cancel_scope.cancel()
    assert [data["own_seq"] for _, data in hub.sent] == [1, 2]  # type: ignore[index]
    assert hub.sent[0] == ("status", {"peers": 0, "links": 0, "own_seq": 1, "events": 1,
                                      "origins": 1, "sync_backlog": 0})
