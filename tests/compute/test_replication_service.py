"""Redundant execution in the requester's job path (``ComputeService.submit``).

Four nodes on an in-memory overlay, real ledgers on real files, real
OpenAI-compatible fakes on loopback: A requests; B and C are honest (their
backends answer the same words with different whitespace, which the
normalised comparison must forgive); D cheats (its backend answers other
words, and it signs a receipt for them like any provider). The providers
come from peer record tags as the daemon reads them (``capabilities``).
An observer E, which took no part, re-verifies the alert from A's feed.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import trio
from gossip.test_service import Node, until

from hartnode.attestation.fraud import RESULT_ALERT_RAISED, check_result_alert
from hartnode.attestation.manifest import installed_manifest, package_dir
from hartnode.compute import escrow, policy, replication, wallet
from hartnode.compute.capabilities import offer_capabilities, parse_capabilities
from hartnode.compute.events import RECEIPT_SIGNED
from hartnode.compute.gpu_probe import GpuFacts
from hartnode.compute.service import ComputeService
from hartnode.gossip.overlay_config import for_profile
from hartnode.gossip.peer_record import PeerTable
from hartnode.identity import NodeIdentity
from hartnode.integrity.service import TrustService, TrustSettings, for_overlay
from hartnode.ledger import store
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft

from .fake_backend import fake_backend
from .helpers import CENTRAL, chain_for, open_node

CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "what is 6 x 7?"}],
        "max_tokens": 16}


def _service(node: Node, path: Path, *, backend: str = "", db: dict[str, str] | None = None,
             **kw: object) -> ComputeService:
    nl, catalog = open_node(path, node.identity)
    access = StoreAccess()

    async def append(draft: Draft) -> Event:
        return (await access.run(nl.append, [draft]))[0]

    return ComputeService(node.svc, nl, access, catalog, append=append,
                          load_policy=lambda: policy.resolve(
                              env={}, db={"compute_policy": "hive_always", **(db or {})}),
                          gpu=GpuFacts(False, "no_driver"), price_msp=100, backend_url=backend,
                          **kw)  # type: ignore[arg-type]


async def test_a_cheating_provider_is_caught_and_its_alert_verifies_on_another_node(
        nursery: trio.Nursery, tmp_path: Path) -> None:
    from hartnode.testing.memory_transport import MemoryNetwork

    net = MemoryNetwork()
    a, b, c, d = (Node(name, net=net) for name in "abcd")
    # Each provider's record tags, as its daemon advertises them.
    tags = offer_capabilities(price_msp=100, models=["tiny"], backend=True, gpu_tags=(),
                              policy="hive_always")
    offers = [parse_capabilities(n.id, tags, 1.0) for n in (b, c, d)]
    assert all(offers)
    with fake_backend(reply="the  answer\nis 42") as honest_b, \
            fake_backend(reply="the answer is 42") as honest_c, \
            fake_backend(reply="the answer is 41") as cheat:
        requester = _service(a, tmp_path / "a", rng=random.Random(7),
                             providers=lambda: [o for o in offers if o])
        providers = {n.id: _service(n, tmp_path / n.name, backend=fake.url)
                     for n, fake in ((b, honest_b), (c, honest_c), (d, cheat))}
        central, _ = open_node(tmp_path / "central", CENTRAL)
        with central:
            wallet.grant(central, a.id, 100_000, chain_for(CENTRAL))
            requester.nl.ingest([e.wire() for e in central.ledger.tail(5)])
        await a.start(nursery)
        for node in (b, c, d):
            await node.start(nursery)
        for svc in (requester, *providers.values()):
            await nursery.start(svc.run)
        for node in (b, c, d):
            await node.svc.connect(a.url, expected=a.id)
        await until("a linked to b, c, d", lambda: {b.id, c.id, d.id} <= set(a.links()),
                    [a, b, c, d])

        # D is new to A (count 0): its job is replicated; B or C disagrees with
        # it, the other of the two breaks the tie.
        out = await requester.submit("inference.chat", CHAT, amount_msp=1_000,
                                     central=CENTRAL.node_id, peer=d.id, timeout_s=20)
        assert (out.verdict, out.cheaters) == ("decided", (d.id,))
        assert out.outcome.output == {"model": "tiny", "text": "the answer is 42 (1)"}
        assert out.outcome.provider in (b.id, c.id)
        assert sorted(r.provider for r in out.replicas) == sorted((b.id, c.id, d.id))
        assert requester.replicator.counts[(d.id, "inference.chat", "tiny")] == 0
        status = {r.provider: st for r in out.replicas for st in store.query(
            requester.nl.views.state, "SELECT status FROM compute_escrow WHERE escrow_id = ?",
            (r.escrow_id,))}
        assert status == {b.id: (escrow.STATUS_RELEASED,), c.id: (escrow.STATUS_RELEASED,),
                          d.id: (escrow.STATUS_DISPUTED,)}
        assert len(out.alerts) == 1

        # Another node that took no part holds A's feed: the alert is listed and
        # re-verifies from the event alone (three signed receipts).
        e_nl, _ = open_node(tmp_path / "e", NodeIdentity.from_seed(b"\x75" * 32))
        with e_nl:
            e_nl.ingest([ev.wire() for ev in requester.nl.ledger.feed(a.id, 1, 1000)])
            rows = store.query(e_nl.views.state, "SELECT node_id, alert_type, reporter"
                               " FROM fraud_alerts")
            assert rows == [(d.id, "result_mismatch", a.id)]
            alert = next(ev for ev in e_nl.ledger.feed(a.id, 1, 1000)
                         if ev.kind == RESULT_ALERT_RAISED.kind)
            assert check_result_alert(alert, RECEIPT_SIGNED) is None

        # The same receipts cannot accuse an honest provider, nor can a reporter
        # drop one of them.
        def forged(**change: object) -> Event:
            payload = {**alert.payload, **change}
            return requester.nl.append([Draft(RESULT_ALERT_RAISED.kind, payload)])[0]

        framing = forged(node_id=b.id)
        assert check_result_alert(framing, RECEIPT_SIGNED) == "no_majority_against_subject"
        # A trust service (E's) counts the alert as one fail against D, a relayed
        # copy signed by someone else as nothing more, a framing as a fail of its sender.
        trust = await _trust_service(tmp_path / "trust")
        relayed = _signed_by(NodeIdentity.from_seed(b"\x76" * 32), tmp_path / "x", alert.payload)
        for event in (alert, relayed, framing):
            await trust._event(event)
        fails = {r["node_id"]: r["outcomes"].get("fail", 0) for r in trust.own.rows()}
        assert fails == {d.id: 1, a.id: 1}
        assert (trust.stats["result_alert_verified"], trust.stats["result_alert_repeated"],
                trust.stats["result_alert_forged"]) == (2, 1, 1)
        trust.node_ledger.close()
        two = {"receipts": alert.payload["evidence"]["receipts"][:2]}
        assert check_result_alert(forged(evidence=two), RECEIPT_SIGNED) == "not_three"
        tampered = [dict(r) for r in alert.payload["evidence"]["receipts"]]
        tampered[0]["sig"] = "00" * 64
        assert check_result_alert(forged(evidence={"receipts": tampered}),
                                  RECEIPT_SIGNED) == "malformed"

        # An honest primary: B's job is replicated too (count below ten); it
        # is compared with C or D, and only D's disagreement is ever its loss.
        again = await requester.submit("inference.chat", CHAT, amount_msp=1_000,
                                       central=CENTRAL.node_id, peer=b.id, timeout_s=20)
        assert (again.verdict, again.cheaters) in (("agreed", ()), ("decided", (d.id,)))
        assert again.outcome.output == out.outcome.output
        # Agreement counts for B; a mismatch resets all in it, B too (with two
        # replicas nobody knew who lied), as the rule says.
        assert requester.replicator.counts[(b.id, "inference.chat", "tiny")] == (
            1 if again.verdict == "agreed" else 0)
        for svc in (requester, *providers.values()):
            svc.nl.close()


def _signed_by(who: NodeIdentity, path: Path, payload: dict[str, object]) -> Event:
    nl, _ = open_node(path, who)
    with nl:
        return nl.append([Draft(RESULT_ALERT_RAISED.kind, payload)])[0]


async def _trust_service(path: Path) -> TrustService:
    """A trust service on its own ledger, its overlay a recorder (only ``_event`` runs)."""
    nl, _ = open_node(path, NodeIdentity.from_seed(b"\x77" * 32))

    class Gossip:
        peers = PeerTable(nl.ledger.identity.node_id if nl.ledger.identity else "",
                          ttl_ms=60_000)

        def register(self, service: object) -> None:
            pass

        def close_link(self, peer: str, reason: str) -> None:
            pass

    manifest = await trio.to_thread.run_sync(installed_manifest)

    async def append(draft: Draft) -> Event:
        return nl.append([draft])[0]

    return TrustService(Gossip(), nl, StoreAccess(), append,  # type: ignore[arg-type]
                        TrustSettings(install_root=package_dir().parent, manifest=manifest,
                                      master_public_key=None,
                                      params=for_overlay(for_profile("full"))))


async def test_a_job_whose_replica_refuses_runs_once_unchecked(
        nursery: trio.Nursery, tmp_path: Path) -> None:
    from hartnode.compute import jobs
    from hartnode.testing.memory_transport import MemoryNetwork

    net = MemoryNetwork()
    a, b, c = Node("a", net=net), Node("b", net=net), Node("c", net=net)
    # C's record offers the kind (dearer), but C keeps its compute to itself now.
    offers = [parse_capabilities(n.id, offer_capabilities(
        price_msp=price, models=(), backend=False, gpu_tags=(), policy="hive_always"), 1.0)
        for n, price in ((b, 100), (c, 200))]
    requester = _service(a, tmp_path / "a", providers=lambda: [o for o in offers if o])
    provider = _service(b, tmp_path / "b")
    selfish = _service(c, tmp_path / "c", db={"compute_policy": "local_only"})
    central, _ = open_node(tmp_path / "central", CENTRAL)
    with central:
        wallet.grant(central, a.id, 10_000, chain_for(CENTRAL))
        requester.nl.ingest([e.wire() for e in central.ledger.tail(5)])
    for node in (a, b, c):
        await node.start(nursery)
    for svc in (requester, provider, selfish):
        await nursery.start(svc.run)
    for node in (b, c):
        await node.svc.connect(a.url, expected=a.id)
    await until("a linked to b and c", lambda: {b.id, c.id} <= set(a.links()), [a, b, c])
    # No peer named: the cheapest provider of the records; the replica drawn is
    # C, which refuses, and nobody else is left to ask.
    out = await requester.submit("cpu.hash_chain", {"seed": "s", "rounds": 2},
                                 amount_msp=500, central=CENTRAL.node_id, timeout_s=20)
    assert (out.verdict, out.outcome.provider, out.outcome.released) == ("single", b.id, True)
    assert out.outcome.output == {"digest": jobs.hash_chain("s", 2)}
    assert {(r.provider, r.reason) for r in out.replicas} == {(b.id, "done"),
                                                              (c.id, "local_only")}
    # Unchecked: the count of B did not move.
    assert requester.replicator.counts.get((b.id, "cpu.hash_chain", ""), 0) == 0
    # Nobody offers a kind the records do not name.
    with pytest.raises(jobs.JobError, match="no_provider"):
        await requester.submit("inference.chat", CHAT, amount_msp=500, central=CENTRAL.node_id)
    for svc in (requester, provider, selfish):
        svc.nl.close()


def test_plan_replicates_until_trusted_and_draws_replicas_from_the_others() -> None:
    r = replication.Replicator()
    rng = random.Random(3)
    key = ("p", "cpu.hash_chain", "")
    assert r.plan(key, ["p", "q", "s"], rng)[0] == "p"
    assert len(r.plan(key, ["p", "q", "s"], rng)) == 2
    assert r.plan(key, ["p"], rng) == ["p"]  # nobody else: unchecked
    assert replication.pick(["p", "q"], ["p", "q"], rng) is None
    r.counts[key] = 10_000
    plans = [r.plan(key, ["p", "q", "s"], rng) for _ in range(2_000)]
    # At the 5% floor; a plan never moves the count (only a judged replica does).
    assert 40 < sum(len(p) == 2 for p in plans) < 170
    assert r.counts[key] == 10_000
    assert all(p[1] != "p" for p in plans if len(p) == 2)
