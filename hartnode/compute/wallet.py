"""Escrow steps a node takes on its own feed, each checked in the same write.

``open_escrow`` is the borrower's lock: inside the ledger's write transaction
(``Ledger.append(guard=...)``) the views catch up and the book must show
every earlier opening of this node funded and the balance covering the new
amount; only then is the opening signed. Two concurrent opens (the daemon and
a CLI) serialise on SQLite's write lock, so they cannot both spend one
balance. Other nodes do not trust this check: their books fund openings
only from what they can see (``escrow.Book``), so no wallet goes below zero
anywhere, even for a borrower that skipped it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hartnode.compute import escrow
from hartnode.compute.events import (
    ESCROW_DISPUTED,
    ESCROW_OPENED,
    ESCROW_REFUNDED,
    ESCROW_RELEASED,
    ESCROW_RESOLVED,
    GRANT_ISSUED,
    RECEIPT_SIGNED,
)
from hartnode.errors import HintedError
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger

if TYPE_CHECKING:  # only the type: catalog imports compute (its views), not the reverse
    from hartnode.catalog import Catalog


class EscrowError(HintedError):
    """An escrow step this node may not take; ``reason`` names why.

    Reasons: ``insufficient_spark``, ``blocked`` (an earlier opening is not
    funded), ``unknown_escrow``, ``not_borrower``, ``not_arbiter``,
    ``already_settled``, ``before_deadline``, ``past_deadline``.
    """

    def __init__(self, reason: str, detail: str, hint: str = "") -> None:
        super().__init__(f"{reason}: {detail}", hint or "see `hartnode compute escrow`")
        self.reason = reason


@dataclass(frozen=True)
class OpenRequest:
    lender: str
    amount_msp: int
    deadline_ms: int
    central: str
    regional: str = ""
    job_id: str = "00" * 16
    job_kind: str = "cpu.hash_chain"
    model: str = ""


def _book(nl: NodeLedger, catalog: Catalog) -> escrow.Book:
    nl.views.catch_up()
    return catalog.compute.get(nl.views.state)


def open_escrow(nl: NodeLedger, catalog: Catalog, req: OpenRequest, *,
                ts_ms: int | None = None) -> str:
    """Lock ``req.amount_msp`` for one job; returns the escrow id.

    Raises:
        EscrowError: ``insufficient_spark`` or ``blocked``, checked in the write.
    """
    me = nl.ledger.identity.node_id if nl.ledger.identity else ""

    def guard() -> None:
        book = _book(nl, catalog)
        own = book.opens_by_borrower.get(me, [])
        if book.prefix.get(me, 0) < len(own):
            raise EscrowError("blocked", "an earlier escrow of this node is not funded yet")
        if book.available(me) < req.amount_msp:
            raise EscrowError("insufficient_spark",
                              f"{book.available(me)} milli-Spark available, {req.amount_msp} "
                              "needed", "wait for open escrows to settle, or ask for a grant")

    payload = {"lender": req.lender, "amount_msp": req.amount_msp,
               "deadline_ms": req.deadline_ms, "regional": req.regional,
               "central": req.central, "job_id": req.job_id, "job_kind": req.job_kind,
               "model": req.model}
    stored = nl.ledger.append([Draft(ESCROW_OPENED.kind, payload, ts_ms=ts_ms)], guard=guard)
    nl.views.catch_up()
    return stored[0][1].hash_hex


def _borrower_step(nl: NodeLedger, catalog: Catalog, kind: str, escrow_id: str,
                   extra: dict[str, str], *, ts_ms: int | None, now_ms: int) -> None:
    me = nl.ledger.identity.node_id if nl.ledger.identity else ""

    def guard() -> None:
        book = _book(nl, catalog)
        op = book.opens.get(escrow_id)
        if op is None:
            raise EscrowError("unknown_escrow", escrow_id[:16])
        if op.borrower != me:
            raise EscrowError("not_borrower", "only the borrower takes this step")
        status = book.status(escrow_id)
        if status in escrow.TERMINAL or status == escrow.STATUS_DISPUTED:
            raise EscrowError("already_settled", f"escrow is {status}")
        at = now_ms if ts_ms is None else ts_ms
        if kind == ESCROW_REFUNDED.kind and at < op.deadline_ms:
            raise EscrowError("before_deadline", f"refund allowed from {op.deadline_ms}")
        if kind != ESCROW_REFUNDED.kind and at >= op.deadline_ms:
            raise EscrowError("past_deadline", "release or dispute only before the deadline")

    nl.ledger.append([Draft(kind, {"escrow_id": escrow_id, **extra}, ts_ms=ts_ms)], guard=guard)
    nl.views.catch_up()


def release(nl: NodeLedger, catalog: Catalog, escrow_id: str, *, now_ms: int,
            ts_ms: int | None = None) -> None:
    """Pay the lender (auto-settle does this on a valid receipt)."""
    _borrower_step(nl, catalog, ESCROW_RELEASED.kind, escrow_id, {}, ts_ms=ts_ms, now_ms=now_ms)


def dispute(nl: NodeLedger, catalog: Catalog, escrow_id: str, reason: str, *, now_ms: int,
            ts_ms: int | None = None) -> None:
    _borrower_step(nl, catalog, ESCROW_DISPUTED.kind, escrow_id, {"reason": reason},
                   ts_ms=ts_ms, now_ms=now_ms)


def refund(nl: NodeLedger, catalog: Catalog, escrow_id: str, *, now_ms: int,
           ts_ms: int | None = None) -> None:
    _borrower_step(nl, catalog, ESCROW_REFUNDED.kind, escrow_id, {}, ts_ms=ts_ms, now_ms=now_ms)


def resolve(nl: NodeLedger, catalog: Catalog, escrow_id: str, outcome: str, reason: str) -> None:
    """The arbiter's decision on a disputed or silent escrow."""
    me = nl.ledger.identity.node_id if nl.ledger.identity else ""

    def guard() -> None:
        book = _book(nl, catalog)
        op = book.opens.get(escrow_id)
        if op is None:
            raise EscrowError("unknown_escrow", escrow_id[:16])
        if escrow.arbiter(op) != me:
            raise EscrowError("not_arbiter", "only the escrow's regional (else central) resolves")
        if book.status(escrow_id) in escrow.TERMINAL:
            raise EscrowError("already_settled", f"escrow is {book.status(escrow_id)}")

    nl.ledger.append([Draft(ESCROW_RESOLVED.kind, {"escrow_id": escrow_id, "outcome": outcome,
                                                   "reason": reason})], guard=guard)
    nl.views.catch_up()


def sign_receipt(nl: NodeLedger, escrow_id: str, job_id: str, result_hash: str, *,
                 tokens_in: int = 0, tokens_out: int = 0, estimated: bool = False,
                 model_hash: str = "") -> str:
    """The lender's signed receipt for a job it ran; returns its event hash."""
    stored = nl.append([Draft(RECEIPT_SIGNED.kind, {
        "escrow_id": escrow_id, "job_id": job_id, "result_hash": result_hash,
        "tokens_in": tokens_in, "tokens_out": tokens_out, "estimated": estimated,
        "model_hash": model_hash})])
    return stored[0].hash_hex


def grant(nl: NodeLedger, to: str, amount_msp: int, chain: list[list[str]],
          memo: str = "") -> str:
    """A central mints Spark to ``to`` (counted only where its chain verifies)."""
    stored = nl.append([Draft(GRANT_ISSUED.kind, {"to": to, "amount_msp": amount_msp,
                                                  "memo": memo, "chain": chain})])
    return stored[0].hash_hex
