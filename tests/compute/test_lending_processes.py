"""Compute lending between two real daemons on loopback, through the API.

A is a central (its chain from the test's master key) and the borrower: it
mints itself Spark, then asks B to run a ``cpu.hash_chain`` job through
``POST /api/v1/compute/jobs``. B admits it, runs it, signs the receipt; A
checks it and releases the escrow. Replication then brings the release to
B, whose wallet shows its ⌊90%⌋, and the central's share is A's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Hartnode, Node, StartDaemon, free_port, init_node, wait_until

from hartnode.compute import jobs

from .helpers import MASTER, chain_for

HTTP_TIMEOUT_S = 60.0


def _call(node: Node, path: str, body: object | None = None) -> dict[str, object]:
    out: dict[str, object] = node.api(path, body, timeout=HTTP_TIMEOUT_S)
    return out


@pytest.mark.slow
def test_a_job_between_two_daemons_settles_90_to_the_lender(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    a, b = (init_node(hartnode, tmp_path / name) for name in "ab")
    ports = {n.path.name: free_port() for n in (a, b)}

    def env(n: Node) -> dict[str, str]:
        base = {"HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports[n.path.name]}",
                "HARTNODE_NETWORK_SYNC_INTERVAL": "1", "HARTNODE_NETWORK_ANNOUNCE_INTERVAL": "1",
                "HARTNODE_TRUST_MASTER_KEY": MASTER.public_key.hex(),
                "HARTNODE_COMPUTE_COMPUTE_POLICY": "hive_always",
                "HARTNODE_COMPUTE_PRICE_MSP": "500"}
        if n is b:
            base["HARTNODE_NETWORK_SEEDS"] = f"ws://127.0.0.1:{ports['a']}/hart"
        return base

    start_daemon(a, env=env(a))
    start_daemon(b, env=env(b))
    wait_until("B is linked to A", lambda: a.node_id in {
        p["node_id"] for p in json.loads(b.run("peers", "--json", env=env(b)).stdout)})
    _call(a, "/api/v1/events", {"kind": "compute.grant.issued", "reach": "network", "payload": {
        "to": a.node_id, "amount_msp": 10_000, "memo": "test", "chain": chain_for(
            a.node_id)}})
    assert _call(a, "/api/v1/wallet")["wallet"]["spark_msp"] == 10_000  # type: ignore[index]
    outcome = _call(a, "/api/v1/compute/jobs", {
        "peer": b.node_id, "kind": "cpu.hash_chain", "params": {"seed": "e2e", "rounds": 3},
        "amount_msp": 1_000, "central": a.node_id, "timeout_s": 30})
    assert (outcome["admitted"], outcome["reason"], outcome["released"]) == (True, "done", True)
    assert outcome["output"] == {"digest": jobs.hash_chain("e2e", 3)}
    # Lender ⌊90%⌋ = 900; no regional, so central (A) takes the other 100.
    assert _call(a, "/api/v1/wallet")["wallet"]["spark_msp"] == 9_100  # type: ignore[index]
    wait_until("B's views hold the release", lambda: _call(
        b, "/api/v1/wallet")["wallet"]["spark_msp"] == 900)  # type: ignore[index]
    escrows = _call(b, "/api/v1/compute/escrow")["escrows"]
    assert [(e["status"], e["receipt"]) for e in escrows] == [  # type: ignore[attr-defined,index]
        ("released", outcome["receipt"])]
