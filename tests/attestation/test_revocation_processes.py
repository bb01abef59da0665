"""Real daemons on loopback: a master-signed revocation spreads and cuts the revoked node off.

Three nodes share a pinned master key; B holds a regional certificate. The
operator publishes a revocation of B's key at A. The other nodes must come to
hold the list (persisted in their data dirs), B must lose its tier everywhere,
and B's links must be closed and refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Hartnode, Node, StartDaemon, free_port, init_node, wait_until

from hartnode import cert_commands as commands
from hartnode.datadir import DataDir


def peers(node: Node) -> dict[str, dict[str, object]]:
    result = node.run("peers", "--json")
    assert result.returncode == 0, str(result)
    return {row["node_id"]: row for row in json.loads(result.stdout)}


def test_revocation_reaches_every_node_and_cuts_the_revoked_one_off(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    master = tmp_path / "master.key"
    mk = str(commands.master_init(master).data["master_public_key"])
    a, b, c = (init_node(hartnode, tmp_path / name) for name in "abc")
    b_id = DataDir(b.path).load_identity().node_id
    commands.cert_issue(master, None, b_id, "regional", "eu-west", None, (), None,
                        tmp_path / "b.chain")
    commands.cert_install(b.path, tmp_path / "b.chain", mk)
    ports = {n.path.name: free_port() for n in (a, b, c)}
    seed = f"ws://127.0.0.1:{ports['a']}/hart"

    def env(n: Node, **extra: str) -> dict[str, str]:
        base = {"HARTNODE_TRUST_MASTER_KEY": mk, "HARTNODE_NETWORK_ANNOUNCE_INTERVAL": "1",
                "HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports[n.path.name]}"}
        if n is not a:
            base["HARTNODE_NETWORK_SEEDS"] = seed
        return {**base, **extra}

    start_daemon(a, env=env(a))
    start_daemon(b, env=env(b, HARTNODE_NODE_TIER="regional", HARTNODE_NODE_REGION="eu-west"))
    start_daemon(c, env=env(c))
    wait_until("A and C see B as a verified regional",
               lambda: all(peers(n).get(b_id, {}).get("tier") == "regional" for n in (a, c)))

    revocations = tmp_path / "revocations.json"
    commands.cert_revoke(master, revocations, subjects=[b_id])
    published = a.run("cert", "publish", str(revocations))
    assert published.returncode == 0 and "applied" in published.stdout, str(published)

    def holds_list(n: Node) -> bool:
        path = n.path / "revocations.json"
        return path.exists() and json.loads(path.read_text())["revocations"]["seq"] == 1

    # B itself is cut off, not told: only the nodes still linked must hold the list.
    wait_until("A and C hold the list", lambda: all(holds_list(n) for n in (a, c)))
    for n in (a, c):
        row = peers(n).get(b_id)
        assert row is None or row["tier"] == "flat", row
    wait_until("no node keeps a link to B",
               lambda: not any(peers(n).get(b_id, {}).get("neighbour") for n in (a, c)))
    assert peers(a).get(DataDir(c.path).load_identity().node_id, {}).get("status") == "active"
    again = a.run("cert", "publish", str(revocations))
    assert again.returncode == 0 and "not newer" in again.stdout
