"""Real daemons on loopback: central > 2 regionals > 4 locals, syncing up and down (issue #4).

Certificates come from a master key made with the CLI (master → central →
regional → local). Both regionals serve region ``eu``, so a local can fail
over from one to the other. L1 and L2 name their parents in config (R1
first); L3 and L4 and the regionals choose theirs from verified peer records.

1. Every local and regional links to a parent.
2. L1's ``hierarchy`` event reaches central through R1; L2, L1's sibling under
   the same regional, holds only its marker.
3. Central's policy notice comes down to every local.
4. A revocation of L4 published at central reaches every other node; L4 loses
   its tier and its links everywhere.
5. R1 is SIGKILLed: L1 and L2 fail over to R2, and L1's next event reaches
   central through R2.
6. Central is SIGKILLed; L1 appends again: R2 holds the event for central.
7. Everything stops and restarts: nothing any node held is gone, every
   acknowledged sync_queue row is still acknowledged, and the event R2 held
   for central reaches it.
"""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import Daemon, Hartnode, Node, StartDaemon, free_port, init_node, wait_until

from hartnode.cli import EXIT_OK, main
from hartnode.datadir import DataDir
from hartnode.ledger import store

REGION = "eu"
NAMES = ("c", "r1", "r2", "l1", "l2", "l3", "l4")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the hartnode CLI in this process; its stdout."""
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    assert code == EXIT_OK, f"hartnode {' '.join(argv)} -> {code}\n{out.out}\n{out.err}"
    return out.out


def api(node: Node, path: str, body: Any = None) -> Any:
    return node.api(path, body, timeout=10)


def status(node: Node) -> dict[str, Any]:
    info: dict[str, Any] = api(node, "/api/v1/node")
    return info


def answers(check: Any) -> bool:
    """``check()``, False while the daemon does not answer (it is starting or stopping)."""
    try:
        return bool(check())
    except (urllib.error.URLError, OSError):
        return False


def events(node: Node) -> dict[str, dict[str, Any]]:
    return {e["hash"]: e for e in api(node, "/api/v1/events?n=1000")}


def holds(node: Node, event: dict[str, Any]) -> bool:
    return answers(lambda: event["hash"] in events(node))


def append(node: Node, kind: str, reach: str, text: str) -> dict[str, Any]:
    event: dict[str, Any] = api(node, "/api/v1/events",
                                {"kind": kind, "reach": reach, "payload": {"text": text}})
    return event


def acked(node: Node) -> set[tuple[str, str, bytes, int]]:
    """The node's acknowledged sync_queue rows, read from its state.sqlite.

    ``updated_ms`` is part of each: an ack that was lost and came again
    would show as a different row.
    """
    conn = store.open_database(node.path, store.STATE, readonly=True)
    try:
        return {(peer, d, bytes(h), t) for peer, d, h, t in conn.execute(
            "SELECT peer, direction, event_hash, updated_ms FROM sync_queue"
            " WHERE status = 'acked'")}
    finally:
        conn.close()


def test_central_regionals_locals_sync_fail_over_and_restart(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon,
        capsys: pytest.CaptureFixture[str]) -> None:
    master = tmp_path / "master.key"
    mk = cli(capsys, "keys", "master-init", str(master)).split("master public key: ")[1].split()[0]
    n = {name: init_node(hartnode, tmp_path / name) for name in NAMES}
    ids = {name: DataDir(node.path).load_identity().node_id for name, node in n.items()}
    issuer = {"c": (str(master), None), "r1": (str(n["c"].path), str(n["c"].path)),
              "r2": (str(n["c"].path), str(n["c"].path)),
              "l1": (str(n["r1"].path), str(n["r1"].path)),
              "l2": (str(n["r1"].path), str(n["r1"].path)),
              "l3": (str(n["r2"].path), str(n["r2"].path)),
              "l4": (str(n["r2"].path), str(n["r2"].path))}
    tier = {"c": "central", "r1": "regional", "r2": "regional"}
    for name in NAMES:  # in order: an issuer's chain is installed before it issues
        key, chain = issuer[name]
        out = tmp_path / f"{name}.chain"
        cli(capsys, "cert", "issue", "--issuer-key", key,
            *(["--issuer-chain", chain] if chain else []), "--subject", ids[name],
            "--tier", tier.get(name, "local"), "--region", "*" if name == "c" else REGION,
            "--out", str(out))
        cli(capsys, "cert", "install", "--data-dir", str(n[name].path), "--master-key", mk,
            str(out))
    ports: dict[str, int] = {}
    for name in NAMES:  # free a moment ago, and not another node's API port
        while (port := free_port()) in {*ports.values(), *(x.api_port for x in n.values())}:
            pass
        ports[name] = port
    url = {name: f"ws://127.0.0.1:{ports[name]}/hart" for name in NAMES}

    def env(name: str) -> dict[str, str]:
        e = {"HARTNODE_TRUST_MASTER_KEY": mk, "HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports[name]}",
             "HARTNODE_NETWORK_ANNOUNCE_INTERVAL": "1", "HARTNODE_NETWORK_SYNC_INTERVAL": "1",
             "HARTNODE_HIERARCHY_RETRY_MAX": "2", "HARTNODE_HIERARCHY_ACK_TIMEOUT": "2",
             "HARTNODE_NODE_TIER": tier.get(name, "local"),
             "HARTNODE_NODE_REGION": "" if name == "c" else REGION}
        if name != "c":
            e["HARTNODE_NETWORK_SEEDS"] = url["c"]
        if name in ("l1", "l2"):
            e["HARTNODE_HIERARCHY_PARENTS"] = f"{url['r1']},{url['r2']}"
        return e

    daemons: dict[str, Daemon] = {name: start_daemon(n[name], env=env(name)) for name in NAMES}

    def wait(what: str, check: Any) -> None:
        """``wait_until``, failing with every node's hierarchy status and log tail."""
        try:
            wait_until(what, check)
        except AssertionError as e:
            report = [str(e)]
            for name in NAMES:
                try:
                    report.append(f"{name} {ids[name][:12]}: "
                                  f"{json.dumps(status(n[name])['hierarchy'])}")
                except (urllib.error.URLError, OSError) as err:
                    report.append(f"{name}: {err}")
                report.append(daemons[name].log()[-3000:])
            raise AssertionError("\n".join(report)) from None

    def parent(name: str) -> str | None:
        try:
            return status(n[name])["hierarchy"]["parent"]  # type: ignore[no-any-return]
        except (urllib.error.URLError, OSError):
            return None

    # 1. Every local and regional has a parent: L1 and L2 the first one they name.
    wait("every regional and local has a parent",
               lambda: all(parent(x) for x in NAMES if x != "c"))
    assert parent("r1") == parent("r2") == ids["c"]
    wait("L1 and L2 have the first parent they name",
         lambda: parent("l1") == parent("l2") == ids["r1"])
    assert {parent("l3"), parent("l4")} <= {ids["r1"], ids["r2"]}
    assert set(status(n["c"])["hierarchy"]["children"]) == {ids["r1"], ids["r2"]}
    human = n["l1"].run("status")
    assert human.returncode == 0 and f"parent   {ids['r1']}" in human.stdout, str(human)

    # 2. Up: L1's hierarchy event reaches central; its sibling sees only the marker.
    e1 = append(n["l1"], "note.created", "hierarchy", "from l1 up")
    later = append(n["l1"], "note.created", "network", "l1 in public")
    wait("central holds L1's hierarchy event", lambda: holds(n["c"], e1))
    assert holds(n["r1"], e1)
    wait("L2 holds L1's later network event", lambda: holds(n["l2"], later))
    assert not holds(n["l2"], e1)

    # 3. Down: central's policy notice reaches every local.
    notice = append(n["c"], "policy.notice.published", "hierarchy", "upgrade by friday")
    wait("every local holds central's notice",
               lambda: all(holds(n[x], notice) for x in ("l1", "l2", "l3", "l4")))

    # 4. A revocation of L4, published at central, reaches everyone and cuts L4 off.
    revocations = tmp_path / "revocations.json"
    cli(capsys, "cert", "revoke", "--master-key-file", str(master), "--list", str(revocations),
        "--subject", ids["l4"])
    published = n["c"].run("cert", "publish", str(revocations))
    assert published.returncode == 0 and "applied" in published.stdout, str(published)

    def holds_list(name: str) -> bool:
        path = n[name].path / "revocations.json"
        return path.exists() and json.loads(path.read_text())["revocations"]["seq"] == 1

    others = [x for x in NAMES if x != "l4"]
    wait("every other node holds the list", lambda: all(holds_list(x) for x in others))

    def cut_off() -> bool:
        rows = [{r["node_id"]: r for r in api(n[x], "/api/v1/peers")}.get(ids["l4"])
                for x in others]
        children = [status(n[x])["hierarchy"]["children"] for x in ("r1", "r2")]
        return (all(r is None or (r["tier"] == "flat" and not r["neighbour"]) for r in rows)
                and not any(ids["l4"] in c for c in children))
    wait("L4 is flat, unlinked and no regional's child", lambda: answers(cut_off))

    # 5. R1 dies: its locals fail over to R2, and L1's next event goes up through it.
    before = {"r1": (set(events(n["r1"])), acked(n["r1"]))}
    daemons["r1"].proc.kill()
    daemons["r1"].proc.wait()
    wait("L1 and L2 fail over to R2",
               lambda: parent("l1") == parent("l2") == ids["r2"])
    e2 = append(n["l1"], "note.created", "hierarchy", "from l1 via r2")
    wait("central holds L1's event sent through R2", lambda: holds(n["c"], e2))

    # 6. Central dies too: R2 keeps what it owes central.
    before["c"] = (set(events(n["c"])), acked(n["c"]))
    daemons["c"].proc.kill()
    daemons["c"].proc.wait()
    e3 = append(n["l1"], "note.created", "hierarchy", "while central is down")
    wait("R2 holds L1's third event", lambda: holds(n["r2"], e3))
    for name in ("r2", "l1", "l2", "l3", "l4"):
        before[name] = (set(events(n[name])), acked(n[name]))
    for name in ("r2", "l1", "l2", "l3", "l4"):
        daemons[name].proc.send_signal(signal.SIGTERM)
    for name in ("r2", "l1", "l2", "l3", "l4"):
        assert daemons[name].proc.wait(timeout=20) == 0, daemons[name].log()

    # 7. Everything restarts: nothing is lost, and what R2 held reaches central.
    for name in NAMES:
        daemons[name] = start_daemon(n[name], env=env(name))
    wait("central holds the event R2 held for it", lambda: holds(n["c"], e3))
    for name in NAMES:
        held, acks = before[name]
        assert held <= set(events(n[name])), name
        assert acks <= acked(n[name]), name
    assert any(peer == ids["r2"] and d == "up" for peer, d, _, _ in before["l1"][1])
    assert {e1["hash"], e2["hash"], e3["hash"]} <= set(events(n["c"]))
    r2_acks = {h.hex() for peer, d, h, _ in acked(n["l1"]) if peer == ids["r2"] and d == "up"}
    assert {e2["hash"], e3["hash"]} <= r2_acks
    verified = n["c"].run("kb", "verify", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"], str(verified)
