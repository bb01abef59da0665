"""Redundant execution between real daemons on loopback: a cheater is caught, elsewhere too.

A is a central (its chain from the test's master key) and the requester.
B and C are honest providers, D a cheater: each serves ``inference.chat``
from an OpenAI-compatible fake, and D's answers other words than B's and C's
(which differ only in whitespace). Each advertises its kinds, model and
price in its peer record; A finds them there. A asks D first: D is new to
A, so its job is replicated; the mismatch goes to a third provider, D loses
2 of 3, its escrow is disputed, and A signs a ``trust.result_alert.raised``
with the three receipts. Replication brings the alert to B, whose trust
service re-verifies it from the receipts alone and counts a fail against D.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import Hartnode, Node, StartDaemon, free_port, init_node, wait_until

from .fake_backend import fake_backend
from .helpers import MASTER, chain_for
from .test_lending_processes import _call

CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "6 x 7?"}], "max_tokens": 8}


@pytest.mark.slow
def test_a_cheating_daemon_is_caught_and_another_node_verifies_the_alert(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    a, b, c, d = (init_node(hartnode, tmp_path / name) for name in "abcd")
    ports = {n.path.name: free_port() for n in (a, b, c, d)}
    with fake_backend(reply="forty  two") as honest_b, fake_backend(reply="forty two") as \
            honest_c, fake_backend(reply="forty one") as cheat:
        backends = {"b": honest_b.url, "c": honest_c.url, "d": cheat.url}

        def env(n: Node) -> dict[str, str]:
            base = {"HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports[n.path.name]}",
                    "HARTNODE_NETWORK_SYNC_INTERVAL": "1",
                    "HARTNODE_NETWORK_ANNOUNCE_INTERVAL": "1",
                    "HARTNODE_TRUST_MASTER_KEY": MASTER.public_key.hex(),
                    "HARTNODE_COMPUTE_COMPUTE_POLICY": "hive_always",
                    "HARTNODE_COMPUTE_PRICE_MSP": "500"}
            if n is not a:
                base["HARTNODE_NETWORK_SEEDS"] = f"ws://127.0.0.1:{ports['a']}/hart"
                base["HARTNODE_COMPUTE_BACKEND_URL"] = backends[n.path.name]
            return base

        for n in (a, b, c, d):
            start_daemon(n, env=env(n))

        def chat_providers() -> set[str]:
            peers = json.loads(a.run("peers", "--json", env=env(a)).stdout)
            return {p["node_id"] for p in peers
                    if "compute.kind:inference.chat" in p["capabilities"]
                    and "compute.model:tiny" in p["capabilities"]}
        wait_until("A holds the records of B, C and D", lambda: chat_providers() == {
            b.node_id, c.node_id, d.node_id}, timeout=60)
        _call(a, "/api/v1/events", {"kind": "compute.grant.issued", "reach": "network",
                                    "payload": {"to": a.node_id, "amount_msp": 10_000,
                                                "memo": "test",
                                                "chain": chain_for(a.node_id)}})
        out = _call(a, "/api/v1/compute/jobs", {
            "peer": d.node_id, "kind": "inference.chat", "params": CHAT, "amount_msp": 1_000,
            "central": a.node_id, "timeout_s": 30})
        replication = out["replication"]
        assert replication["verdict"] == "decided"  # type: ignore[index]
        assert replication["cheaters"] == [d.node_id]  # type: ignore[index]
        assert out["output"] == {"model": "tiny", "text": "forty two (1)"}
        assert (out["reason"], out["released"]) == ("done", True)
        by_provider = {r["provider"]: r for r in replication["replicas"]}  # type: ignore[index]
        assert set(by_provider) == {b.node_id, c.node_id, d.node_id}
        assert not by_provider[d.node_id]["released"]
        escrows = {e["escrow_id"]: e["status"] for e in _call(  # type: ignore[attr-defined]
            a, "/api/v1/compute/escrow")["escrows"]}
        assert escrows[by_provider[d.node_id]["escrow_id"]] == "disputed"

    def verified_on_b() -> bool:
        stats = _call(b, "/api/v1/trust")["stats"]
        return bool(stats.get("result_alert_verified"))  # type: ignore[attr-defined]
    wait_until("B re-verified A's alert", verified_on_b, timeout=60)
    judged = {p["node_id"]: p for p in _call(b, "/api/v1/trust")["peers"]}  # type: ignore[attr-defined]
    assert judged[d.node_id]["outcomes"].get("fail") == 1
    db = sqlite3.connect(f"file:{b.path / 'state.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT node_id, alert_type, reporter FROM fraud_alerts").fetchall()
    finally:
        db.close()
    assert rows == [(d.node_id, "result_mismatch", a.node_id)]
    alerts = _call(b, "/api/v1/compute/jobs")["result_alerts"]
    assert [(x["node_id"], x["reporter"]) for x in alerts] == [  # type: ignore[attr-defined,index]
        (d.node_id, a.node_id)]
