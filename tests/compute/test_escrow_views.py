"""Escrow and wallets projected into state.sqlite: real ledgers, real files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from hartnode.compute import escrow, wallet
from hartnode.compute.wallet import EscrowError, OpenRequest
from hartnode.identity import NodeIdentity
from hartnode.ledger import store
from hartnode.ledger.envelope import Event
from hartnode.ledger.node_ledger import NodeLedger

from .helpers import CENTRAL, REGIONAL, chain_for, open_node

BORROWER = NodeIdentity.from_seed(b"\x04" * 32)
LENDER = NodeIdentity.from_seed(b"\x05" * 32)
DEADLINE = 2_000_000_000_000  # far in the future of every test's real clock


def _views(nl: NodeLedger) -> dict[str, list[tuple[object, ...]]]:
    s = nl.views.state
    return {
        "escrow": store.query(s, "SELECT escrow_id, debtor_node_id, creditor_node_id,"
                                 " spark_amount, status, receipt_hash FROM compute_escrow"
                                 " ORDER BY escrow_id"),
        "wallets": store.query(s, "SELECT user_id, spark, held FROM resonance_wallets"
                                  " WHERE spark != 0 OR held != 0 ORDER BY user_id"),
        "tx": store.query(s, "SELECT wallet_id, amount, reason, ref FROM resonance_transactions"
                             " ORDER BY wallet_id, reason, ref, amount"),
    }


def _copy(events: list[Event], into: NodeLedger) -> None:
    result = into.ingest([e.wire() for e in events])
    assert not result.rejected, result.rejected


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    central, _cc = open_node(tmp_path / "central", CENTRAL)
    borrower, bc = open_node(tmp_path / "borrower", BORROWER)
    grant = wallet.grant(central, BORROWER.node_id, 10_000, chain_for(CENTRAL))
    assert grant
    _copy(central.ledger.tail(10), borrower)
    yield central, borrower, bc
    central.close()
    borrower.close()


def _req(amount: int, **kw: object) -> OpenRequest:
    return OpenRequest(lender=LENDER.node_id, amount_msp=amount, deadline_ms=DEADLINE,
                       central=CENTRAL.node_id, regional=REGIONAL.node_id, **kw)  # type: ignore[arg-type]


def test_release_splits_90_9_1_and_conserves(world) -> None:  # type: ignore[no-untyped-def]
    _, borrower, catalog = world
    eid = wallet.open_escrow(borrower, catalog, _req(1_001))
    views = _views(borrower)
    assert views["escrow"][0][4] == escrow.STATUS_OPEN
    assert (BORROWER.node_id, 10_000 - 1_001, 1_001) in views["wallets"]
    wallet.release(borrower, catalog, eid, now_ms=0)
    views = _views(borrower)
    assert views["escrow"][0][4] == escrow.STATUS_RELEASED
    balances = {w: s for w, s, _ in views["wallets"]}
    # ⌊90%⌋ = 900, ⌊9%⌋ = 90, central the remainder 11: the sum is exact.
    assert balances == {BORROWER.node_id: 8_999, LENDER.node_id: 900, REGIONAL.node_id: 90,
                        CENTRAL.node_id: 11}
    assert sum(balances.values()) == 10_000


def test_open_beyond_balance_is_refused_in_the_write(world) -> None:  # type: ignore[no-untyped-def]
    _, borrower, catalog = world
    wallet.open_escrow(borrower, catalog, _req(6_000))
    head = borrower.ledger.head(BORROWER.node_id)
    with pytest.raises(EscrowError) as e:
        wallet.open_escrow(borrower, catalog, _req(6_000))
    assert e.value.reason == "insufficient_spark"
    assert borrower.ledger.head(BORROWER.node_id) == head  # nothing was signed


def test_grant_without_a_central_chain_mints_nothing(tmp_path: Path) -> None:
    rogue = NodeIdentity.from_seed(b"\x09" * 32)
    nl, catalog = open_node(tmp_path / "rogue", rogue)
    with nl:
        wallet.grant(nl, rogue.node_id, 5_000, chain_for(rogue, tier="local"))
        wallet.grant(nl, rogue.node_id, 5_000, chain_for(CENTRAL))  # someone else's chain
        assert _views(nl)["wallets"] == []
        with pytest.raises(EscrowError):
            wallet.open_escrow(nl, catalog, _req(1))


def test_two_escrows_between_one_pair_settle_separately(world) -> None:  # type: ignore[no-untyped-def]
    _, borrower, catalog = world
    first = wallet.open_escrow(borrower, catalog, _req(1_000, job_id="01" * 16))
    second = wallet.open_escrow(borrower, catalog, _req(2_000, job_id="02" * 16))
    wallet.release(borrower, catalog, second, now_ms=0)
    status = {row[0]: row[4] for row in _views(borrower)["escrow"]}
    assert status == {first: escrow.STATUS_OPEN, second: escrow.STATUS_RELEASED}


def test_refund_only_after_deadline_and_once(world) -> None:  # type: ignore[no-untyped-def]
    _, borrower, catalog = world
    eid = wallet.open_escrow(borrower, catalog, _req(1_000))
    with pytest.raises(EscrowError) as e:
        wallet.refund(borrower, catalog, eid, now_ms=DEADLINE - 1)
    assert e.value.reason == "before_deadline"
    wallet.refund(borrower, catalog, eid, now_ms=DEADLINE, ts_ms=DEADLINE)
    with pytest.raises(EscrowError) as e:
        wallet.refund(borrower, catalog, eid, now_ms=DEADLINE, ts_ms=DEADLINE)
    assert e.value.reason == "already_settled"
    views = _views(borrower)
    assert views["escrow"][0][4] == escrow.STATUS_REFUNDED
    assert views["wallets"] == [(BORROWER.node_id, 10_000, 0)]
    assert [t for t in views["tx"] if t[2] == "refund"] == [(BORROWER.node_id, 1_000, "refund",
                                                             eid)]


def test_any_delivery_order_and_a_rebuild_give_the_same_views(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    central, borrower, catalog = world
    lender, _ = open_node(tmp_path / "lender", LENDER)
    regional, rc = open_node(tmp_path / "regional", REGIONAL)
    with lender, regional:
        ids = [wallet.open_escrow(borrower, catalog, _req(1_000 + i, job_id=f"{i:032x}"))
               for i in range(4)]
        _copy(borrower.ledger.tail(100), lender)
        wallet.sign_receipt(lender, ids[0], f"{0:032x}", "ab" * 32)
        wallet.release(borrower, catalog, ids[0], now_ms=0)
        wallet.dispute(borrower, catalog, ids[1], "wrong answer", now_ms=0)
        wallet.refund(borrower, catalog, ids[2], now_ms=DEADLINE, ts_ms=DEADLINE)
        _copy(borrower.ledger.tail(100), regional)
        wallet.resolve(regional, rc, ids[1], "borrower", "receipt did not match the replica")
        everything = (central.ledger.tail(100) + borrower.ledger.tail(100)
                      + lender.ledger.tail(100) + regional.ledger.tail(100))
        feeds: dict[str, list[Event]] = {}
        for e in everything:
            feeds.setdefault(e.origin, []).append(e)
        results = []
        for seed in range(3):
            rng = random.Random(seed)
            order = [e for feed in rng.sample(list(feeds.values()), len(feeds)) for e in feed]
            observer_id = NodeIdentity.from_seed(bytes([0x20 + seed]) * 32)
            observer, _ = open_node(tmp_path / f"observer{seed}", observer_id)
            with observer:
                for e in order + order[:5]:  # duplicates change nothing
                    observer.ingest([e.wire()])
                incremental = _views(observer)
                observer.views.rebuild()
                assert _views(observer) == incremental
                results.append(incremental)
        assert results[0] == results[1] == results[2]
        status = {row[0]: row[4] for row in results[0]["escrow"]}
        assert status == {ids[0]: escrow.STATUS_RELEASED,
                          ids[1]: escrow.STATUS_RESOLVED_BORROWER,
                          ids[2]: escrow.STATUS_REFUNDED, ids[3]: escrow.STATUS_OPEN}
        assert sum(s + h for _, s, h in results[0]["wallets"]) == 10_000
