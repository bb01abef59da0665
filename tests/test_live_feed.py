"""What the daemon pushes to the web UI's event stream (issue #13): ledger messages on commit and
ingest, bounded in size; nothing when nothing was stored."""

from __future__ import annotations

from pathlib import Path

from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger.items import Draft, IngestResult
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.live_feed import MAX_LISTED, on_committed, on_ingested


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
