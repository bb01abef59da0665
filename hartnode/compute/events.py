"""Event kinds of compute lending and their translation into escrow facts.

Names follow DESIGN §1 (``<app>.<noun>.<verb>``, past tense). Amounts are
integer milli-Spark (``*_msp``) and integer micro-USD (``*_uusd``): no floats
in signed payloads. Who may sign what is checked where the meaning is
(``escrow.Book``): a release by anyone but the borrower, a resolution by
anyone but the arbiter, a grant by a non-central is stored and ignored.

A grant carries its central's certificate chain (hex pairs, master-issued
link first), checked against the pinned master key at the grant's own
``ts_ms``, so every node reaches the same verdict from the event alone.
"""

from __future__ import annotations

from collections.abc import Callable

from hartnode.attestation.certificate import ChainError, verify_chain
from hartnode.compute import escrow
from hartnode.ledger.envelope import Event
from hartnode.ledger.kinds import Bool, Hex, Int, KindSpec, List, Obj, Str

MAX_SPARK_MSP = 10**15  # a bound well inside ±(2^53-1): sums of many stay exact
_NODE_OR_EMPTY = r"(|[0-9a-f]{64})"
_HEX_PAIR = List(Str(min_len=2, max_len=8192, pattern=r"[0-9a-f]+"), max_items=2)
_EVENTS = frozenset({"network", "hierarchy"})

GRANT_ISSUED = KindSpec(
    kind="compute.grant.issued",
    payload=Obj({"to": Hex(32), "amount_msp": Int(min=1, max=MAX_SPARK_MSP),
                 "memo": Str(max_len=200), "chain": List(_HEX_PAIR, max_items=8)}),
    reaches=_EVENTS, doc="A central mints Spark to a node (the only mint).")
ESCROW_OPENED = KindSpec(
    kind="compute.escrow.opened",
    payload=Obj({"lender": Hex(32), "amount_msp": Int(min=1, max=MAX_SPARK_MSP),
                 "deadline_ms": Int(min=0), "regional": Str(pattern=_NODE_OR_EMPTY),
                 "central": Hex(32), "job_id": Hex(16), "job_kind": Str(max_len=64),
                 "model": Str(max_len=200)}),
    reaches=_EVENTS, doc="A borrower locks Spark for one job; the escrow id is this hash.")
RECEIPT_SIGNED = KindSpec(
    kind="compute.receipt.signed",
    payload=Obj({"escrow_id": Hex(32), "job_id": Hex(16), "result_hash": Hex(32),
                 "tokens_in": Int(min=0), "tokens_out": Int(min=0), "estimated": Bool(),
                 "model_hash": Str(max_len=128), "job_kind": Str(max_len=64),
                 "params_hash": Hex(32)},
                # Optional for receipts signed before replication compared
                # them; a receipt without them is no evidence of fraud.
                optional=frozenset({"job_kind", "params_hash"})),
    reaches=_EVENTS, doc="A lender signs what it computed for an escrow: the job (kind and "
                         "params hash) and the hash of its result.")
ESCROW_RELEASED = KindSpec(
    kind="compute.escrow.released", payload=Obj({"escrow_id": Hex(32)}),
    reaches=_EVENTS, doc="The borrower pays the lender (before the deadline).")
ESCROW_DISPUTED = KindSpec(
    kind="compute.escrow.disputed",
    payload=Obj({"escrow_id": Hex(32), "reason": Str(max_len=500)}),
    reaches=_EVENTS, doc="The borrower hands the escrow to its arbiter (before the deadline).")
ESCROW_REFUNDED = KindSpec(
    kind="compute.escrow.refunded", payload=Obj({"escrow_id": Hex(32)}),
    reaches=_EVENTS, doc="The borrower takes the amount back (at or after the deadline).")
ESCROW_RESOLVED = KindSpec(
    kind="compute.escrow.resolved",
    payload=Obj({"escrow_id": Hex(32), "outcome": Str(pattern="lender|borrower"),
                 "reason": Str(max_len=500)}),
    reaches=_EVENTS, doc="The arbiter (regional, else central) decides a disputed or silent "
                         "escrow.")
CONFIG_SET = KindSpec(
    kind="compute.config.set",
    payload=Obj({"key": Str(min_len=1, max_len=64, pattern=r"[a-z_]+"),
                 "value": Str(max_len=200)}),
    reaches=frozenset({"local"}), doc="The operator sets one compute policy value.")
METERED_RESERVED = KindSpec(
    kind="compute.metered.reserved",
    payload=Obj({"call_id": Hex(16), "backend": Str(max_len=200), "model": Str(max_len=200),
                 "task_source": Str(max_len=32), "day": Str(pattern=r"\d{4}-\d{2}-\d{2}"),
                 "reserved_uusd": Int(min=0)}),
    reaches=frozenset({"local"}), doc="Cost reserved against the daily limit before a call.")
METERED_SETTLED = KindSpec(
    kind="compute.metered.settled",
    payload=Obj({"call_id": Hex(16), "tokens_in": Int(min=0), "tokens_out": Int(min=0),
                 "actual_uusd": Int(min=0), "estimated": Bool(), "ok": Bool()}),
    reaches=frozenset({"local"}), doc="A metered call's actual cost after it returned.")

ALL_KINDS = (GRANT_ISSUED, ESCROW_OPENED, RECEIPT_SIGNED, ESCROW_RELEASED, ESCROW_DISPUTED,
             ESCROW_REFUNDED, ESCROW_RESOLVED, CONFIG_SET, METERED_RESERVED, METERED_SETTLED)
ESCROW_KINDS = frozenset(k.kind for k in ALL_KINDS[:7])
_VERBS = {ESCROW_RELEASED.kind: "release", ESCROW_DISPUTED.kind: "dispute",
          ESCROW_REFUNDED.kind: "refund"}


def to_fact(event: Event) -> escrow.Fact | None:
    """The escrow fact an event states (None for other kinds). The payload
    already passed its schema (ingest and append check it)."""
    p = event.payload
    if event.kind == GRANT_ISSUED.kind:
        chain = tuple((pair[0], pair[1]) for pair in p["chain"] if len(pair) == 2)
        return escrow.Grant(event.hash_hex, event.origin, p["to"], p["amount_msp"], event.ts_ms,
                            chain)
    if event.kind == ESCROW_OPENED.kind:
        return escrow.Open(event.hash_hex, event.origin, event.seq, p["lender"], p["amount_msp"],
                           p["deadline_ms"], p["regional"], p["central"])
    if event.kind == RECEIPT_SIGNED.kind:
        return escrow.Receipt(event.hash_hex, p["escrow_id"], event.origin)
    if event.kind in _VERBS:
        return escrow.Action(event.hash_hex, p["escrow_id"], event.origin, event.seq,
                             event.ts_ms, _VERBS[event.kind])
    if event.kind == ESCROW_RESOLVED.kind:
        return escrow.Resolution(event.hash_hex, p["escrow_id"], event.origin, event.seq,
                                 p["outcome"])
    return None


def central_mint_check(master_key: bytes | None) -> Callable[[escrow.Grant], bool]:
    """A ``Book.mint_check``: the grant's chain proves its origin is a central
    at the grant's own ``ts_ms``. Without a pinned master key nothing is minted.
    Revocation lists are not consulted: they change over time, and a view must
    give every node the same answer from the event alone.
    """
    def check(grant: escrow.Grant) -> bool:
        if master_key is None or not grant.chain:
            return False
        try:
            pairs = [(bytes.fromhex(c), bytes.fromhex(s)) for c, s in grant.chain]
            tier = verify_chain(pairs, master_public_key=master_key, now_ms=grant.ts_ms,
                                revocations=None, presenter_node_id=grant.origin)
        except (ChainError, ValueError):
            return False
        return tier.tier == "central"
    return check
