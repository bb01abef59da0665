"""Metered backends: reserve before the call, settle to the actual after (DESIGN §4).

The original checked the daily limit *after* the call, so a day's last call
could spend without bound. Here ``reserve`` signs a local
``compute.metered.reserved`` event holding ``max_tokens × price`` (plus the
prompt's tokens) inside the ledger write that also checks today's
reservations and settled costs against ``metered_daily_limit_usd``
(``Ledger.append(guard=...)``): a call that would pass the limit is refused
before any byte leaves. ``settle`` records the actual cost; a reservation
never settled (the process died mid-call) keeps counting at its reserved
amount, which errs on the side of the limit.

Money is integer micro-USD; prices are micro-USD per million tokens.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass

from hartnode.compute.events import METERED_RESERVED, METERED_SETTLED
from hartnode.errors import HintedError
from hartnode.ledger import store
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger


class MeteringError(HintedError):
    """A metered call may not start; ``reason``: ``daily_limit``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}",
                         "raise compute.metered_daily_limit_usd, or wait for the next UTC day")
        self.reason = reason


@dataclass(frozen=True)
class Price:
    """micro-USD per million tokens, prompt and completion."""

    in_uusd_per_mtok: int
    out_uusd_per_mtok: int

    def cost(self, tokens_in: int, tokens_out: int) -> int:
        """Rounded up: a reservation must never be below the real cost."""
        total = tokens_in * self.in_uusd_per_mtok + tokens_out * self.out_uusd_per_mtok
        return -(-total // 1_000_000)


def utc_day(now_ms: int) -> str:
    return datetime.datetime.fromtimestamp(now_ms / 1000, datetime.UTC).strftime("%Y-%m-%d")


def spent_today(nl: NodeLedger, node_id: str, day: str) -> int:
    """Settled costs plus open reservations of ``day``, micro-USD."""
    return int(store.scalar(
        nl.views.state,
        "SELECT COALESCE(SUM(CASE WHEN settlement_status = 'reserved' THEN reserved_uusd"
        " ELSE COALESCE(actual_usd_cost, reserved_uusd) END), 0)"
        " FROM metered_api_usage WHERE node_id = ? AND day = ?", (node_id, day)))


def reserve(nl: NodeLedger, *, limit_uusd: int, price: Price, prompt_tokens: int,
            max_tokens: int, backend: str, model: str, task_source: str, now_ms: int,
            call_id: str | None = None) -> str:
    """Reserve the most a call can cost; returns its call id.

    Raises:
        MeteringError: ``daily_limit`` (nothing was signed, nothing may be sent).
    """
    me = nl.ledger.identity.node_id if nl.ledger.identity else ""
    day = utc_day(now_ms)
    # One token of margin: llama-cpp-python's server reports max_tokens + 1
    # completion tokens for a completion cut at max_tokens (seen in the -m llama test).
    amount = price.cost(prompt_tokens, max_tokens + 1)
    call = call_id or secrets.token_hex(16)

    def guard() -> None:
        nl.views.catch_up()
        spent = spent_today(nl, me, day)
        if spent + amount > limit_uusd:
            raise MeteringError("daily_limit", f"{spent} + {amount} micro-USD would pass the "
                                               f"daily limit of {limit_uusd} on {day}")

    nl.ledger.append([Draft(METERED_RESERVED.kind, {
        "call_id": call, "backend": backend[:200], "model": model[:200],
        "task_source": task_source, "day": day, "reserved_uusd": amount}, reach="local")],
        guard=guard)
    nl.views.catch_up()
    return call


def settle(nl: NodeLedger, call_id: str, *, price: Price, tokens_in: int, tokens_out: int,
           estimated: bool, ok: bool) -> int:
    """Record what the call really cost; returns it (micro-USD)."""
    actual = price.cost(tokens_in, tokens_out)
    nl.append([Draft(METERED_SETTLED.kind, {
        "call_id": call_id, "tokens_in": tokens_in, "tokens_out": tokens_out,
        "actual_uusd": actual, "estimated": estimated, "ok": ok}, reach="local")])
    return actual
