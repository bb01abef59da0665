"""Real daemons on loopback: an altered install is quarantined, a slow honest peer is not (#10).

A is central (certified by a master key made with the CLI) and publishes the
release manifest of the package the daemons run from. B runs from a copy of
that package with a comment line put at the top of every module (its
installed files differ; it runs fine). C runs the real package but every byte
to and from it crosses a proxy that delays it by ``DELAY_S`` each way. A
challenges its neighbours once a second with a 5 s deadline.

1. A quarantines B (six signed wrong answers, its own or re-verified from
   C's alerts), closes B's link and refuses it from then on.
2. C passes every challenge, through the added latency, and stays trusted;
   ``hartnode trust challenge C`` prints a pass.
"""

from __future__ import annotations

import json
import queue
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import Daemon, Hartnode, Node, StartDaemon, free_port, init_node, wait_until

from hartnode.attestation.certificate import parse_chain_file
from hartnode.attestation.manifest import installed_manifest, package_dir
from hartnode.attestation.trust_events import release_payload
from hartnode.cli import EXIT_OK, main
from hartnode.datadir import CHAIN_FILE

pytestmark = pytest.mark.slow
DELAY_S = 0.4  # added to every chunk, each way, on C's links


class DelayProxy:
    """A loopback TCP proxy that forwards each chunk ``delay`` seconds after it arrived."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.forwarded: Counter[str] = Counter()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self._start(self._accept)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/hart"

    def _start(self, fn: Any, *args: Any) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._closed:  # accepted while closing: close() has already passed
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for src, dst, name in ((client, upstream, "in"), (upstream, client, "out")):
                pending: queue.Queue[tuple[float, bytes]] = queue.Queue()
                self._start(self._read, src, pending)
                self._start(self._write, dst, pending, name)

    def _read(self, src: socket.socket, pending: queue.Queue[tuple[float, bytes]]) -> None:
        try:
            while data := src.recv(65536):
                pending.put((time.monotonic() + self.delay, data))
        except OSError:
            pass
        pending.put((0.0, b""))

    def _write(self, dst: socket.socket, pending: queue.Queue[tuple[float, bytes]],
               name: str) -> None:
        try:
            while True:
                due, data = pending.get()
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                time.sleep(max(0.0, due - time.monotonic()))  # the latency under test
                dst.sendall(data)
                self.forwarded[name] += len(data)
        except OSError:
            pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self.listener.close()
            for s in self._sockets:
                s.close()
        for t in self._threads:
            t.join(timeout=5)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    assert code == EXIT_OK, f"hartnode {' '.join(argv)} -> {code}\n{out.out}\n{out.err}"
    return out.out


def api(node: Node, path: str, body: Any = None) -> Any:
    return node.api(path, body, timeout=30)


def altered_copy(dest: Path) -> Path:
    """The package with a comment line on top of every module: it runs, its bytes differ."""
    pkg = dest / "hartnode"
    shutil.copytree(package_dir(), pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for module in pkg.rglob("*.py"):
        module.write_bytes(b"# altered install\n" + module.read_bytes())
    return dest


def test_an_altered_install_is_quarantined_and_a_slow_honest_peer_is_not(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon,
        capsys: pytest.CaptureFixture[str]) -> None:
    master = tmp_path / "master.key"
    mk = cli(capsys, "keys", "master-init", str(master)).split("master public key: ")[1].split()[0]
    n = {name: init_node(hartnode, tmp_path / name) for name in "abc"}
    chain_out = tmp_path / "a.chain"
    cli(capsys, "cert", "issue", "--issuer-key", str(master), "--subject", n["a"].node_id,
        "--tier", "central", "--region", "*", "--out", str(chain_out))
    cli(capsys, "cert", "install", "--data-dir", str(n["a"].path), "--master-key", mk,
        str(chain_out))
    ports = {name: free_port() for name in "abc"}
    url = {name: f"ws://127.0.0.1:{ports[name]}/hart" for name in "abc"}
    to_a = DelayProxy(ports["a"], DELAY_S)  # C's way to A
    to_c = DelayProxy(ports["c"], DELAY_S)  # everyone's way to C
    site_b = altered_copy(tmp_path / "site-b")
    common = {"HARTNODE_TRUST_MASTER_KEY": mk, "HARTNODE_NETWORK_ANNOUNCE_INTERVAL": "1",
              "HARTNODE_NETWORK_SYNC_INTERVAL": "1", "HARTNODE_TRUST_CHALLENGE_INTERVAL": "1",
              "HARTNODE_TRUST_CHALLENGE_TIMEOUT": "5"}
    env = {
        "a": {**common, "HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports['a']}",
              "HARTNODE_NODE_TIER": "central"},
        "b": {**common, "HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports['b']}",
              "HARTNODE_NETWORK_SEEDS": url["a"], "PYTHONPATH": str(site_b)},
        "c": {**common, "HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports['c']}",
              "HARTNODE_NETWORK_ADVERTISE": to_c.url, "HARTNODE_NETWORK_SEEDS": to_a.url},
    }
    daemons: dict[str, Daemon] = {}
    try:
        for name in "abc":
            daemons[name] = start_daemon(n[name], env=env[name])
        _run(n, daemons, to_a, to_c, capsys)
    finally:
        to_a.close()
        to_c.close()


def _run(n: dict[str, Node], daemons: dict[str, Daemon], to_a: DelayProxy, to_c: DelayProxy,
         capsys: pytest.CaptureFixture[str]) -> None:
    ids = {name: node.node_id for name, node in n.items()}

    def trust(name: str) -> dict[str, Any]:
        view: dict[str, Any] = api(n[name], "/api/v1/trust")
        return view

    def peer(name: str, of: str) -> dict[str, Any]:
        rows = [r for r in trust(name)["peers"] if r["node_id"] == ids[of]]
        return rows[0] if rows else {"integrity_status": "unknown", "outcomes": {}}

    def wait(what: str, check: Any, timeout: float = 60.0) -> None:
        def safe() -> bool:
            try:
                return bool(check())
            except (urllib.error.URLError, OSError):
                return False
        try:
            wait_until(what, safe, timeout=timeout)
        except AssertionError as e:
            report = [str(e)] + [
                f"{x}: {json.dumps(trust(x))}\n"
                f"{json.dumps(api(n[x], '/api/v1/node')['overlay'])}\n{daemons[x].log()[-3000:]}"
                for x in "abc"]
            raise AssertionError("\n".join(report)) from None

    codes = {x: api(n[x], "/api/v1/node")["integrity"]["code_hash"] for x in "abc"}
    manifest = installed_manifest()
    assert codes["a"] == codes["c"] == manifest.root_hex != codes["b"]
    chain = [link.to_wire() for link in parse_chain_file((n["a"].path / CHAIN_FILE).read_bytes())]
    api(n["a"], "/api/v1/events", {"kind": "policy.release.published", "reach": "network",
                                   "payload": release_payload(manifest, chain)})
    wait("A, B and C hold the trusted release",
         lambda: all(manifest.root_hex in trust(x)["releases"] for x in "abc"))

    # 1. B's answers are signed and wrong: quarantined, its link closed and refused.
    wait("A quarantines B", lambda: peer("a", "b")["integrity_status"] == "quarantined")
    b_row = peer("a", "b")
    assert b_row["outcomes"]["fail"] >= 6 and b_row["outcomes"]["pass"] == 0
    assert b_row["quarantine_until_ms"] > time.time() * 1000
    wait("A holds no link to B",
         lambda: ids["b"] not in api(n["a"], "/api/v1/node")["overlay"]["active_view"])
    # Whoever of A and C caught B first raised alerts; the other re-verified them.
    wait("an honest node re-verified another's alert about B",
         lambda: sum(trust(x)["stats"].get("alert_verified", 0) for x in "ac") >= 1)
    assert all(trust(x)["stats"].get("alert_forged", 0) == 0 for x in "ac")

    # 2. C, slow but honest, passes every challenge and stays trusted.
    wait("A has judged C a few times", lambda: peer("a", "c")["outcomes"].get("pass", 0) >= 3)
    out = n["a"].run("trust", "challenge", ids["c"], "--json", timeout=60)
    assert out.returncode == 0, str(out)
    verdict = json.loads(out.stdout)
    assert (verdict["verdict"], verdict["integrity_status"]) == ("pass", "trusted")
    c_row = peer("a", "c")
    assert c_row["integrity_status"] == "trusted"
    assert c_row["outcomes"].get("fail", 0) == c_row["outcomes"].get("offline", 0) == 0
    for way in ("in", "out"):  # C's link to A ran through a delaying proxy, both ways
        assert to_a.forwarded[way] + to_c.forwarded[way] > 0
    assert peer("a", "b")["integrity_status"] == "quarantined"  # still refused
    human = n["a"].run("trust")
    assert human.returncode == 0 and "quarantined" in human.stdout, str(human)
    assert ids["b"][:12] in human.stdout
