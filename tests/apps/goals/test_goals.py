"""Goals: the lifecycle table, the budget gate (and how it fails closed), the dispatcher's
reserve → job → spend / release order, and recovery of orphaned reservations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from compute.helpers import CENTRAL, chain_for, open_node

from hartnode.apps.goals import gate, lifecycle, queries, writes
from hartnode.apps.goals.dispatcher import Dispatcher, DispatchRequest, parse_request
from hartnode.catalog import Catalog
from hartnode.compute import wallet
from hartnode.compute.jobs import JobError
from hartnode.identity import NodeIdentity
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.node_ledger import NodeLedger

from ..recipes.helpers import open_node as plain_node

ME = NodeIdentity.from_seed(b"\x21" * 32)
PEER = "ab" * 32
JOB = {"title": "hash things", "job_kind": "cpu.hash_chain",
       "params": {"seed": "s", "rounds": 2}, "budget_msp": 5_000}


@pytest.fixture
def funded(tmp_path: Path):  # type: ignore[no-untyped-def]
    """This node with 10,000 milli-Spark granted by the central, and its catalog."""
    central, _ = open_node(tmp_path / "central", CENTRAL)
    me, catalog = open_node(tmp_path / "me", ME)
    wallet.grant(central, ME.node_id, 10_000, chain_for(CENTRAL))
    assert not me.ingest([e.wire() for e in central.ledger.tail(10)]).rejected
    yield me, catalog
    central.close()
    me.close()


def _active_goal(nl: NodeLedger, **over: Any) -> str:
    goal = writes.create(nl, {**JOB, **over}).hash_hex
    writes.set_status(nl, goal, "active")
    return goal


def _left(nl: NodeLedger, goal: str) -> tuple[int, int, int]:
    g = queries.show(nl.views.state, goal)
    return g["reserved_msp"], g["spent_msp"], g["left_msp"]


def test_the_lifecycle_table() -> None:
    for frm in lifecycle.TRANSITIONS:
        for to in lifecycle.TRANSITIONS:
            ok = to in lifecycle.TRANSITIONS[frm]
            assert lifecycle.allowed(frm, to) is ok
            if not ok:
                with pytest.raises(lifecycle.LifecycleError):
                    lifecycle.check_step(frm, to)
    assert {s for s, nxt in lifecycle.TRANSITIONS.items() if not nxt} == lifecycle.TERMINAL


def test_a_goal_moves_through_its_lifecycle_and_refuses_bad_steps(tmp_path: Path) -> None:
    with plain_node(tmp_path / "n") as nl:
        goal = writes.create(nl, JOB).hash_hex
        assert queries.show(nl.views.state, goal)["status"] == "draft"
        with pytest.raises(lifecycle.LifecycleError):
            writes.set_status(nl, goal, "paused")  # checked in the write: nothing signed
        for to in ("active", "paused", "active", "done"):
            writes.set_status(nl, goal, to)
            assert queries.show(nl.views.state, goal)["status"] == to
        with pytest.raises(lifecycle.LifecycleError):
            writes.set_status(nl, goal, "active")
        kinds = [e.kind for e in nl.ledger.tail(100)]
        assert kinds.count("goals.goal.status_set") == 4


def test_a_goal_that_could_never_run_is_refused_naming_the_field(tmp_path: Path) -> None:
    with plain_node(tmp_path / "n") as nl:
        with pytest.raises(queries.QueryError) as e:
            writes.create(nl, {**JOB, "job_kind": "shell.exec"})
        assert e.value.field == "job_kind"
        with pytest.raises(queries.QueryError) as e:
            writes.create(nl, {**JOB, "params": {"seed": 1}})
        assert e.value.field == "params"


def test_gate_decisions() -> None:
    active = gate.GoalFacts("active", 1000, 200, 300)
    gate.decide(active, 500, wallet_available_msp=600, reserved_elsewhere_msp=100)
    cases = [(None, 1, 10, 0, "unknown_goal"),
             (gate.GoalFacts("paused", 1000, 0, 0), 1, 10, 0, "not_active"),
             (active, 0, 10, 0, "bad_amount"),
             (active, 501, 10_000, 0, "over_budget"),
             (active, 500, 600, 101, "insufficient_spark")]
    for facts, amount, wallet_msp, elsewhere, reason in cases:
        with pytest.raises(gate.GateRefused) as e:
            gate.decide(facts, amount, wallet_available_msp=wallet_msp,
                        reserved_elsewhere_msp=elsewhere)
        assert e.value.reason == reason


def test_reservations_are_checked_against_the_goal_and_the_wallet(
        funded: tuple[NodeLedger, Catalog]) -> None:
    me, catalog = funded
    read = writes.wallet_available(catalog)
    g1, g2 = _active_goal(me, budget_msp=8_000), _active_goal(me, budget_msp=8_000)
    r1 = writes.reserve(me, g1, 6_000, read)
    assert _left(me, g1) == (6_000, 0, 2_000)
    # The wallet holds 10,000; 6,000 are promised to g1 already.
    with pytest.raises(gate.GateRefused) as e:
        writes.reserve(me, g2, 6_000, read)
    assert e.value.reason == "insufficient_spark"
    with pytest.raises(gate.GateRefused) as e:
        writes.reserve(me, g1, 2_001, read)
    assert e.value.reason == "over_budget"
    assert writes.release(me, r1.hash_hex, "failed: test") is not None
    assert writes.release(me, r1.hash_hex, "again") is None  # at most once
    assert _left(me, g1) == (0, 0, 8_000)
    writes.reserve(me, g2, 6_000, read)  # the released Spark is free again


@pytest.mark.parametrize("broken", ["wallet", "views"])
def test_the_gate_fails_closed_when_it_cannot_read(
        funded: tuple[NodeLedger, Catalog], broken: str) -> None:
    me, catalog = funded
    goal = _active_goal(me)
    before = me.ledger.max_id()

    def unreadable(nl: NodeLedger, node: str) -> int:
        raise OSError("disk error")

    read = unreadable if broken == "wallet" else writes.wallet_available(catalog)
    if broken == "views":  # the reservation table is gone: nothing can be summed
        me.views.state.execute("DROP TABLE goal_reservations")
    with pytest.raises(gate.GateRefused) as e:
        writes.reserve(me, goal, 100, read)
    assert e.value.reason == "unreadable"
    assert me.ledger.max_id() == before  # nothing was signed


@dataclass
class Outcome:
    job_id: str = "00" * 16
    escrow_id: str = "ee" * 32
    admitted: bool = True
    reason: str = "done"
    output: dict[str, Any] | None = None


class FakeRequester:
    """Answers like ComputeService.request; records what it was asked."""

    def __init__(self, answer: Outcome | Exception | None,
                 providers: tuple[str, ...] = ()) -> None:
        self.answer, self.providers = answer, providers
        self.asked: list[tuple[str, str, int]] = []
        self.calls: list[tuple[str, str, dict[str, Any], int]] = []
        self.started = trio.Event()

    def candidates(self, kind: str, model: str, amount_msp: int) -> list[str]:
        self.asked.append((kind, model, amount_msp))
        return list(self.providers)

    async def request(self, peer: str, kind: str, params: dict[str, Any], *, amount_msp: int,
                      central: str, regional: str = "", timeout_s: float = 300) -> Outcome:
        self.calls.append((peer, kind, params, amount_msp))
        self.started.set()
        if self.answer is None:
            await trio.sleep_forever()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _dispatcher(me: NodeLedger, catalog: Catalog, requester: FakeRequester) -> Dispatcher:
    return Dispatcher(me, StoreAccess(), requester, writes.wallet_available(catalog))


@pytest.mark.parametrize("answer, result, reserved_spent", [
    (Outcome(), "spent", (0, 1_000)),
    (Outcome(admitted=False, reason="busy"), "deferred", (0, 0)),
    (Outcome(reason="no_answer"), "failed", (0, 0)),
    (JobError("quarantined", "peer is on probation"), "failed", (0, 0)),
    (wallet.EscrowError("insufficient_spark", "no"), "failed", (0, 0)),
])
async def test_dispatch_spends_on_success_and_releases_otherwise(
        funded: tuple[NodeLedger, Catalog], answer: Outcome | Exception, result: str,
        reserved_spent: tuple[int, int]) -> None:
    me, catalog = funded
    goal = _active_goal(me)
    fake = FakeRequester(answer)
    out = await _dispatcher(me, catalog, fake).dispatch(
        DispatchRequest(goal, PEER, CENTRAL.node_id, 1_000))
    assert out["result"] == result
    assert fake.calls == [(PEER, "cpu.hash_chain", {"seed": "s", "rounds": 2}, 1_000)]
    assert _left(me, goal)[:2] == reserved_spent
    states = [r["state"] for r in queries.show(me.views.state, goal)["reservations"]]
    assert states == ["spent" if result == "spent" else "released"]


async def test_a_refused_gate_sends_no_job(funded: tuple[NodeLedger, Catalog]) -> None:
    me, catalog = funded
    goal = _active_goal(me)
    writes.set_status(me, goal, "paused")
    fake = FakeRequester(Outcome())
    with pytest.raises(gate.GateRefused) as e:
        await _dispatcher(me, catalog, fake).dispatch(
            DispatchRequest(goal, PEER, CENTRAL.node_id, 1_000))
    assert e.value.reason == "not_active" and fake.calls == []


async def test_a_cancelled_dispatch_releases_its_reservation(
        funded: tuple[NodeLedger, Catalog]) -> None:
    me, catalog = funded
    goal = _active_goal(me)
    fake = FakeRequester(None)  # never answers
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_dispatcher(me, catalog, fake).dispatch,
                           DispatchRequest(goal, PEER, CENTRAL.node_id, 1_000))
        await fake.started.wait()
        assert _left(me, goal)[0] == 1_000
        nursery.cancel_scope.cancel()
    assert _left(me, goal) == (0, 0, 5_000)


async def test_without_a_peer_the_best_provider_of_the_records_runs_the_job(
        funded: tuple[NodeLedger, Catalog]) -> None:
    me, catalog = funded
    goal = _active_goal(me)
    fake = FakeRequester(Outcome(), providers=(PEER, "cc" * 32))
    out = await _dispatcher(me, catalog, fake).dispatch(
        DispatchRequest(goal, "", CENTRAL.node_id, 1_000))
    assert out["result"] == "spent" and fake.asked == [("cpu.hash_chain", "", 1_000)]
    assert [c[0] for c in fake.calls] == [PEER]
    nobody = FakeRequester(Outcome())  # no record offers the job: nothing sent, all released
    out = await _dispatcher(me, catalog, nobody).dispatch(
        DispatchRequest(goal, "", CENTRAL.node_id, 1_000))
    assert out["result"] == "failed" and "no peer record" in out["reason"]
    assert nobody.calls == [] and _left(me, goal)[0] == 0


def test_orphaned_reservations_are_released_on_start(
        funded: tuple[NodeLedger, Catalog]) -> None:
    me, catalog = funded
    goal = _active_goal(me)
    writes.reserve(me, goal, 700, writes.wallet_available(catalog))  # then the process died
    released = writes.release_orphans(me)
    assert len(released) == 1 and _left(me, goal) == (0, 0, 5_000)
    assert writes.release_orphans(me) == []


def test_dispatch_requests_name_the_bad_field() -> None:
    ok = {"peer": PEER, "central": PEER, "amount_msp": 5}
    assert parse_request(ok, "g").amount_msp == 5
    assert parse_request({"central": PEER, "amount_msp": 5}, "g").peer == ""  # from records
    for field, value in (("peer", "x"), ("central", None), ("amount_msp", 0),
                         ("amount_msp", "5"), ("timeout_s", -1), ("regional", 3)):
        with pytest.raises(queries.QueryError) as e:
            parse_request({**ok, field: value}, "g")
        assert e.value.field == field



def test_goal_projections_are_idempotent(tmp_path: Path) -> None:
    """Applying a goal's events twice (as a replay might) leaves the same rows."""
    import apsw

    from apps.recipes.helpers import project

    with plain_node(tmp_path / "n") as nl:
        goal = _active_goal(nl)
        reservation = writes.reserve(nl, goal, 300, lambda _nl, _me: 10**9)
        writes.reserve(nl, goal, 200, lambda _nl, _me: 10**9)
        writes.spend(nl, reservation.hash_hex, "ee" * 32, 300)
        events = [e for _, e in nl.ledger.read_after(0, 100)]
    once, twice = (apsw.Connection(str(tmp_path / f"{n}.sqlite")) for n in ("once", "twice"))
    project(once, events)
    project(twice, events + events)
    dump = "SELECT goal, status, spark_budget, reserved_msp, spent_msp FROM agent_goals"
    assert once.execute(dump).fetchall() == twice.execute(dump).fetchall() == [
        (goal, "active", 5_000, 200, 300)]
