"""Reads of the goal views: a page of goals, one goal with its reservations, gate facts."""

from __future__ import annotations

import json
from typing import Any

import apsw

from hartnode.apps import listing
from hartnode.apps.api_args import PAGE_DEFAULT, PAGE_MAX, QueryError
from hartnode.apps.goals.gate import GoalFacts
from hartnode.ledger import store

__all__ = ["PAGE_DEFAULT", "PAGE_MAX", "QueryError", "facts", "page", "reserved_total",
           "resolve", "show"]

_COLUMNS = ("goal, origin, created_by, goal_type, title, config, status, status_reason, "
            "spark_budget, reserved_msp, spent_msp, ts_ms, updated_ms")


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    (goal, origin, actor, goal_type, title, config, status, reason, budget, reserved, spent,
     ts_ms, updated) = row
    return {"goal": goal, "origin": origin, "actor": actor, "goal_type": goal_type,
            "title": title, "config": json.loads(config), "status": status,
            "status_reason": reason, "budget_msp": budget, "reserved_msp": reserved,
            "spent_msp": spent, "left_msp": budget - reserved - spent, "ts_ms": ts_ms,
            "updated_ms": updated}


def page(state: apsw.Connection, *, limit: int = PAGE_DEFAULT, before: str | None = None,
         status: str | None = None) -> dict[str, Any]:
    """``{"items": [...], "next": cursor | None}``, newest first."""
    return listing.newest_first(
        state, table="agent_goals", key="goal", columns=_COLUMNS, row=_row, limit=limit,
        before=before, where=["status = ?"] if status else [], params=[status] if status else [])


def resolve(state: apsw.Connection, ref: str) -> str:
    """A goal's full id from its hash or a unique prefix of at least 8 hex digits."""
    return listing.resolve_prefix(state, table="agent_goals", key="goal", ref=ref, noun="goal",
                                  expected="a goal id")


def show(state: apsw.Connection, ref: str) -> dict[str, Any]:
    """One goal with its reservations, newest first."""
    goal = resolve(state, ref)
    out = _row(store.query(state, f"SELECT {_COLUMNS} FROM agent_goals WHERE goal = ?",
                           (goal,))[0])
    out["reservations"] = [
        {"reservation": r, "amount_msp": a, "job_kind": k, "state": s, "reason": why,
         "escrow_id": e, "ts_ms": ts}
        for r, a, k, s, why, e, ts in store.query(
            state, "SELECT reservation, amount_msp, job_kind, state, reason, escrow_id, ts_ms "
            "FROM goal_reservations WHERE goal = ? ORDER BY source_event DESC", (goal,))]
    return out


def facts(state: apsw.Connection, goal: str, origin: str) -> GoalFacts | None:
    """What the budget gate needs of one goal of ``origin``."""
    rows = store.query(state, "SELECT status, spark_budget, reserved_msp, spent_msp FROM "
                              "agent_goals WHERE goal = ? AND origin = ?", (goal, origin))
    if not rows:
        return None
    status, budget, reserved, spent = rows[0]
    return GoalFacts(str(status), int(budget), int(reserved), int(spent))


def reserved_total(state: apsw.Connection, origin: str) -> int:
    """Σ open reservations of every goal of ``origin``: Spark promised, not yet in escrow."""
    return int(store.scalar(state, "SELECT COALESCE(SUM(amount_msp), 0) FROM goal_reservations "
                                   "WHERE origin = ? AND state = 'open'", (origin,)))


def open_reservations(state: apsw.Connection, origin: str) -> list[str]:
    return [str(r[0]) for r in store.query(
        state, "SELECT reservation FROM goal_reservations WHERE origin = ? AND state = 'open' "
        "ORDER BY source_event", (origin,))]
