"""The goal views: ``agent_goals`` (seed 000) and ``goal_reservations``.

Only a goal's origin moves it: events about a goal from any other origin
are ignored. One origin's events are projected in its feed order on every
node (a feed is ingested in seq order), so folding them gives the same rows
everywhere. A step the lifecycle table refuses, or a reservation the budget
gate would have refused, is recorded as refused and changes no total: the
writer checks both before signing, so only a faulty origin makes them.
"""

from __future__ import annotations

import json

import apsw

from hartnode.apps.goals import lifecycle
from hartnode.apps.goals.kinds import (
    BUDGET_RELEASED,
    BUDGET_RESERVED,
    BUDGET_SPENT,
    GOAL_CREATED,
    GOAL_STATUS_SET,
    KINDS,
)
from hartnode.ledger.envelope import Event
from hartnode.ledger.kinds import KindRegistry
from hartnode.ledger.views import ViewRegistry

GOALS_DDL = """
CREATE TABLE IF NOT EXISTS agent_goals (
  id            INTEGER PRIMARY KEY,
  goal          TEXT NOT NULL UNIQUE,   -- hash of the creating event
  origin        TEXT NOT NULL,
  created_by    TEXT NOT NULL,          -- the actor
  goal_type     TEXT NOT NULL,
  title         TEXT NOT NULL,
  config        TEXT NOT NULL,          -- {"job_kind": ..., "params": {...}}
  status        TEXT NOT NULL,
  status_reason TEXT NOT NULL DEFAULT '',
  spark_budget  INTEGER NOT NULL,       -- milli-Spark
  reserved_msp  INTEGER NOT NULL DEFAULT 0,
  spent_msp     INTEGER NOT NULL DEFAULT 0,
  ts_ms         INTEGER NOT NULL,
  updated_ms    INTEGER NOT NULL,
  source_event  INTEGER NOT NULL
)
"""

RESERVATIONS_DDL = """
CREATE TABLE IF NOT EXISTS goal_reservations (
  reservation   TEXT PRIMARY KEY,       -- hash of the reserving event
  goal          TEXT NOT NULL,
  origin        TEXT NOT NULL,
  amount_msp    INTEGER NOT NULL,
  job_kind      TEXT NOT NULL,
  state         TEXT NOT NULL,          -- open | released | spent | refused
  reason        TEXT NOT NULL DEFAULT '',
  escrow_id     TEXT,
  ts_ms         INTEGER NOT NULL,
  source_event  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_goal_reservations_goal ON goal_reservations(goal, state);
"""


def _goal(state: apsw.Connection, goal: str, origin: str) -> tuple[str, int, int, int] | None:
    rows = state.execute("SELECT status, spark_budget, reserved_msp, spent_msp FROM agent_goals "
                         "WHERE goal = ? AND origin = ?", (goal, origin)).fetchall()
    if not rows:
        return None
    status, budget, reserved, spent = (str(v) for v in rows[0])
    return status, int(budget), int(reserved), int(spent)


def _created(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    try:
        params = json.loads(p["params_json"])
    except ValueError:
        params = None
    config = json.dumps({"job_kind": p["job_kind"], "params": params}, sort_keys=True)
    state.execute(
        "INSERT OR IGNORE INTO agent_goals (goal, origin, created_by, goal_type, title, config,"
        " status, spark_budget, ts_ms, updated_ms, source_event) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (event.hash_hex, event.origin, event.actor, p["goal_type"], p["title"], config, "draft",
         p["budget_msp"], event.ts_ms, event.ts_ms, event_id))


def _status(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    current = _goal(state, p["goal"], event.origin)
    if current is None or not lifecycle.allowed(current[0], p["status"]):
        return
    state.execute("UPDATE agent_goals SET status = ?, status_reason = ?, updated_ms = ? "
                  "WHERE goal = ?", (p["status"], p["reason"], event.ts_ms, p["goal"]))


def _reserved(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    current = _goal(state, p["goal"], event.origin)
    ok = (current is not None and current[0] == "active"
          and p["amount_msp"] <= current[1] - current[2] - current[3])
    state.execute(
        "INSERT OR IGNORE INTO goal_reservations (reservation, goal, origin, amount_msp, job_kind,"
        " state, reason, ts_ms, source_event) VALUES (?,?,?,?,?,?,?,?,?)",
        (event.hash_hex, p["goal"], event.origin, p["amount_msp"], p["job_kind"],
         "open" if ok else "refused", "" if ok else "over the goal's budget or not active",
         event.ts_ms, event_id))
    if ok and state.changes() == 1:  # a replayed duplicate adds nothing twice
        state.execute("UPDATE agent_goals SET reserved_msp = reserved_msp + ? WHERE goal = ?",
                      (p["amount_msp"], p["goal"]))


def _open_reservation(state: apsw.Connection, reservation: str,
                      origin: str) -> tuple[str, int] | None:
    rows = state.execute("SELECT goal, amount_msp FROM goal_reservations WHERE reservation = ? "
                         "AND origin = ? AND state = 'open'", (reservation, origin)).fetchall()
    return (str(rows[0][0]), int(str(rows[0][1]))) if rows else None


def _released(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    found = _open_reservation(state, p["reservation"], event.origin)
    if found is None:
        return
    goal, amount = found
    state.execute("UPDATE goal_reservations SET state = 'released', reason = ? "
                  "WHERE reservation = ?", (p["reason"], p["reservation"]))
    state.execute("UPDATE agent_goals SET reserved_msp = reserved_msp - ? WHERE goal = ?",
                  (amount, goal))


def _spent(state: apsw.Connection, event_id: int, event: Event) -> None:
    p = event.payload
    found = _open_reservation(state, p["reservation"], event.origin)
    if found is None:
        return
    goal, amount = found
    spent = min(amount, p["amount_msp"])  # never more than was reserved
    state.execute("UPDATE goal_reservations SET state = 'spent', escrow_id = ? "
                  "WHERE reservation = ?", (p["escrow_id"], p["reservation"]))
    state.execute("UPDATE agent_goals SET reserved_msp = reserved_msp - ?, "
                  "spent_msp = spent_msp + ? WHERE goal = ?", (amount, spent, goal))


def register(kinds: KindRegistry, views: ViewRegistry) -> None:
    for spec in KINDS:
        kinds.register(spec)
    views.add_table("agent_goals", GOALS_DDL)
    views.add_table("goal_reservations", RESERVATIONS_DDL)
    views.project(GOAL_CREATED.kind, _created)
    views.project(GOAL_STATUS_SET.kind, _status)
    views.project(BUDGET_RESERVED.kind, _reserved)
    views.project(BUDGET_RELEASED.kind, _released)
    views.project(BUDGET_SPENT.kind, _spent)
