"""Job offer, admission, result and receipt between two nodes on an in-memory overlay.

Real ledgers on real files; the overlay is ``hartnode.testing.memory_transport``
(no sockets). Runs on the real clock: jobs run in worker threads.
"""

from __future__ import annotations

from pathlib import Path

import trio
from gossip.test_service import Node, until

from hartnode.compute import escrow, jobs, policy, wallet
from hartnode.compute.gpu_probe import GpuFacts
from hartnode.compute.service import ComputeService
from hartnode.ledger import store
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft
from hartnode.testing.memory_transport import MemoryNetwork

from .helpers import CENTRAL, chain_for, open_node


def _service(node: Node, path: Path, *, price: int = 100,
             compute_policy: str = "hive_always") -> ComputeService:
    nl, catalog = open_node(path, node.identity)
    access = StoreAccess()

    async def append(draft: Draft) -> Event:
        return (await access.run(nl.append, [draft]))[0]

    return ComputeService(node.svc, nl, access, catalog, append=append,
                          load_policy=lambda: policy.resolve(
                              env={}, db={"compute_policy": compute_policy}),
                          gpu=GpuFacts(False, "no_driver"), price_msp=price)


async def test_a_job_runs_on_a_peer_and_its_receipt_releases_the_escrow(
        nursery: trio.Nursery, tmp_path: Path) -> None:
    net = MemoryNetwork()
    a, b, c = Node("a", net=net), Node("b", net=net), Node("c", net=net)
    requester = _service(a, tmp_path / "a")
    provider = _service(b, tmp_path / "b", price=100)
    selfish = _service(c, tmp_path / "c", compute_policy="local_only")
    central, _ = open_node(tmp_path / "central", CENTRAL)
    with central:
        wallet.grant(central, a.id, 10_000, chain_for(CENTRAL))
        requester.nl.ingest([e.wire() for e in central.ledger.tail(5)])
    await a.start(nursery)
    for node in (b, c):
        await node.start(nursery)
    for svc in (requester, provider, selfish):
        await nursery.start(svc.run)
    await b.svc.connect(a.url, expected=a.id)
    await c.svc.connect(a.url, expected=a.id)
    await until("a linked to b and c", lambda: {b.id, c.id} <= set(a.links()), [a, b, c])

    done = await requester.request(b.id, "cpu.hash_chain", {"seed": "x", "rounds": 5},
                                   amount_msp=1_000, central=CENTRAL.node_id, timeout_s=20)
    assert (done.admitted, done.reason, done.released) == (True, "done", True)
    assert done.output == {"digest": jobs.hash_chain("x", 5)}
    rows = store.query(requester.nl.views.state,
                       "SELECT escrow_id, status, receipt_hash FROM compute_escrow")
    assert rows == [(done.escrow_id, escrow.STATUS_RELEASED, done.receipt)]
    assert provider.stats["served"] == 1

    cheap = await requester.request(b.id, "cpu.hash_chain", {"seed": "y", "rounds": 1},
                                    amount_msp=10, central=CENTRAL.node_id, timeout_s=20)
    assert (cheap.admitted, cheap.reason, cheap.released) == (False, "price", False)
    kept = await requester.request(c.id, "cpu.hash_chain", {"seed": "z", "rounds": 1},
                                   amount_msp=1_000, central=CENTRAL.node_id, timeout_s=20)
    assert (kept.admitted, kept.reason) == (False, "local_only")
    status = dict(store.query(requester.nl.views.state,
                              "SELECT escrow_id, status FROM compute_escrow"))
    assert status[cheap.escrow_id] == status[kept.escrow_id] == escrow.STATUS_OPEN
    for svc in (requester, provider, selfish):
        svc.nl.close()


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []

    def send(self, peer: str, msg: object) -> bool:
        self.sent.append((peer, msg))
        return True

    def register(self, service: object) -> None:
        pass


async def test_a_peer_gets_at_most_two_jobs_in_flight_and_oversize_ends_its_link(
        tmp_path: Path) -> None:
    import json

    import pytest

    from hartnode.compute.messages import MAX_PARAMS_BYTES, JobAdmit, JobOffer
    from hartnode.identity import NodeIdentity
    from hartnode.protocol import RemoteProtocolError
    from hartnode.replication.messages import FeedEvent

    borrower = NodeIdentity.from_seed(b"\x71" * 32)
    provider = NodeIdentity.from_seed(b"\x72" * 32)
    nl, _ = open_node(tmp_path / "b", borrower)
    recorder = _Recorder()
    pnl, pcat = open_node(tmp_path / "p", provider)
    service = ComputeService(recorder, pnl, StoreAccess(), pcat,  # type: ignore[arg-type]
                             append=None,  # type: ignore[arg-type]
                             load_policy=lambda: policy.resolve(env={}, db={}),
                             gpu=GpuFacts(False, "no_driver"), price_msp=1)
    service.policy = service.load_policy()
    with nl, pnl:
        offers = []
        for i in range(3):
            # Unfunded openings are fine here: the provider checks the signed
            # opening, not the borrower's balance (other nodes' books do).
            job = f"{i:032x}"
            draft = Draft("compute.escrow.opened", {
                "lender": provider.node_id, "amount_msp": 5, "deadline_ms": 2**52,
                "regional": "", "central": "cc" * 32, "job_id": job,
                "job_kind": "cpu.hash_chain", "model": ""})
            opening = nl.append([draft])[0]
            offers.append(JobOffer(bytes.fromhex(job), "cpu.hash_chain",
                                   json.dumps({"seed": "s", "rounds": 1}).encode(),
                                   FeedEvent(*opening.wire())))
        for offer in offers:
            service._on_message(borrower.node_id, offer)
        answers = [(m.admitted, m.reason) for _, m in recorder.sent if isinstance(m, JobAdmit)]
        assert answers == [(True, "admitted"), (True, "admitted"), (False, "busy")]
        # Someone else's opening, replayed by a third party: refused.
        service._on_message("dd" * 32, offers[0])
        assert recorder.sent[-1][1] == JobAdmit(offers[0].job_id, False, "bad_escrow")
        with pytest.raises(RemoteProtocolError):
            service._on_message(borrower.node_id, JobOffer(
                offers[0].job_id, "cpu.hash_chain", b" " * (MAX_PARAMS_BYTES + 1),
                offers[0].escrow))


async def test_a_quarantined_peer_neither_lends_nor_borrows(tmp_path: Path) -> None:
    import json

    import pytest

    from hartnode.compute.messages import JobAdmit, JobOffer
    from hartnode.identity import NodeIdentity
    from hartnode.replication.messages import FeedEvent

    borrower = NodeIdentity.from_seed(b"\x73" * 32)
    provider = NodeIdentity.from_seed(b"\x74" * 32)
    quarantined = {borrower.node_id}  # as TrustService.compute_allowed says (issue 10)
    nl, _ = open_node(tmp_path / "b", borrower)
    pnl, pcat = open_node(tmp_path / "p", provider)
    recorder = _Recorder()
    service = ComputeService(recorder, pnl, StoreAccess(), pcat,  # type: ignore[arg-type]
                             append=None,  # type: ignore[arg-type]
                             load_policy=lambda: policy.resolve(env={}, db={}),
                             gpu=GpuFacts(False, "no_driver"), price_msp=1,
                             peer_allowed=lambda peer: peer not in quarantined)
    service.policy = service.load_policy()
    with nl, pnl:
        job = "ab" * 16
        opening = nl.append([Draft("compute.escrow.opened", {
            "lender": provider.node_id, "amount_msp": 5, "deadline_ms": 2**52,
            "regional": "", "central": "cc" * 32, "job_id": job,
            "job_kind": "cpu.hash_chain", "model": ""})])[0]
        offer = JobOffer(bytes.fromhex(job), "cpu.hash_chain",
                         json.dumps({"seed": "s", "rounds": 1}).encode(),
                         FeedEvent(*opening.wire()))
        service._on_message(borrower.node_id, offer)
        assert recorder.sent == [(borrower.node_id,
                                  JobAdmit(offer.job_id, False, "quarantined"))]
        assert service.stats["refused_quarantined"] == 1
        # Nor does this node offer work to it: refused before anything is signed.
        with pytest.raises(jobs.JobError) as refused:
            await service.request(borrower.node_id, "cpu.hash_chain", {"seed": "s", "rounds": 1},
                                  amount_msp=5, central="cc" * 32)
        assert refused.value.reason == "quarantined"
        assert store.scalar(pnl.views.state, "SELECT count(*) FROM compute_escrow") == 0
