"""``hartnode compute ...`` and ``hartnode wallet``: real processes on a real data dir."""

from __future__ import annotations

import json

from conftest import Node

from hartnode.compute import escrow, wallet
from hartnode.compute.wallet import OpenRequest
from hartnode.datadir import DataDir
from hartnode.ledger.node_ledger import NodeLedger

from .helpers import CENTRAL, MASTER, chain_for, open_node


def _json(node: Node, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = node.run(*args, "--json", env=env)
    assert result.returncode == 0, str(result)
    out: dict[str, object] = json.loads(result.stdout)
    return out


def test_policy_set_then_env_wins_with_sources_shown(node: Node) -> None:
    assert node.run("compute", "policy", "set", "max_hive_gpu_pct", "30").returncode == 0
    bad = node.run("compute", "policy", "set", "max_hive_gpu_pct", "300")
    assert bad.returncode == 2 and "0 to 100" in bad.stderr
    shown = _json(node, "compute", "policy",
                  env={"HARTNODE_COMPUTE_COMPUTE_POLICY": "local_only"})["policy"]
    assert shown["max_hive_gpu_pct"] == {"value": "30", "source": "node_compute_config"}  # type: ignore[index]
    assert shown["compute_policy"] == {"value": "local_only", "source": "env"}  # type: ignore[index]
    assert shown["auto_settle"] == {"value": "true", "source": "default"}  # type: ignore[index]
    status = _json(node, "compute", "status")
    assert status["gpu"]["available"] in (True, False)  # type: ignore[index]
    assert "cpu.hash_chain" in status["job_kinds"]  # type: ignore[operator]


def test_wallet_and_escrow_after_a_grant_and_an_escrow(node: Node, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = node.path / "hartnode.toml"
    config.write_text(config.read_text().replace('master_key = ""',
                                                 f'master_key = "{MASTER.public_key.hex()}"'))
    central, _ = open_node(tmp_path / "central", CENTRAL)
    with central:
        wallet.grant(central, node.node_id, 5_000, chain_for(CENTRAL))
        grant_wire = [e.wire() for e in central.ledger.tail(5)]
    from hartnode.catalog import build_catalog

    catalog = build_catalog(MASTER.public_key)
    with NodeLedger(node.path, DataDir(node.path).load_identity(), catalog) as nl:
        nl.ingest(grant_wire)
        eid = wallet.open_escrow(nl, catalog, OpenRequest(
            lender="ab" * 32, amount_msp=1_200, deadline_ms=2**52, central=CENTRAL.node_id))
    w = _json(node, "wallet")
    assert w["wallet"] == {"node_id": node.node_id, "spark_msp": 3_800, "held_msp": 1_200}
    escrows = _json(node, "compute", "escrow")["escrows"]
    assert [(e["escrow_id"], e["status"]) for e in escrows] == [(eid, escrow.STATUS_OPEN)]  # type: ignore[attr-defined,index]
    jobs = _json(node, "compute", "jobs")
    assert jobs["jobs"][0]["job_kind"] == "cpu.hash_chain"  # type: ignore[index]
