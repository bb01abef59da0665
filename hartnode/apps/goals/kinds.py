"""The goal event kinds (issue #12): a goal, its lifecycle, and its Spark budget.

A goal's id is the hash of its creating event; only its origin moves it
(the projection ignores anyone else's events about it). Goals are the
node's own business: ``local`` by default, ``hierarchy`` when a parent
should see them. Amounts are integer milli-Spark (DESIGN §8).
"""

from __future__ import annotations

from hartnode.canonical import MAX_SAFE_INTEGER
from hartnode.ledger.kinds import Hex, Int, KindSpec, Obj, Str

REACHES = frozenset({"local", "hierarchy"})
STATUSES = ("draft", "active", "paused", "done", "failed")

GOAL_CREATED = KindSpec(
    kind="goals.goal.created",
    payload=Obj({
        "title": Str(min_len=1, max_len=200),
        "goal_type": Str(min_len=1, max_len=40, pattern=r"[a-z0-9_.-]+"),
        # What each dispatch runs: a compute job kind and its params (canonical JSON text).
        "job_kind": Str(min_len=1, max_len=64),
        "params_json": Str(min_len=2, max_len=8000),
        "budget_msp": Int(min=0, max=MAX_SAFE_INTEGER),
    }),
    reaches=REACHES,
    doc="A goal in draft, with the most Spark its jobs may spend.")

GOAL_STATUS_SET = KindSpec(
    kind="goals.goal.status_set",
    payload=Obj({"goal": Hex(32), "status": Str(pattern="|".join(STATUSES)),
                 "reason": Str(max_len=200)}),
    reaches=REACHES,
    doc="A lifecycle step (``lifecycle.TRANSITIONS`` says which are allowed).")

BUDGET_RESERVED = KindSpec(
    kind="goals.budget.reserved",
    payload=Obj({"goal": Hex(32), "amount_msp": Int(min=1, max=MAX_SAFE_INTEGER),
                 "job_kind": Str(min_len=1, max_len=64)}),
    reaches=REACHES,
    doc="Spark set aside for one dispatch before it is sent (the budget gate).")

BUDGET_RELEASED = KindSpec(
    kind="goals.budget.released",
    payload=Obj({"reservation": Hex(32), "reason": Str(max_len=200)}),
    reaches=REACHES,
    doc="A reservation given back: the job failed, was deferred, or was orphaned.")

BUDGET_SPENT = KindSpec(
    kind="goals.budget.spent",
    payload=Obj({"reservation": Hex(32), "escrow_id": Hex(32),
                 "amount_msp": Int(min=0, max=MAX_SAFE_INTEGER)}),
    reaches=REACHES,
    doc="A reservation turned into a compute job's escrow.")

KINDS = (GOAL_CREATED, GOAL_STATUS_SET, BUDGET_RESERVED, BUDGET_RELEASED, BUDGET_SPENT)
