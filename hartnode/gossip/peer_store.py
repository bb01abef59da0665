"""The ``peer_nodes`` table: the node's ``PeerTable`` kept across restarts.

Peer records are gossip, not ledger events, so this table is not a view:
``kb rebuild`` leaves it alone, and losing it loses nothing but a head start.
It holds one row per known peer with the seed's columns (``node_id``,
``url``, ``status``, ``tier``, ``public_key``, ``contribution_score``,
``integrity_status``) and the record's own fields, plus the signed record as
it arrived. Loading decodes and verifies that record again, exactly as if a
peer had sent it, so a row edited on disk is dropped (and counted), never
trusted; tier claims are re-checked against the pinned master key and the
revocation list of today, not of the day the row was written.

A restarted node uses the rows in two ways: ``hartnode peers`` shows what it
knew at once (with each peer's age, so the status stays honest), and when
none of its seeds answers it dials the peers it heard from most recently
(``bootstrap_urls``), so a network outlives the seeds it started from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import apsw

from hartnode.gossip import wire
from hartnode.gossip.peer_record import (
    PeerRecordError,
    PeerRecordMessage,
    PeerTable,
    decode_peer_record,
)

MAX_ROWS = 2_000  # rows written, and read back at start-up (in case the file was filled)


@dataclass(frozen=True)
class LoadReport:
    loaded: int
    dropped: int  # rows whose record no longer decodes or verifies


Row = tuple[object, ...]


def snapshot(table: PeerTable, now_ms: int, limit: int = MAX_ROWS) -> list[Row]:
    """The rows of ``table``, taken in the thread that owns it (``write`` may run elsewhere).

    At most ``limit`` rows: the peers the table would evict last (certified,
    then linked, then the most recently heard), so a table swollen with
    sybil records persists only the peers worth a restart's head start.
    """
    keep = sorted(table.entries,
                  key=lambda n: table.entries[n].keep_rank(n in table.direct), reverse=True)
    kept = frozenset(keep[:limit])
    rows: list[Row] = []
    for row in table.rows(now_ms):
        if row["node_id"] not in kept:
            continue
        entry = table.entries[str(row["node_id"])]
        addrs = entry.record.addrs
        rows.append((
            row["node_id"], addrs[0] if addrs else None, row["status"], row["tier"],
            row["node_id"],  # the node id is the hex Ed25519 public key
            row["claimed_tier"], row["region"], json.dumps(list(addrs)),
            json.dumps(list(entry.record.capabilities)), entry.record.seq,
            entry.last_seen_ms, wire.encode(entry.record.message), now_ms,
        ))
    return rows


def write(conn: apsw.Connection, rows: list[Row]) -> int:
    """Make ``peer_nodes`` hold exactly ``rows`` (a ``snapshot``), in one transaction."""
    with conn:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS keep_peers (node_id TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM temp.keep_peers")
        conn.executemany("INSERT INTO temp.keep_peers VALUES (?)", [(r[0],) for r in rows])
        conn.execute("DELETE FROM peer_nodes WHERE node_id NOT IN (SELECT node_id FROM keep_peers)")
        conn.executemany(
            """
            INSERT INTO peer_nodes (node_id, url, status, tier, public_key, claimed_tier,
                                    region, addrs_json, capabilities_json, seq, last_seen_ms,
                                    record, updated_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (node_id) DO UPDATE SET
              url = excluded.url, status = excluded.status, tier = excluded.tier,
              claimed_tier = excluded.claimed_tier, region = excluded.region,
              addrs_json = excluded.addrs_json, capabilities_json = excluded.capabilities_json,
              seq = excluded.seq, last_seen_ms = excluded.last_seen_ms,
              record = excluded.record, updated_ms = excluded.updated_ms
            """,
            rows,
        )
    return len(rows)


def load(conn: apsw.Connection, table: PeerTable, now_ms: int) -> LoadReport:
    """Put the saved peers back into ``table``, each record verified again."""
    loaded = dropped = 0
    for blob, last_seen_ms in conn.execute(
            "SELECT record, last_seen_ms FROM peer_nodes ORDER BY last_seen_ms DESC LIMIT ?",
            (MAX_ROWS,)):
        try:
            message = wire.decode(blob)
            if not isinstance(message, PeerRecordMessage):
                raise PeerRecordError("malformed", type(message).__name__)
            record = decode_peer_record(message)
        except (wire.DecodeError, PeerRecordError, TypeError):
            dropped += 1
            continue
        if table.observe(record, now_ms):
            # Its age is the age of the news, not of this restart.
            table.entries[record.node_id].last_seen_ms = min(int(last_seen_ms), now_ms)
            loaded += 1
    return LoadReport(loaded, dropped)


def bootstrap_urls(table: PeerTable, limit: int, exclude: tuple[str, ...] = ()) -> list[str]:
    """The first address of each reachable peer, the most recently heard from first."""
    entries = sorted(table.entries.values(), key=lambda e: e.last_seen_ms, reverse=True)
    urls = [e.record.addrs[0] for e in entries if e.record.addrs]
    return [u for u in urls if u not in exclude][:limit]
