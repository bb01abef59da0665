"""Ledger append, verified ingest, views and kb verify on real SQLite files."""

from __future__ import annotations

import itertools
from pathlib import Path

import apsw
import pytest

from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger import maintenance
from hartnode.ledger.envelope import Event, sign_event
from hartnode.ledger.kinds import PayloadError, UnknownKindError
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger

CATALOG = build_catalog()


def notes(n: int, start: int = 0) -> list[Draft]:
    return [Draft("note.created", {"text": f"note {i}"}) for i in range(start, start + n)]


@pytest.fixture
def node(tmp_path: Path) -> NodeLedger:
    d = tmp_path / "a"
    d.mkdir()
    nl = NodeLedger(d, NodeIdentity.generate(), CATALOG, create=True)
    yield nl
    nl.close()


@pytest.fixture
def peer(tmp_path: Path) -> NodeLedger:
    d = tmp_path / "b"
    d.mkdir()
    nl = NodeLedger(d, NodeIdentity.generate(), CATALOG, create=True)
    yield nl
    nl.close()


def wire_feed(nl: NodeLedger) -> list[tuple[bytes, bytes]]:
    identity = nl.ledger.identity
    assert identity is not None
    return [e.wire() for e in nl.ledger.feed(identity.node_id, 1, 10**6)]


def test_append_chains_and_projects(node: NodeLedger) -> None:
    events = node.append(notes(5))
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev is None
    assert all(b.prev == a.hash_hex for a, b in itertools.pairwise(events))
    assert node.views.watermark() == 5
    rows = node.views.state.execute("SELECT text FROM notes ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == [f"note {i}" for i in range(5)]


def test_append_refuses_bad_payload_and_stores_nothing(node: NodeLedger) -> None:
    with pytest.raises(PayloadError) as err:
        node.append([*notes(2), Draft("note.created", {"text": 5})])
    assert err.value.path == "payload.text"
    with pytest.raises(UnknownKindError):
        node.append([Draft("nosuch.thing.done", {})])
    assert node.ledger.max_id() == 0


def test_two_writers_on_one_data_dir_do_not_fork(tmp_path: Path, node: NodeLedger) -> None:
    identity = node.ledger.identity
    assert identity is not None
    other = NodeLedger(node.data_dir, identity, CATALOG)
    try:
        node.append(notes(3))
        other.append(notes(3, 3))
        node.append(notes(3, 6))
    finally:
        other.close()
    assert [e.seq for e in node.ledger.feed(identity.node_id, 1, 100)] == list(range(1, 10))


def test_ingest_full_feed_then_duplicates_are_idempotent(node: NodeLedger,
                                                        peer: NodeLedger) -> None:
    node.append(notes(20))
    feed = wire_feed(node)
    first = peer.ingest(feed)
    assert len(first.stored) == 20 and not first.rejected
    again = peer.ingest(feed)
    assert again.duplicates == 20 and not again.stored
    assert peer.views.watermark() == 20
    assert maintenance.verify(peer.data_dir, CATALOG).ok


def test_gap_is_held_back_then_filled(node: NodeLedger, peer: NodeLedger) -> None:
    node.append(notes(10))
    feed = wire_feed(node)
    r = peer.ingest(feed[5:])
    assert r.held == 5 and not r.stored
    assert peer.ledger.max_id() == 0
    r = peer.ingest(feed[:5])
    assert [e.seq for _, e in r.stored] == list(range(1, 11))
    assert peer.ledger.held_count() == 0


def test_equivocation_is_recorded_with_both_signed_events(node: NodeLedger,
                                                          peer: NodeLedger) -> None:
    node.append(notes(3))
    identity = node.ledger.identity
    assert identity is not None
    peer.ingest(wire_feed(node))
    stored2 = node.ledger.feed(identity.node_id, 2, 1)[0]
    fork = sign_event(identity, seq=2, prev=stored2.prev, ts_ms=1, actor="node",
                      kind="note.created", scope="system", reach="network",
                      payload={"text": "the other history"}, provenance={})
    r = peer.ingest([fork.wire()])
    assert r.rejected["equivocation"] == 1 and not r.stored
    [(a, b)] = peer.ledger.equivocations()
    assert (a.seq, b.seq) == (2, 2) and a.hash != b.hash and b.hash == fork.hash
    report = maintenance.verify(peer.data_dir, CATALOG)
    assert report.ok and report.equivocations == 1


def test_forged_and_mislinked_events_are_rejected(node: NodeLedger, peer: NodeLedger) -> None:
    node.append(notes(2))
    identity = node.ledger.identity
    assert identity is not None
    envelope, sig = wire_feed(node)[0]
    forged = bytes([sig[0] ^ 1]) + sig[1:]
    assert peer.ingest([(envelope, forged)]).rejected["bad_signature"] == 1
    peer.ingest(wire_feed(node)[:1])
    wrong_prev = sign_event(identity, seq=2, prev="00" * 32, ts_ms=1, actor="node",
                            kind="note.created", scope="system", reach="network",
                            payload={"text": "x"}, provenance={})
    assert peer.ingest([wrong_prev.wire()]).rejected["bad_prev"] == 1
    assert peer.ledger.max_id() == 1


def test_known_kind_with_bad_payload_is_rejected_unknown_kind_is_opaque(
        node: NodeLedger, peer: NodeLedger) -> None:
    identity = node.ledger.identity
    assert identity is not None
    bad = sign_event(identity, seq=1, prev=None, ts_ms=1, actor="node", kind="note.created",
                     scope="system", reach="network", payload={"text": 7}, provenance={})
    assert peer.ingest([bad.wire()]).rejected["bad_payload"] == 1
    newer = sign_event(identity, seq=1, prev=None, ts_ms=1, actor="node",
                       kind="futureapp.thing.done", scope="system", reach="network",
                       payload={"title": "soup"}, provenance={})
    r = peer.ingest([newer.wire()])
    assert r.opaque == 1 and len(r.stored) == 1


def test_rebuild_yields_identical_views(node: NodeLedger, peer: NodeLedger) -> None:
    node.append(notes(50))
    peer.append(notes(7))
    peer.ingest(wire_feed(node))
    before = peer.views.state.execute("SELECT * FROM notes ORDER BY source_event").fetchall()
    replayed = peer.views.rebuild()
    after = peer.views.state.execute("SELECT * FROM notes ORDER BY source_event").fetchall()
    assert replayed == 57
    assert [r[1:] for r in before] == [r[1:] for r in after]


def test_views_resume_from_watermark_after_a_crash(node: NodeLedger) -> None:
    node.append(notes(10), update_views=False)  # as if the process died before projecting
    assert node.views.watermark() == 0
    assert node.views.catch_up() == 10
    assert node.views.catch_up() == 0
    assert node.views.watermark() == 10


def _tamper(data_dir: Path, sql: str, *params: object) -> None:
    conn = apsw.Connection(str(data_dir / "ledger.sqlite"))
    conn.execute("DROP TRIGGER IF EXISTS events_append_only_update")
    conn.execute("DROP TRIGGER IF EXISTS events_append_only_delete")
    conn.execute(sql, params)
    conn.close()


COLUMNS = ["ts_ms", "actor", "kind", "scope", "payload_json", "provenance_json", "hash_blake3",
           "origin", "seq", "prev_hash", "reach", "sig", "received_ms", "v", "row_check"]


@pytest.mark.parametrize("column", COLUMNS)
def test_verify_catches_a_flipped_bit_in_every_column(node: NodeLedger, column: str) -> None:
    node.append(notes(5))
    node.close()
    conn = apsw.Connection(str(node.data_dir / "ledger.sqlite"))
    value = conn.execute(f"SELECT {column} FROM events WHERE id = 3").fetchall()[0][0]
    conn.close()
    if isinstance(value, int):
        flipped: object = value ^ (1 << 6)  # bit 6: a low bit would collide with seq 2
    elif isinstance(value, bytes):
        flipped = bytes([value[0] ^ 1]) + value[1:]
    else:
        flipped = chr(ord(value[0]) ^ 1) + value[1:]
    _tamper(node.data_dir, f"UPDATE events SET {column} = ? WHERE id = 3", flipped)
    report = maintenance.verify(node.data_dir, CATALOG)
    assert not report.ok, column


def test_verify_catches_deleted_and_swapped_events(tmp_path: Path, node: NodeLedger) -> None:
    node.append(notes(6))
    node.close()
    _tamper(node.data_dir, "DELETE FROM events WHERE id = 3")
    assert any("missing" in p for p in maintenance.verify(node.data_dir, CATALOG).problems)


def test_verify_catches_swapped_rows(node: NodeLedger) -> None:
    node.append(notes(6))
    node.close()
    # Swap the contents of rows 2 and 4 by moving ids around.
    _tamper(node.data_dir, "UPDATE events SET id = 100 WHERE id = 2")
    _tamper(node.data_dir, "UPDATE events SET id = 2 WHERE id = 4")
    _tamper(node.data_dir, "UPDATE events SET id = 4 WHERE id = 100")
    assert not maintenance.verify(node.data_dir, CATALOG).ok


def test_verify_catches_a_deleted_last_event(node: NodeLedger) -> None:
    node.append(notes(4))
    node.close()
    _tamper(node.data_dir, "DELETE FROM events WHERE id = 4")
    report = maintenance.verify(node.data_dir, CATALOG)
    assert any("deleted at the end" in p for p in report.problems)


def test_backup_passes_verify_and_restores(tmp_path: Path, node: NodeLedger) -> None:
    node.append(notes(30))
    dest = tmp_path / "copy"
    maintenance.backup(node.data_dir, dest)
    report = maintenance.verify(dest, CATALOG)
    assert report.ok and report.events == 30 and report.watermark == 30


def test_an_oversized_draft_is_refused_before_its_batch(node: NodeLedger) -> None:
    from hartnode.ledger.envelope import EnvelopeError

    big = Draft("note.created", {"text": "x"}, provenance={"p": "é" * 40_000})
    with pytest.raises(EnvelopeError) as err:
        node.append([*notes(2), big])
    assert err.value.reason == "too_large" and node.ledger.max_id() == 0


def test_withheld_events_keep_the_chain_linkable(tmp_path: Path, node: NodeLedger,
                                                 peer: NodeLedger) -> None:
    from hartnode.ledger.log import Withheld

    identity = node.ledger.identity
    assert identity is not None
    origin = identity.node_id
    node.append([Draft("note.created", {"text": "public 1"}),
                 Draft("note.created", {"text": "private"}, reach="local"),
                 Draft("note.created", {"text": "to parents"}, reach="hierarchy"),
                 Draft("note.created", {"text": "public 2"})])
    served = node.ledger.serve(origin, 1, 100, frozenset({"network"}))
    assert [type(i).__name__ for i in served] == ["Event", "Withheld", "Withheld", "Event"]
    items = [i if isinstance(i, Withheld) else i.wire() for i in served]
    result = peer.ingest(items)
    assert len(result.stored) == 2 and result.withheld == 2 and not result.rejected
    assert peer.ledger.heads()[origin] == 4
    texts = [r[0] for r in peer.views.state.execute("SELECT text FROM notes ORDER BY seq")]
    assert texts == ["public 1", "public 2"]
    assert maintenance.verify(peer.data_dir, CATALOG).ok
    # A third node learns the same chain from the peer, markers passed on as markers.
    third_dir = tmp_path / "c"
    third_dir.mkdir()
    with NodeLedger(third_dir, NodeIdentity.generate(), CATALOG, create=True) as third:
        again = peer.ledger.serve(origin, 1, 100, frozenset({"network", "hierarchy"}))
        r = third.ingest([i if isinstance(i, Withheld) else i.wire() for i in again])
        assert len(r.stored) == 2 and r.withheld == 2
        assert maintenance.verify(third_dir, CATALOG).ok


def test_a_false_marker_cannot_break_a_chain_silently(node: NodeLedger, peer: NodeLedger) -> None:
    from hartnode.ledger.log import Withheld

    identity = node.ledger.identity
    assert identity is not None
    events = node.append(notes(2))
    lie = Withheld(identity.node_id, 1, b"\x00" * 32, None, "local")
    assert peer.ingest([lie]).rejected == {"withheld_unsigned": 1}  # never moves a head
    assert peer.ledger.heads() == {}
    assert len(peer.ingest([e.wire() for e in events]).stored) == 2
    assert peer.ingest([Withheld(identity.node_id, 1, b"\x00" * 31, None, "local")]
                       ).rejected["withheld_bad_field"] == 1


def test_kb_migrate_takes_a_1_0_0_ledger_to_the_current_schema(tmp_path: Path) -> None:
    from hartnode.ledger import store
    from hartnode.ledger.schema import SCHEMA_VERSION

    d = tmp_path / "old"
    d.mkdir()
    identity = NodeIdentity.generate()
    with NodeLedger(d, identity, CATALOG, create=True) as old:
        old.append(notes(25))
    # Take the file back to what a build that knew only 1.0.0 wrote.
    conn = apsw.Connection(str(d / "ledger.sqlite"))
    conn.execute("DROP TABLE withheld; DROP TABLE marker_sigs;"
                 " UPDATE meta SET schema_version = '1.0.0'")
    conn.close()
    with pytest.raises(store.StoreError) as err:
        NodeLedger(d, identity, CATALOG)
    assert "kb migrate" in str(err.value)
    report = maintenance.migrate(d, CATALOG)
    assert report.applied["ledger"] == ["1.1.0", SCHEMA_VERSION] and report.replayed == 25
    assert report.backup_dir is not None and (report.backup_dir / "ledger.sqlite").exists()
    verified = maintenance.verify(d, CATALOG)
    assert verified.ok and verified.events == 25
    with NodeLedger(d, identity, CATALOG) as migrated:
        assert migrated.append(notes(1))[0].seq == 26
    assert maintenance.migrate(d, CATALOG).backup_dir is None  # nothing left to do


def _fork(node: NodeLedger, seq: int) -> tuple[Event, Event]:
    """The node's stored event at ``seq`` and a second, validly signed event there."""
    identity = node.ledger.identity
    assert identity is not None
    stored = node.ledger.feed(identity.node_id, seq, 1)[0]
    other = sign_event(identity, seq=seq, prev=stored.prev, ts_ms=1, actor="node",
                       kind="note.created", scope="system", reach="network",
                       payload={"text": "the other history"}, provenance={})
    return stored, other


def test_a_forking_origins_later_events_are_held_back(node: NodeLedger,
                                                      peer: NodeLedger) -> None:
    node.append(notes(2))
    peer.ingest(wire_feed(node))
    _, other = _fork(node, 2)
    first = peer.ingest([other.wire()])
    assert len(first.equivocations) == 1
    assert peer.ingest([other.wire()]).equivocations == []
    later = node.append(notes(1, 2))[0]  # seq 3 on the branch the peer holds
    r = peer.ingest([later.wire()])
    assert r.rejected["forked_origin"] == 1 and not r.stored
    assert peer.ledger.max_id() == 2


def test_a_fork_and_its_continuation_in_one_batch_are_caught(node: NodeLedger,
                                                             peer: NodeLedger) -> None:
    node.append(notes(2))
    stored, other = _fork(node, 2)
    node.append(notes(1, 2))  # seq 3 on the stored branch
    r = peer.ingest([*wire_feed(node), other.wire()])
    assert [e.seq for _, e in r.stored] == [1, 2]
    assert dict(r.rejected) == {"equivocation": 1, "forked_origin": 1}
    assert [(a.hash, b.hash) for a, b in r.equivocations] == [(stored.hash, other.hash)]
    assert [(a.hash, b.hash) for a, b in peer.ledger.equivocations()] == [
        (stored.hash, other.hash)]


class _FailingInserts:
    """A connection whose bulk inserts fail (e.g. a full disk), everything else passes."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)

    def executemany(self, *args: object) -> None:
        raise apsw.FullError("database or disk is full")


def test_a_fork_found_by_a_rolled_back_ingest_is_not_left_marked(
        node: NodeLedger, peer: NodeLedger) -> None:
    node.append(notes(1))
    stored, other = _fork(node, 1)
    conn = peer.ledger.conn
    peer.ledger.conn = _FailingInserts(conn)  # type: ignore[assignment]
    with pytest.raises(apsw.FullError):
        peer.ingest([stored.wire(), other.wire()])
    peer.ledger.conn = conn
    assert peer.ledger.forked() == {} and peer.ledger.equivocations() == []
    r = peer.ingest([stored.wire(), other.wire()])  # found again, and reported this time
    assert len(r.equivocations) == 1 and peer.ledger.forked() == {stored.origin: 1}


def test_fork_evidence_from_a_peer_is_verified_before_it_is_kept(
        node: NodeLedger, peer: NodeLedger) -> None:
    from hartnode.ledger.envelope import EnvelopeError

    node.append(notes(2))
    stored, other = _fork(node, 2)
    pair = peer.ledger.record_evidence(stored.wire(), other.wire())
    assert pair is not None and pair[0].hash == stored.hash
    assert peer.ledger.record_evidence(stored.wire(), other.wire()) is None
    assert peer.ledger.forked() == {stored.origin: 2}
    with pytest.raises(EnvelopeError):
        peer.ledger.record_evidence(stored.wire(), stored.wire())
    envelope, _ = other.wire()
    with pytest.raises(EnvelopeError):
        peer.ledger.record_evidence(stored.wire(), (envelope, bytes(64)))


def test_a_fraud_alert_is_a_signed_event_projected_into_fraud_alerts(
        node: NodeLedger, peer: NodeLedger) -> None:
    import json

    from hartnode.attestation.fraud import equivocation_alert

    node.append(notes(2))
    stored, other = _fork(node, 2)
    peer.append([equivocation_alert(stored, other)])
    row = peer.views.state.execute(
        "SELECT node_id, alert_type, severity, evidence_json, reporter FROM fraud_alerts"
    ).fetchall()[0]
    identity = peer.ledger.identity
    assert identity is not None
    assert row[:3] == (stored.origin, "equivocation", "critical")
    assert json.loads(row[3]) == {"seq": 2, "hash_a": stored.hash_hex, "hash_b": other.hash_hex}
    assert row[4] == identity.node_id
    assert peer.views.rebuild() == 1
    assert maintenance.verify(peer.data_dir, CATALOG).ok
