"""``peer_nodes``: the peer table written to and read back from a real state.sqlite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from hartnode.gossip.peer_record import PeerTable, sign_peer_record
from hartnode.gossip.peer_store import bootstrap_urls, load, snapshot, write
from hartnode.identity import NodeIdentity
from hartnode.ledger import store

ME = NodeIdentity.from_seed(b"m" * 32)
TTL_MS = 10_000


def ident(name: str) -> NodeIdentity:
    return NodeIdentity.from_seed(name.encode().ljust(32, b"."))


@pytest.fixture
def state(tmp_path: Path) -> Iterator[apsw.Connection]:
    conn = store.open_database(tmp_path, store.STATE, create=True)
    yield conn
    conn.close()


def table_with(now_ms: int, *peers: tuple[str, tuple[str, ...], int]) -> PeerTable:
    """A table holding ``(name, addrs, age_ms)`` peers."""
    table = PeerTable(ME.node_id, ttl_ms=TTL_MS)
    for name, addrs, age_ms in peers:
        record = sign_peer_record(ident(name), addrs=addrs, tier="flat", region="eu",
                                  seq=7, ts_ms=now_ms, capabilities=("cpu",))
        table.observe(record, now_ms)
        table.entries[record.node_id].last_seen_ms = now_ms - age_ms
    return table


def test_a_saved_table_loads_back_the_same_peers_with_their_ages(
        state: apsw.Connection) -> None:
    now = time.time_ns() // 1_000_000
    table = table_with(now, ("a", ("ws://10.0.0.1:6778/hart",), 0),
                       ("nat", (), 2 * TTL_MS), ("old", ("ws://10.0.0.3:6778/hart",), 5 * TTL_MS))
    assert write(state, snapshot(table, now)) == 3
    later = now + 1_000
    fresh = PeerTable(ME.node_id, ttl_ms=TTL_MS)
    report = load(state, fresh, later)
    assert (report.loaded, report.dropped) == (3, 0)
    assert fresh.rows(later) == table.rows(later)
    assert [fresh.status(ident(n).node_id, later) for n in ("a", "nat", "old")] == [
        "active", "stale", "dead"]
    seed_columns = state.execute(
        "SELECT url, status, tier, public_key, integrity_status FROM peer_nodes "
        "WHERE node_id = ?", (ident("a").node_id,)).fetchall()
    assert seed_columns == [("ws://10.0.0.1:6778/hart", "active", "flat", ident("a").node_id,
                             "unknown")]


def test_rows_of_forgotten_peers_go_and_a_newer_record_replaces_the_row(
        state: apsw.Connection) -> None:
    now = time.time_ns() // 1_000_000
    table = table_with(now, ("a", ("ws://10.0.0.1:6778/hart",), 0), ("b", (), 0))
    write(state, snapshot(table, now))
    del table.entries[ident("b").node_id]
    table.observe(sign_peer_record(ident("a"), addrs=("ws://10.9.9.9:6778/hart",), tier="flat",
                                   region="eu", seq=8, ts_ms=now), now)
    write(state, snapshot(table, now))
    assert state.execute("SELECT node_id, url, seq FROM peer_nodes").fetchall() == [
        (ident("a").node_id, "ws://10.9.9.9:6778/hart", 8)]


@pytest.mark.parametrize("tamper", ["flip_byte", "not_a_record", "truncate"])
def test_a_row_edited_on_disk_is_dropped_not_trusted(state: apsw.Connection,
                                                     tamper: str) -> None:
    now = time.time_ns() // 1_000_000
    table = table_with(now, ("a", ("ws://10.0.0.1:6778/hart",), 0),
                       ("b", ("ws://10.0.0.2:6778/hart",), 0))
    write(state, snapshot(table, now))
    blob = bytearray(state.execute("SELECT record FROM peer_nodes WHERE node_id = ?",
                                   (ident("b").node_id,)).fetchall()[0][0])
    if tamper == "flip_byte":
        blob[len(blob) // 2] ^= 0x01
    elif tamper == "not_a_record":
        blob = bytearray(b"\x93\x01\x02\x03")
    else:
        blob = blob[:20]
    with state:
        state.execute("UPDATE peer_nodes SET record = ? WHERE node_id = ?",
                      (bytes(blob), ident("b").node_id))
    fresh = PeerTable(ME.node_id, ttl_ms=TTL_MS)
    report = load(state, fresh, now)
    assert (report.loaded, report.dropped) == (1, 1)
    assert set(fresh.entries) == {ident("a").node_id}


def test_bootstrap_urls_are_the_most_recently_heard_reachable_peers() -> None:
    now = time.time_ns() // 1_000_000
    table = table_with(now, ("old", ("ws://10.0.0.1:6778/hart",), 9_000),
                       ("nat", (), 0), ("new", ("ws://10.0.0.2:6778/hart",), 10),
                       ("seed", ("ws://10.0.0.3:6778/hart",), 5))
    assert bootstrap_urls(table, 4, exclude=("ws://10.0.0.3:6778/hart",)) == [
        "ws://10.0.0.2:6778/hart", "ws://10.0.0.1:6778/hart"]
    assert bootstrap_urls(table, 1) == ["ws://10.0.0.3:6778/hart"]


def test_what_is_persisted_is_bounded_to_the_peers_worth_keeping(state: apsw.Connection) -> None:
    now = 1_000_000
    table = table_with(now, ("old", ("ws://10.0.0.1:6778/hart",), 5000),
                       ("linked", ("ws://10.0.0.2:6778/hart",), 9000),
                       ("fresh", ("ws://10.0.0.3:6778/hart",), 10),
                       ("stale", ("ws://10.0.0.4:6778/hart",), 8000))
    table.seen(ident("linked").node_id, now - 9000)
    assert write(state, snapshot(table, now, limit=2)) == 2
    kept = {r[0] for r in state.execute("SELECT node_id FROM peer_nodes")}
    assert kept == {ident("linked").node_id, ident("fresh").node_id}
