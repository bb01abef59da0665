"""The compute views in ``state.sqlite``: escrows, wallets, their history, policy, metering.

Escrow facts are kept as rows (``compute_facts``) and folded by one
``escrow.Book`` per state connection; each projection writes back only the
rows the fact changed (all of them after a revision, see ``escrow``). The
book is reloaded from ``compute_facts`` whenever its last fact is not the
table's (a rebuild emptied it, a batch rolled back, another process wrote),
so a rebuilt view is the incremental one.

Seed names kept, flaws fixed: ``compute_escrow`` (debtor/creditor/spark_amount
/status) gains the escrow id (the opening's hash, so a pair's escrows are never
confused) and integer milli-Spark; ``resonance_wallets.spark`` is a balance
derived from events, never written by an API; ``resonance_transactions`` names
its wallet by node id (row ids differ between nodes) and its escrow;
``metered_api_usage`` stores integer micro-USD and a reservation made before
the call; ``node_compute_config`` holds one row per key set by a signed local
event, the latest (by seq) winning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import apsw

from hartnode.compute import escrow
from hartnode.compute.events import (
    ALL_KINDS,
    CONFIG_SET,
    ESCROW_KINDS,
    METERED_RESERVED,
    METERED_SETTLED,
    central_mint_check,
    to_fact,
)
from hartnode.ledger.envelope import Event
from hartnode.ledger.kinds import KindRegistry
from hartnode.ledger.views import ViewRegistry

TABLES = {
    "compute_facts": """
CREATE TABLE IF NOT EXISTS compute_facts (
  id            INTEGER PRIMARY KEY,
  kind          TEXT NOT NULL,
  origin        TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  ts_ms         INTEGER NOT NULL,
  hash          TEXT NOT NULL,
  payload_json  TEXT NOT NULL,
  source_event  INTEGER NOT NULL UNIQUE
)""",
    "compute_escrow": """
CREATE TABLE IF NOT EXISTS compute_escrow (
  id                INTEGER PRIMARY KEY,
  escrow_id         TEXT NOT NULL UNIQUE,   -- hash of the opening event
  debtor_node_id    TEXT NOT NULL,          -- the borrower
  creditor_node_id  TEXT NOT NULL,          -- the lender
  spark_amount      INTEGER NOT NULL,       -- milli-Spark
  status            TEXT NOT NULL,          -- escrow.STATUS_*
  regional          TEXT NOT NULL,
  central           TEXT NOT NULL,
  deadline_ms       INTEGER NOT NULL,
  job_id            TEXT NOT NULL,
  job_kind          TEXT NOT NULL,
  model             TEXT NOT NULL,
  opened_ts_ms      INTEGER NOT NULL,
  receipt_hash      TEXT,                   -- the lender's signed receipt, once seen
  source_event      INTEGER NOT NULL        -- the event that last changed this row
)""",
    "resonance_wallets": """
CREATE TABLE IF NOT EXISTS resonance_wallets (
  id            INTEGER PRIMARY KEY,
  user_id       TEXT NOT NULL UNIQUE,       -- node id
  spark         INTEGER NOT NULL,           -- milli-Spark available (open escrows taken out)
  held          INTEGER NOT NULL,           -- milli-Spark locked in funded, unsettled escrows
  pulse         INTEGER NOT NULL DEFAULT 0,
  xp            INTEGER NOT NULL DEFAULT 0,
  source_event  INTEGER NOT NULL
)""",
    "resonance_transactions": """
CREATE TABLE IF NOT EXISTS resonance_transactions (
  id            INTEGER PRIMARY KEY,
  wallet_id     TEXT NOT NULL,              -- node id
  currency      TEXT NOT NULL,              -- spark
  amount        INTEGER NOT NULL,           -- signed milli-Spark
  reason        TEXT NOT NULL,              -- escrow.Movement.reason
  ref           TEXT NOT NULL,              -- grant hash or escrow id
  source_event  INTEGER NOT NULL
)""",
    "node_compute_config": """
CREATE TABLE IF NOT EXISTS node_compute_config (
  id            INTEGER PRIMARY KEY,
  node_id       TEXT NOT NULL,
  key           TEXT NOT NULL,
  value         TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  source_event  INTEGER NOT NULL,
  UNIQUE (node_id, key)
)""",
    "metered_api_usage": """
CREATE TABLE IF NOT EXISTS metered_api_usage (
  id                INTEGER PRIMARY KEY,
  call_id           TEXT NOT NULL UNIQUE,
  node_id           TEXT NOT NULL,
  operator_id       TEXT NOT NULL,          -- the backend URL
  model_id          TEXT NOT NULL,
  task_source       TEXT NOT NULL,          -- local | hive
  day               TEXT NOT NULL,          -- UTC date the reservation counts against
  reserved_uusd     INTEGER NOT NULL,       -- micro-USD held before the call
  tokens_in         INTEGER NOT NULL DEFAULT 0,
  tokens_out        INTEGER NOT NULL DEFAULT 0,
  actual_usd_cost   INTEGER,                -- micro-USD after the call (NULL: in flight)
  estimated         INTEGER NOT NULL DEFAULT 0,
  settlement_status TEXT NOT NULL,          -- reserved | settled | failed
  source_event      INTEGER NOT NULL
)""",
}


@dataclass
class BookCache:
    """The ``escrow.Book`` of one state connection, and the last fact it holds."""

    master_key: bytes | None
    book: escrow.Book = field(init=False)
    conn: apsw.Connection | None = None
    last_source: int = 0

    def __post_init__(self) -> None:
        self.book = escrow.Book(central_mint_check(self.master_key))

    def get(self, state: apsw.Connection) -> escrow.Book:
        """The book of ``state``'s facts, reloaded when it is not current."""
        row = state.execute("SELECT MAX(source_event) FROM compute_facts").fetchall()
        current = int(row[0][0] or 0)
        if state is not self.conn or current != self.last_source:
            self.book = escrow.Book(central_mint_check(self.master_key))
            self.conn = state
            for _source, kind, origin, seq, ts_ms, digest, payload_json in state.execute(
                    "SELECT source_event, kind, origin, seq, ts_ms, hash, payload_json"
                    " FROM compute_facts ORDER BY source_event"):
                fact = _fact_from_row(kind, origin, seq, ts_ms, digest, payload_json)
                if fact is not None:
                    self.book.add(fact)
            self.last_source = current
        return self.book


class _RowEvent:
    """The few members of an ``Event`` that ``to_fact`` reads, from a facts row."""

    def __init__(self, kind: str, origin: str, seq: int, ts_ms: int, digest: str,
                 payload_json: str) -> None:
        self.kind, self.origin, self.seq, self.ts_ms = kind, origin, seq, ts_ms
        self.hash_hex = digest
        self.payload = json.loads(payload_json)


def _fact_from_row(kind: str, origin: str, seq: int, ts_ms: int, digest: str,
                   payload_json: str) -> escrow.Fact | None:
    return to_fact(_RowEvent(kind, origin, seq, ts_ms, digest, payload_json))  # type: ignore[arg-type]


def _write_escrow(state: apsw.Connection, book: escrow.Book, eid: str, event_id: int) -> None:
    op = book.opens.get(eid)
    if op is None:
        return
    receipt = book.receipts.get(eid)
    receipt_ok = receipt.event_hash if receipt and receipt.origin == op.lender else None
    state.execute(
        "UPDATE compute_escrow SET status = ?, receipt_hash = ?, source_event = ?"
        " WHERE escrow_id = ?", (book.status(eid), receipt_ok, event_id, eid))


def _write_wallet(state: apsw.Connection, book: escrow.Book, wallet: str, event_id: int) -> None:
    state.execute(
        "INSERT INTO resonance_wallets (user_id, spark, held, source_event) VALUES (?,?,?,?)"
        " ON CONFLICT (user_id) DO UPDATE SET spark = excluded.spark, held = excluded.held,"
        " source_event = excluded.source_event",
        (wallet, book.balance.get(wallet, 0), book.held.get(wallet, 0), event_id))


def _project_escrow(cache: BookCache):  # type: ignore[no-untyped-def]
    def project(state: apsw.Connection, event_id: int, event: Event) -> None:
        book = cache.get(state)
        state.execute(
            "INSERT INTO compute_facts (kind, origin, seq, ts_ms, hash, payload_json,"
            " source_event) VALUES (?,?,?,?,?,?,?)",
            (event.kind, event.origin, event.seq, event.ts_ms, event.hash_hex,
             event.payload_json, event_id))
        cache.last_source = event_id
        fact = to_fact(event)
        if fact is None:
            return
        if isinstance(fact, escrow.Open):
            p = event.payload
            state.execute(
                "INSERT OR IGNORE INTO compute_escrow (escrow_id, debtor_node_id,"
                " creditor_node_id, spark_amount, status, regional, central, deadline_ms,"
                " job_id, job_kind, model, opened_ts_ms, source_event)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (fact.escrow_id, fact.borrower, fact.lender, fact.amount,
                 escrow.STATUS_UNFUNDED, fact.regional, fact.central, fact.deadline_ms,
                 p["job_id"], p["job_kind"], p["model"], event.ts_ms, event_id))
        changes = book.add(fact)
        if changes.revised:
            state.execute("DELETE FROM resonance_transactions")
            state.execute("UPDATE resonance_wallets SET spark = 0, held = 0")
        for eid in sorted(changes.escrows):
            _write_escrow(state, book, eid, event_id)
        for wallet in sorted(changes.wallets):
            _write_wallet(state, book, wallet, event_id)
        state.executemany(
            "INSERT INTO resonance_transactions (wallet_id, currency, amount, reason, ref,"
            " source_event) VALUES (?, 'spark', ?, ?, ?, ?)",
            [(m.wallet, m.amount, m.reason, m.ref, event_id) for m in changes.movements])
    return project


def _project_config(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    state.execute(
        "INSERT INTO node_compute_config (node_id, key, value, seq, source_event)"
        " VALUES (?,?,?,?,?) ON CONFLICT (node_id, key) DO UPDATE SET value = excluded.value,"
        " seq = excluded.seq, source_event = excluded.source_event WHERE excluded.seq > seq",
        (event.origin, p["key"], p["value"], event.seq, event_id))


def _project_reserved(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    state.execute(
        "INSERT OR IGNORE INTO metered_api_usage (call_id, node_id, operator_id, model_id,"
        " task_source, day, reserved_uusd, settlement_status, source_event)"
        " VALUES (?,?,?,?,?,?,?, 'reserved', ?)",
        (p["call_id"], event.origin, p["backend"], p["model"], p["task_source"], p["day"],
         p["reserved_uusd"], event_id))


def _project_settled(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    state.execute(
        "UPDATE metered_api_usage SET tokens_in = ?, tokens_out = ?, actual_usd_cost = ?,"
        " estimated = ?, settlement_status = ?, source_event = ?"
        " WHERE call_id = ? AND node_id = ? AND settlement_status = 'reserved'",
        (p["tokens_in"], p["tokens_out"], p["actual_uusd"], int(p["estimated"]),
         "settled" if p["ok"] else "failed", event_id, p["call_id"], event.origin))


def register(kinds: KindRegistry, views: ViewRegistry, *,
             master_key: bytes | None = None) -> BookCache:
    """Register the compute kinds and views; returns the book cache the
    daemon and CLI read balances from (``cache.get(state)``)."""
    cache = BookCache(master_key)
    for spec in ALL_KINDS:
        kinds.register(spec)
    for name, ddl in TABLES.items():
        views.add_table(name, ddl)
    project = _project_escrow(cache)
    for kind in sorted(ESCROW_KINDS):
        views.project(kind, project)
    views.project(CONFIG_SET.kind, _project_config)
    views.project(METERED_RESERVED.kind, _project_reserved)
    views.project(METERED_SETTLED.kind, _project_settled)
    return cache
