"""SQL of ``ledger.sqlite`` and ``state.sqlite``, and their numbered migrations.

Column names follow the seed "Knowledge Base Schemas" (events: id, ts_ms,
actor, kind, scope, payload_json, provenance_json, hash_blake3; meta:
schema_version, dirty, ts; snapshots: events_high_watermark) with DESIGN §1's
additions. Flaws of the seed fixed here:

- the seed's envelope had no origin, sequence or signature, so nothing could
  be replicated or verified: ``origin``, ``seq``, ``prev_hash``, ``sig`` are
  added with UNIQUE(origin, seq);
- "never update/delete" was a comment: triggers now refuse both;
- ``source_event REFERENCES events(id)`` pointed across two database files,
  which SQLite cannot enforce: ``kb verify`` checks those references instead;
- ``meta`` could hold many rows: it is now one row (``id = 1``);
- a file of another program was indistinguishable: ``PRAGMA application_id``
  marks ours.

``row_check`` binds the row's local columns (id, received_ms) to the signed
hash, so ``kb verify`` also sees a flipped bit in them or two rows swapped.

Migrations are numbered and append-only: ``LEDGER_MIGRATIONS[i]`` takes the
schema from version i to i+1. ``SCHEMA_VERSION`` is the SemVer of the latest.
A new database runs them all in order, so a fresh node and a migrated one end
with the same schema.
"""

from __future__ import annotations

from dataclasses import dataclass

# 'HART' — tells our files from any other SQLite database.
APPLICATION_ID_LEDGER = 0x48415254
APPLICATION_ID_STATE = 0x48415253


@dataclass(frozen=True)
class Migration:
    version: str  # the SemVer the schema has after this step
    sql: str


LEDGER_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "1.0.0",
        """
        CREATE TABLE events (
          id              INTEGER PRIMARY KEY AUTOINCREMENT,
          ts_ms           INTEGER NOT NULL,
          actor           TEXT NOT NULL,
          kind            TEXT NOT NULL,
          scope           TEXT NOT NULL,
          payload_json    TEXT NOT NULL,      -- RFC 8785 canonical
          provenance_json TEXT NOT NULL,      -- RFC 8785 canonical
          hash_blake3     BLOB NOT NULL UNIQUE,
          origin          TEXT NOT NULL,      -- node id hex
          seq             INTEGER NOT NULL,
          prev_hash       BLOB,               -- NULL exactly at seq 1
          reach           TEXT NOT NULL,
          sig             BLOB NOT NULL,
          received_ms     INTEGER NOT NULL,   -- local: when this node stored it
          v               INTEGER NOT NULL DEFAULT 1,
          row_check       BLOB NOT NULL,      -- BLAKE3(id, received_ms, hash)[:16]
          UNIQUE (origin, seq)
        );
        CREATE INDEX idx_events_kind_ts ON events(kind, ts_ms);
        CREATE INDEX idx_events_actor_ts ON events(actor, ts_ms);
        CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
          BEGIN SELECT RAISE(ABORT, 'events are append-only: no UPDATE'); END;
        CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
          BEGIN SELECT RAISE(ABORT, 'events are append-only: no DELETE'); END;

        -- Two different signed events at one (origin, seq): the proof of a fork.
        CREATE TABLE equivocations (
          id           INTEGER PRIMARY KEY,
          origin       TEXT NOT NULL,
          seq          INTEGER NOT NULL,
          envelope_a   BLOB NOT NULL,
          sig_a        BLOB NOT NULL,
          envelope_b   BLOB NOT NULL,
          sig_b        BLOB NOT NULL,
          detected_ms  INTEGER NOT NULL,
          UNIQUE (origin, seq)
        );

        CREATE TABLE meta (
          id              INTEGER PRIMARY KEY CHECK (id = 1),
          schema_version  TEXT NOT NULL,
          dirty           INTEGER NOT NULL DEFAULT 0,
          ts              DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
        );
        """,
    ),
)

LEDGER_MIGRATIONS += (
    Migration(
        "1.1.0",
        """
        -- Events of a feed this node may not see (reach local or hierarchy, on a
        -- link that does not carry them): known by seq and hash only, so the
        -- next event's prev still links. The successor's signature vouches for
        -- the hash; until one arrives, the marker is only the forwarder's word.
        CREATE TABLE withheld (
          origin       TEXT NOT NULL,
          seq          INTEGER NOT NULL,
          hash_blake3  BLOB NOT NULL,
          prev_hash    BLOB,
          reach        TEXT NOT NULL,
          received_ms  INTEGER NOT NULL,
          PRIMARY KEY (origin, seq)
        ) WITHOUT ROWID;
        """,
    ),
)

LEDGER_MIGRATIONS += (
    Migration(
        "1.2.0",
        """
        -- Only an origin speaks for its feed (DESIGN §8): a marker carries the
        -- origin's signature of (origin, seq, hash, prev, reach), checked on
        -- ingest. Markers stored before 1.2.0 have none (NULL): they are kept,
        -- since later events link through them, are not served on, and
        -- `kb verify` counts them.
        ALTER TABLE withheld ADD COLUMN sig BLOB;
        -- This node's marker signatures for its own local and hierarchy events,
        -- made at append, so it can serve them as verifiable markers.
        CREATE TABLE marker_sigs (
          origin  TEXT NOT NULL,
          seq     INTEGER NOT NULL,
          sig     BLOB NOT NULL,
          PRIMARY KEY (origin, seq)
        ) WITHOUT ROWID;
        """,
    ),
)

STATE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "1.0.0",
        """
        CREATE TABLE meta (
          id              INTEGER PRIMARY KEY CHECK (id = 1),
          schema_version  TEXT NOT NULL,
          dirty           INTEGER NOT NULL DEFAULT 0,
          ts              DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
        );
        -- One row per view generation (created by init, rebuild, migrate); the
        -- newest row's watermark is the highest ledger events.id applied.
        CREATE TABLE snapshots (
          id                     INTEGER PRIMARY KEY,
          ts                     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
          events_high_watermark  INTEGER NOT NULL DEFAULT 0,
          comment                TEXT
        );
        """,
    ),
)

STATE_MIGRATIONS += (
    Migration(
        "1.1.0",
        """
        -- The peers this node knows, from their signed peer records (gossip,
        -- not ledger events: not a view, kb rebuild leaves it alone). The seed's
        -- columns first; record is the signed wire form, verified again on load.
        CREATE TABLE peer_nodes (
          id                 INTEGER PRIMARY KEY,
          node_id            TEXT NOT NULL UNIQUE,
          url                TEXT,               -- first advertised address; NULL behind NAT
          status             TEXT NOT NULL,      -- active | stale | dead, when written
          contribution_score REAL NOT NULL DEFAULT 0,
          tier               TEXT NOT NULL,      -- verified tier (flat without a valid chain)
          public_key         TEXT NOT NULL,      -- hex Ed25519 key (equal to node_id)
          integrity_status   TEXT NOT NULL DEFAULT 'unknown',
          claimed_tier       TEXT NOT NULL,
          region             TEXT NOT NULL,
          addrs_json         TEXT NOT NULL,
          capabilities_json  TEXT NOT NULL,
          seq                INTEGER NOT NULL,
          last_seen_ms       INTEGER NOT NULL,
          record             BLOB NOT NULL,
          updated_ms         INTEGER NOT NULL
        );
        """,
    ),
)

STATE_MIGRATIONS += (
    Migration(
        "1.2.0",
        """
        -- Hierarchical sync (DESIGN §3 "Sync", hartnode.hierarchy.sync_queue): one
        -- row per event to deliver to one parent (up) or child (down). Not a
        -- view: acknowledgements come from the peer, not from the ledger, so
        -- `kb rebuild` leaves it alone. Idempotent by (peer, event_hash).
        CREATE TABLE sync_queue (
          id               INTEGER PRIMARY KEY,
          peer             TEXT NOT NULL,      -- node id of the parent or child
          direction        TEXT NOT NULL CHECK (direction IN ('up', 'down')),
          event_hash       BLOB NOT NULL,
          event_id         INTEGER NOT NULL,   -- ledger events.id, to read it back
          origin           TEXT NOT NULL,
          seq              INTEGER NOT NULL,
          status           TEXT NOT NULL CHECK (status IN ('pending', 'in_flight', 'acked')),
          attempts         INTEGER NOT NULL DEFAULT 0,
          next_attempt_ms  INTEGER NOT NULL,   -- pending: not before; in_flight: ack deadline
          last_error       TEXT,
          created_ms       INTEGER NOT NULL,
          updated_ms       INTEGER NOT NULL,
          UNIQUE (peer, event_hash)
        );
        CREATE INDEX idx_sync_queue_due ON sync_queue(peer, status, next_attempt_ms);
        -- How far the ledger has been scanned for events to queue (events.id).
        CREATE TABLE sync_scan (
          id           INTEGER PRIMARY KEY CHECK (id = 1),
          scanned_id   INTEGER NOT NULL
        );
        INSERT INTO sync_scan (id, scanned_id) VALUES (1, 0);
        """,
    ),
)

STATE_MIGRATIONS += (
    Migration(
        "1.3.0",
        """
        -- This node's own judgement of its peers' integrity (DESIGN §4,
        -- hartnode.attestation.reputation): Beta scores and quarantines. Not a
        -- view: it weighs our own challenges and the evidence we re-verified,
        -- so `kb rebuild` leaves it alone. The step also makes `kb migrate`
        -- replay the views, so the trust views (node_attestations,
        -- integrity_challenges, ...) project events that an older node stored
        -- as opaque.
        CREATE TABLE trust_reputation (
          node_id      TEXT PRIMARY KEY,
          alpha        REAL NOT NULL,
          beta         REAL NOT NULL,
          standing     TEXT NOT NULL CHECK (standing IN ('trusted', 'quarantined', 'probation')),
          until_ms     INTEGER,            -- end of the quarantine (wall clock)
          strikes      INTEGER NOT NULL,   -- quarantines so far (the backoff doubles)
          streak       INTEGER NOT NULL,   -- passes in a row on probation
          unknown      REAL NOT NULL,      -- recent errors of ours (fast-forgetting)
          counts_json  TEXT NOT NULL,      -- outcomes seen: pass, fail, offline, unknown
          updated_ms   INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    Migration(
        "1.4.0",
        """
        -- Compute lending (DESIGN §4, hartnode.compute): the seed's compute columns
        -- of peer_nodes, in integer units (the seed's REAL hours, kWh and USD
        -- drift when summed). The compute views themselves are registered by
        -- hartnode.compute.views; this step exists so that `kb migrate` replays
        -- the views and compute events stored opaque by an older build count.
        ALTER TABLE peer_nodes ADD COLUMN cause_alignment TEXT NOT NULL DEFAULT '';
        ALTER TABLE peer_nodes ADD COLUMN electricity_rate_uusd_kwh INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE peer_nodes ADD COLUMN gpu_ms_served INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE peer_nodes ADD COLUMN total_inferences INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE peer_nodes ADD COLUMN energy_wh_contributed INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE peer_nodes ADD COLUMN metered_api_costs_absorbed_uusd INTEGER NOT NULL
          DEFAULT 0;
        """,
    ),
)

STATE_MIGRATIONS += (
    Migration(
        "1.5.0",
        """
        -- What each peer's record offers for compute (DESIGN §4, issue #11), as
        -- hartnode.compute.capabilities parses its tags: the GPU (count, model,
        -- memory of the smallest), the job kinds and models it runs, its price
        -- per job and its compute policy. Filled from capabilities_json each
        -- time the peer table is saved (hartnode.compute.daemon.save_peer_columns);
        -- unchecked claims, like the record (results are checked by replication).
        ALTER TABLE peer_nodes ADD COLUMN gpu_count INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE peer_nodes ADD COLUMN gpu_model TEXT NOT NULL DEFAULT '';
        ALTER TABLE peer_nodes ADD COLUMN gpu_memory_mib INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE peer_nodes ADD COLUMN compute_kinds_json TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE peer_nodes ADD COLUMN compute_models_json TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE peer_nodes ADD COLUMN compute_price_msp INTEGER;  -- NULL: offers none
        ALTER TABLE peer_nodes ADD COLUMN compute_policy TEXT NOT NULL DEFAULT '';
        """,
    ),
)

SCHEMA_VERSION = LEDGER_MIGRATIONS[-1].version
STATE_SCHEMA_VERSION = STATE_MIGRATIONS[-1].version
