"""A node's own goal events, each precondition checked in the ledger write that signs it.

Like ``compute.wallet``: the guard runs inside the write transaction
(``Ledger.append(guard=...)``), after the views caught up, so two writers
(the daemon and a CLI) serialise on SQLite's write lock and cannot both
spend one budget. ``reserve`` is the budget gate's shell: it reads the
goal, the other goals' open reservations and the wallet, and any of those
it cannot read is a refusal (``unreadable``): it fails closed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hartnode.apps.actors import require_local_actor
from hartnode.apps.goals import gate, lifecycle, queries
from hartnode.apps.goals.kinds import (
    BUDGET_RELEASED,
    BUDGET_RESERVED,
    BUDGET_SPENT,
    GOAL_CREATED,
    GOAL_STATUS_SET,
)
from hartnode.canonical import canonical_text
from hartnode.compute import jobs
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger

#: How a reservation learns what the wallet can still lock (``escrow.Book.available``).
WalletReader = Callable[[NodeLedger, str], int]


def _me(nl: NodeLedger) -> str:
    identity = nl.ledger.identity
    if identity is None:
        raise RuntimeError("this ledger was opened without the node key")
    return identity.node_id


def _append(nl: NodeLedger, draft: Draft, guard: Callable[[], None] | None = None) -> Event:
    stored = nl.ledger.append([draft], guard=guard)
    nl.views.catch_up()
    return stored[0][1]


def create(nl: NodeLedger, body: Mapping[str, Any], *, reach: str = "local") -> Event:
    """A goal in draft. ``body``: title, goal_type, job_kind, params (object), budget_msp.

    Raises:
        queries.QueryError: a field that is not what the kind needs.
    """
    unknown = set(body) - {"title", "goal_type", "job_kind", "params", "budget_msp", "actor"}
    if unknown:
        raise queries.QueryError(sorted(unknown)[0], "unexpected field")
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise queries.QueryError("params", "expected a JSON object")
    if isinstance(body.get("job_kind"), str):
        try:  # a goal that could never be dispatched is refused when it is written
            jobs.validate(body["job_kind"], params)
        except jobs.JobError as e:
            raise queries.QueryError("job_kind" if e.reason == "unknown_kind" else "params",
                                     str(e)) from e
    actor = body.get("actor", "node")
    if not isinstance(actor, str):
        raise queries.QueryError("actor", "expected a string such as user:alice or node")
    require_local_actor(nl.views.state, _me(nl), actor)
    payload = {"title": body.get("title"), "goal_type": body.get("goal_type", "compute"),
               "job_kind": body.get("job_kind"), "params_json": canonical_text(params),
               "budget_msp": body.get("budget_msp")}
    return _append(nl, Draft(GOAL_CREATED.kind, payload, reach=reach, actor=actor))


def set_status(nl: NodeLedger, goal: str, to: str, reason: str = "", *,
               reach: str = "local") -> Event:
    """One lifecycle step of this node's goal.

    Raises:
        lifecycle.LifecycleError: the table does not allow it (checked in the write).
        queries.QueryError: no such goal of this node.
    """
    me = _me(nl)

    def guard() -> None:
        nl.views.catch_up()
        facts = queries.facts(nl.views.state, goal, me)
        if facts is None:
            raise queries.QueryError("id", f"no goal {goal[:16]} of this node")
        lifecycle.check_step(facts.status, to)

    return _append(nl, Draft(GOAL_STATUS_SET.kind, {"goal": goal, "status": to,
                                                     "reason": reason}, reach=reach), guard)


def wallet_available(catalog: Any) -> WalletReader:
    """The wallet reader of the compute views (``catalog.compute``)."""
    def read(nl: NodeLedger, me: str) -> int:
        return int(catalog.compute.get(nl.views.state).available(me))
    return read


def reserve(nl: NodeLedger, goal: str, amount_msp: int, read_wallet: WalletReader, *,
            reach: str = "local") -> Event:
    """Set ``amount_msp`` aside for one dispatch of ``goal``; the event is the reservation.

    Raises:
        gate.GateRefused: the gate said no, or a fact could not be read (``unreadable``).
    """
    me = _me(nl)
    try:  # a goal's config never changes after it is created: safe to read before the write
        nl.views.catch_up()
        config = (queries.show(nl.views.state, goal)["config"]
                  if queries.facts(nl.views.state, goal, me) else {})
    except queries.QueryError:
        config = {}
    except Exception as e:
        raise gate.GateRefused("unreadable", f"cannot read the goal ({e!r})") from e

    def guard() -> None:
        try:
            nl.views.catch_up()
            facts = queries.facts(nl.views.state, goal, me)
            elsewhere = queries.reserved_total(nl.views.state, me)
            available = read_wallet(nl, me)
        except Exception as e:  # fail closed: what cannot be read cannot be spent
            raise gate.GateRefused("unreadable", f"cannot read the goal or the wallet ({e!r})",
                                   "check the node's state database: `hartnode kb verify`"
                                   ) from e
        gate.decide(facts, amount_msp, wallet_available_msp=available,
                    reserved_elsewhere_msp=elsewhere)

    payload = {"goal": goal, "amount_msp": amount_msp,
               "job_kind": str(config.get("job_kind") or "unknown")}
    return _append(nl, Draft(BUDGET_RESERVED.kind, payload, reach=reach), guard)


def release(nl: NodeLedger, reservation: str, reason: str, *, reach: str = "local"
            ) -> Event | None:
    """Give an open reservation back; None when it is not open (already released or spent)."""
    me = _me(nl)

    class _NotOpen(Exception):
        pass

    def guard() -> None:
        nl.views.catch_up()
        if reservation not in queries.open_reservations(nl.views.state, me):
            raise _NotOpen

    try:
        return _append(nl, Draft(BUDGET_RELEASED.kind, {"reservation": reservation,
                                                         "reason": reason[:200]},
                                 reach=reach), guard)
    except _NotOpen:
        return None


def spend(nl: NodeLedger, reservation: str, escrow_id: str, amount_msp: int, *,
          reach: str = "local") -> Event:
    """The reservation became a compute job's escrow."""
    return _append(nl, Draft(BUDGET_SPENT.kind, {"reservation": reservation,
                                                  "escrow_id": escrow_id,
                                                  "amount_msp": amount_msp}, reach=reach))


def release_orphans(nl: NodeLedger, reason: str = "orphaned: the node stopped mid-dispatch"
                    ) -> list[Event]:
    """On start: reservations left open by a process that died between reserving and
    settling are released (the escrow, if one was opened, has its own refund path)."""
    me = _me(nl)
    nl.views.catch_up()
    out = []
    for reservation in queries.open_reservations(nl.views.state, me):
        event = release(nl, reservation, reason)
        if event is not None:
            out.append(event)
    return out

