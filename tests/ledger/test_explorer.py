"""The ledger explorer's reads (issue #13): filtered pages, and one event verified server-side."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger.explorer import PageQuery, check_event, page
from hartnode.ledger.items import Draft
from hartnode.ledger.node_ledger import NodeLedger


@pytest.fixture
def nl(tmp_path: Path) -> Iterator[NodeLedger]:
    ledger = NodeLedger(tmp_path, NodeIdentity.generate(), build_catalog(), create=True)
    try:
        yield ledger
    finally:
        ledger.close()


def _fill(nl: NodeLedger, n: int = 30) -> None:
    nl.append([Draft("note.created", {"text": f"n{i}"}) for i in range(n)])


def test_pages_run_newest_first_and_chain_by_before(nl: NodeLedger) -> None:
    _fill(nl, 30)
    first = page(nl.ledger, PageQuery(n=12))
    assert [e["id"] for e in first["events"]] == list(range(30, 18, -1))
    assert first["total"] == 30 and first["next_before"] == 19
    seen = [e["id"] for e in first["events"]]
    before = first["next_before"]
    while before is not None:
        nxt = page(nl.ledger, PageQuery(n=12, before=before))
        seen += [e["id"] for e in nxt["events"]]
        before = nxt["next_before"]
    assert seen == list(range(30, 0, -1))  # every event once, no page repeats one


def test_filters_by_kind_prefix_and_origin(nl: NodeLedger) -> None:
    _fill(nl, 5)
    assert nl.ledger.identity is not None
    me = nl.ledger.identity.node_id
    assert len(page(nl.ledger, PageQuery(kind="note.created"))["events"]) == 5
    assert len(page(nl.ledger, PageQuery(kind="note.*"))["events"]) == 5
    assert page(nl.ledger, PageQuery(kind="not.*"))["events"] == []
    # "note_" would match "note." under LIKE; the prefix range does not.
    assert page(nl.ledger, PageQuery(kind="not_.*"))["events"] == []
    assert len(page(nl.ledger, PageQuery(origin=me))["events"]) == 5
    assert page(nl.ledger, PageQuery(origin="ab" * 32))["events"] == []


def test_a_stored_event_is_verified_with_both_chain_links(nl: NodeLedger) -> None:
    _fill(nl, 3)
    events = [e for _, e in nl.ledger.read_after(0, 10)]
    middle = check_event(nl.ledger, events[1].hash)
    assert middle is not None and middle["verified"] is True
    assert middle["checks"] == {"hash": True, "signature": True, "row": True, "prev": True,
                                "next": True}
    assert middle["prev_event"]["hash"] == events[0].hash_hex
    assert middle["next_event"]["hash"] == events[2].hash_hex
    first, last = check_event(nl.ledger, events[0].hash), check_event(nl.ledger, events[2].hash)
    assert first is not None and first["checks"]["prev"] is True  # seq 1: no prev
    assert last is not None and last["checks"]["next"] is None and last["verified"] is True
    assert check_event(nl.ledger, b"\x00" * 32) is None


def _tamper(nl: NodeLedger, sql: str, args: tuple[object, ...]) -> None:
    # The append-only triggers are there precisely to stop this; the test
    # plays the attacker with write access to the file.
    conn = nl.ledger.conn
    conn.execute("DROP TRIGGER events_append_only_update")
    conn.execute(sql, args)


def test_a_tampered_payload_or_signature_is_reported_not_verified(nl: NodeLedger) -> None:
    _fill(nl, 3)
    events = [e for _, e in nl.ledger.read_after(0, 10)]
    _tamper(nl, "UPDATE events SET payload_json = ? WHERE seq = 2", ('{"text":"forged"}',))
    forged = check_event(nl.ledger, events[1].hash)
    assert forged is not None and forged["verified"] is False
    assert forged["checks"]["hash"] is False
    bad_sig = bytes(64)
    nl.ledger.conn.execute("UPDATE events SET sig = ? WHERE seq = 3", (bad_sig,))
    unsigned = check_event(nl.ledger, events[2].hash)
    assert unsigned is not None and unsigned["verified"] is False
    assert unsigned["checks"]["signature"] is False and unsigned["checks"]["hash"] is True
