"""Real daemons on loopback replicate their ledgers.

Node A appends network events and one local event. B is linked from the
start (push); C joins late and catches up by anti-entropy (pull). Both end
with A's network events, verified, a marker in place of the local event
(never its content), and ledgers that pass kb verify.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Hartnode, Node, StartDaemon, free_port, init_node, wait_until

from hartnode.datadir import DataDir


def tail(node: Node) -> list[dict[str, object]]:
    result = node.run("ledger", "tail", "--json", "-n", "100")
    assert result.returncode == 0, str(result)
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_push_and_late_pull_carry_network_events_and_withhold_local_ones(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    a, b, c = (init_node(hartnode, tmp_path / name) for name in "abc")
    ports = {n.path.name: free_port() for n in (a, b, c)}

    def env(n: Node) -> dict[str, str]:
        base = {"HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports[n.path.name]}",
                "HARTNODE_NETWORK_SYNC_INTERVAL": "1", "HARTNODE_NETWORK_ANNOUNCE_INTERVAL": "1"}
        if n is not a:
            base["HARTNODE_NETWORK_SEEDS"] = f"ws://127.0.0.1:{ports['a']}/hart"
        return base

    start_daemon(a, env=env(a))
    start_daemon(b, env=env(b))
    a_id = DataDir(a.path).load_identity().node_id
    wait_until("B is linked to A", lambda: a_id in {
        p["node_id"] for p in json.loads(b.run("peers", "--json").stdout)})
    for i in range(20):
        reach = "local" if i == 7 else "network"
        appended = a.run("ledger", "append", "--kind", "note.created", "--reach", reach,
                         "--payload", json.dumps({"text": f"note {i}"}))
        assert appended.returncode == 0, str(appended)
    start_daemon(c, env=env(c))

    def caught_up(n: Node) -> bool:
        return len(tail(n)) == 19
    wait_until("B and C hold A's 19 network events", lambda: caught_up(b) and caught_up(c))
    for n in (b, c):
        events = tail(n)
        assert {e["origin"] for e in events} == {a_id}
        assert [e["seq"] for e in events] == [s for s in range(1, 21) if s != 8]
        assert all(e["payload"] != {"text": "note 7"} for e in events)
        status = json.loads(n.run("status", "--json").stdout)
        assert status["ledger"]["events"] == 19 and status["replication"]["withheld"] >= 1
        verified = n.run("kb", "verify", "--json")
        assert verified.returncode == 0 and json.loads(verified.stdout)["ok"], str(verified)
