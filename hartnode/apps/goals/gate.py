"""The budget gate: may this goal reserve this much Spark now? Pure, fail-closed.

Two budgets must both cover a reservation (issue #12):
- the goal's: ``budget - reserved - spent`` (what its open and finished
  dispatches already took);
- the node's wallet: what it can still lock in escrows
  (``escrow.Book.available``) minus what every goal has reserved and not yet
  turned into an escrow. The same Spark is never promised twice.

The caller reads the facts inside the ledger write that signs the
reservation (``writes.reserve``); a fact it cannot read is a refusal
(``unreadable``), never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from hartnode.errors import HintedError


class GateRefused(HintedError):
    """The gate said no; ``reason`` is one of ``unknown_goal``, ``not_active``,
    ``bad_amount``, ``over_budget``, ``insufficient_spark``, ``unreadable``."""

    def __init__(self, reason: str, detail: str, hint: str = "") -> None:
        super().__init__(f"{reason}: {detail}", hint or "see `hartnode goals show ID`")
        self.reason = reason


@dataclass(frozen=True)
class GoalFacts:
    status: str
    budget_msp: int
    reserved_msp: int
    spent_msp: int

    @property
    def left_msp(self) -> int:
        return self.budget_msp - self.reserved_msp - self.spent_msp


def decide(goal: GoalFacts | None, amount_msp: int, *, wallet_available_msp: int,
           reserved_elsewhere_msp: int) -> None:
    """Raises GateRefused unless ``amount_msp`` may be reserved for ``goal``."""
    if goal is None:
        raise GateRefused("unknown_goal", "no such goal of this node")
    if goal.status != "active":
        raise GateRefused("not_active", f"the goal is {goal.status}",
                          "activate it with `hartnode goals activate ID`")
    if amount_msp <= 0:
        raise GateRefused("bad_amount", f"{amount_msp} milli-Spark")
    if amount_msp > goal.left_msp:
        raise GateRefused("over_budget", f"{goal.left_msp} milli-Spark left of the goal's "
                          f"{goal.budget_msp}, {amount_msp} asked")
    free = wallet_available_msp - reserved_elsewhere_msp
    if amount_msp > free:
        raise GateRefused("insufficient_spark", f"the wallet can lock {free} milli-Spark after "
                          f"other goals' reservations, {amount_msp} asked",
                          "wait for open escrows to settle, or ask for a grant")
