"""A goal dispatched as a compute job between two real daemons, through escrow.

A is a central (its chain from the test's master key): it mints itself
Spark, creates a goal with the CLI (through its daemon), activates it and
dispatches one ``cpu.hash_chain`` job to B. The reservation turns into
spending with the escrow's id, the escrow is released to B, and a second
dispatch over the goal's budget is refused before any job is sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from compute.helpers import MASTER, chain_for
from conftest import Hartnode, Node, StartDaemon, free_port, init_node, wait_until

HTTP_TIMEOUT_S = 60.0


def _call(node: Node, path: str, body: object | None = None) -> Any:
    return node.api(path, body, timeout=HTTP_TIMEOUT_S)


@pytest.mark.slow
def test_a_goal_runs_as_a_compute_job_through_escrow(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    a, b = (init_node(hartnode, tmp_path / name) for name in "ab")
    ports = {n.path.name: free_port() for n in (a, b)}

    def env(n: Node) -> dict[str, str]:
        base = {"HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports[n.path.name]}",
                "HARTNODE_NETWORK_SYNC_INTERVAL": "1", "HARTNODE_NETWORK_ANNOUNCE_INTERVAL": "1",
                "HARTNODE_TRUST_MASTER_KEY": MASTER.public_key.hex(),
                "HARTNODE_COMPUTE_COMPUTE_POLICY": "hive_always"}
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
    made = a.run("goals", "create", "--title", "hash for science", "--job-kind",
                 "cpu.hash_chain", "--params", '{"seed": "goal", "rounds": 3}',
                 "--budget-msp", "1500", "--json", env=env(a))
    assert made.returncode == 0, str(made)
    goal = json.loads(made.stdout)["hash"]
    assert a.run("goals", "activate", goal[:12], env=env(a)).returncode == 0
    out = a.run("goals", "dispatch", goal[:12], "--peer", b.node_id, "--central", a.node_id,
                "--amount-msp", "1000", "--timeout", "30", "--json", env=env(a))
    assert out.returncode == 0, str(out)
    done = json.loads(out.stdout)
    assert (done["result"], done["reason"]) == ("spent", "done")
    shown = _call(a, f"/api/v1/goals/show?id={goal}")
    assert (shown["reserved_msp"], shown["spent_msp"], shown["left_msp"]) == (0, 1000, 500)
    assert [(r["state"], r["escrow_id"]) for r in shown["reservations"]] == [
        ("spent", done["escrow_id"])]
    escrows = _call(a, "/api/v1/compute/escrow")["escrows"]
    assert [(e["escrow_id"], e["status"]) for e in escrows] == [(done["escrow_id"], "released")]
    wait_until("B is paid its 90%", lambda: _call(
        b, "/api/v1/wallet")["wallet"]["spark_msp"] == 900)
    # 500 left of the goal's budget: a second job of 1000 is refused before it is sent.
    refused = a.run("goals", "dispatch", goal[:12], "--peer", b.node_id, "--central",
                    a.node_id, "--amount-msp", "1000", env=env(a))
    assert refused.returncode == 2 and "over_budget" in refused.stderr
    assert len(_call(a, "/api/v1/compute/escrow")["escrows"]) == 1
