"""A node restored from an old backup must not fork its own feed (issue #4).

B appends, is backed up, appends more (A replicates everything), and both
stop. B is restored from the old backup and started while A is still down,
and asked to append at once. Its append must wait until A is back and then
continue after the events A holds (seq 8), not re-use seq 4: before it
appends, a node learns its own feed's head from a neighbour.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from conftest import (
    HARTNODE,
    Hartnode,
    Node,
    StartDaemon,
    clean_env,
    free_port,
    init_node,
    wait_until,
)

from hartnode.datadir import DataDir


def append(node: Node, text: str) -> dict[str, object]:
    result = node.run("ledger", "append", "--kind", "note.created", "--payload",
                      json.dumps({"text": text}))
    assert result.returncode == 0, str(result)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def head_of(node: Node, origin: str) -> int:
    lines = node.run("ledger", "tail", "--json", "-n", "100").stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    return max((r["seq"] for r in rows if r["origin"] == origin), default=0)


def test_a_restored_node_continues_its_feed_instead_of_forking_it(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    a, b = init_node(hartnode, tmp_path / "a"), init_node(hartnode, tmp_path / "b")
    ports = {"a": free_port(), "b": free_port()}
    env = {n: {"HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports[n]}",
               "HARTNODE_NETWORK_SYNC_INTERVAL": "1"} for n in ports}
    env["b"]["HARTNODE_NETWORK_SEEDS"] = f"ws://127.0.0.1:{ports['a']}/hart"
    b_id = DataDir(b.path).load_identity().node_id
    daemon_a = start_daemon(a, env=env["a"])
    daemon_b = start_daemon(b, env=env["b"])
    for i in range(3):
        append(b, f"before the backup {i}")
    backup = tmp_path / "backup"
    assert b.run("kb", "backup", str(backup)).returncode == 0
    for i in range(4):
        append(b, f"after the backup {i}")
    wait_until("A holds all 7 of B's events", lambda: head_of(a, b_id) == 7)
    for daemon in (daemon_b, daemon_a):
        daemon.proc.terminate()
        assert daemon.proc.wait(timeout=10) == 0

    for name in ("ledger.sqlite", "state.sqlite"):  # the operator restores the old copy
        for side in ("-wal", "-shm"):
            (b.path / f"{name}{side}").unlink(missing_ok=True)
        shutil.copyfile(backup / name, b.path / name)
    assert head_of(b, b_id) == 3

    # B comes back while A is still down, and is asked to append at once: the
    # append must wait until A is back and has shown B its own feed's head.
    start_daemon(b, env=env["b"])
    pending = subprocess.Popen(
        [*HARTNODE, "ledger", "append", "--kind", "note.created", "--payload",
         json.dumps({"text": "after the restore"})],
        env=clean_env(b.path, b.cli.home), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    start_daemon(a, env=env["a"])
    out, err = pending.communicate(timeout=30)
    assert pending.returncode == 0, err.decode()
    event = json.loads(out)
    assert event["seq"] == 8, event
    wait_until("A takes B's seq 8 as the next link", lambda: head_of(a, b_id) == 8)
    status = json.loads(a.run("status", "--json").stdout)
    assert not any("equivocation" in r for r in status["replication"]["rejected"])
    verified = b.run("kb", "verify", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["events"] == 8
