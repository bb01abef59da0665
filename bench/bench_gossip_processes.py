"""Signed broadcasts between real processes: hartnode's overlay beside py-libp2p gossipsub.

    .venv/bin/python bench/bench_gossip_processes.py [--quick] [--repeats N]
    .venv/bin/python bench/bench_gossip_processes.py --setup-libp2p   # once: the libp2p venv

Every node is its own process on 127.0.0.1, driven over pipes
(``hartnode/testing/gossip_bench_node.py``). Two clusters run side by side,
of 2 and then of 10 nodes: hartnode ``GossipService`` nodes (profile
``full``, its per-link byte budget lifted, announcements off) and py-libp2p
gossipsub nodes (heartbeat 1 s, spam and eclipse protection off, Ed25519
keys, strict signing). Payloads are the same ``--size`` bytes; hartnode's
are Ed25519-signed by the publisher and verified by every receiver,
gossipsub signs and verifies its own.

Per repeat, hartnode then gossipsub (a paired measurement, see ``common``):

- **throughput**: node 0 publishes ``M`` messages as fast as the slowest
  receiver keeps up (at most ``WINDOW`` messages ahead of it, credit given
  by this process); messages/s = M / (last delivery at the last receiver -
  first publish);
- **latency**: every node publishes at a fixed total rate of ``RATE`` msg/s
  (far below either's throughput); each (message, receiver) pair is one
  sample of delivery time - publish time (CLOCK_MONOTONIC is shared by all
  processes on one machine); p50 and p99 pooled over the repeats.

Goal (issue): hartnode >= 3x gossipsub's throughput at no worse p99.

py-libp2p cannot live in the project's venv: it pulls in ``trio-typing``,
whose stale ``trio-stubs`` shadow trio's own types and break
``mypy --strict`` on the whole project. ``--setup-libp2p`` makes a separate
venv under ``bench/out/libp2p-venv`` (git-ignored); without it the
benchmark measures hartnode alone and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import random
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.common import OUT_DIR, REPO_ROOT, Paired, Row, Table, fmt, median, parser

LIBP2P_VERSION = "0.8.1"
LIBP2P_VENV = OUT_DIR / "libp2p-venv"
SIZE = 256  # payload bytes
WINDOW = 24  # messages the publisher may be ahead of the slowest receiver (gossipsub's
# subscription and per-peer queues hold 32 and drop beyond: a window above that
# measures its losses, not its speed)
STALL_S = 5.0  # a throughput phase whose receivers make no progress this long has lost some
RATE = 20.0  # msg/s network-wide in the latency phase
PHASE_TIMEOUT_S = 120.0
GOAL_THROUGHPUT = 3.0


# --- the child side of gossipsub (runs under the libp2p venv's python) ----------------------


async def _run_libp2p_child(index: int, size: int) -> None:
    """One gossipsub node; libp2p is imported by name so this file type-checks without it."""
    import trio

    from hartnode.testing.gossip_bench_node import TOPIC, Driver, emit

    lp = importlib.import_module("libp2p")
    ed25519 = importlib.import_module("libp2p.crypto.ed25519")
    gossipsub_mod = importlib.import_module("libp2p.pubsub.gossipsub")
    pubsub_mod = importlib.import_module("libp2p.pubsub.pubsub")
    service = importlib.import_module("libp2p.tools.anyio_service")
    peerinfo = importlib.import_module("libp2p.peer.peerinfo")
    multiaddr = importlib.import_module("multiaddr")

    host = lp.new_host(key_pair=ed25519.create_new_key_pair())
    router = gossipsub_mod.GossipSub(
        protocols=[gossipsub_mod.PROTOCOL_ID_V11, gossipsub_mod.PROTOCOL_ID],
        degree=6, degree_low=4, degree_high=12,  # go-libp2p's defaults
        heartbeat_interval=1, heartbeat_initial_delay=0.1,
        spam_protection_enabled=False, eclipse_protection_enabled=False)
    pubsub = pubsub_mod.Pubsub(host, router)  # strict signing (the default)

    async def publish(data: bytes) -> None:
        await pubsub.publish(TOPIC, data)

    driver = Driver(index, size, publish)

    async def connect(addrs: list[str]) -> None:
        for addr in addrs:
            await host.connect(peerinfo.info_from_p2p_addr(multiaddr.Multiaddr(addr)))

    def status() -> dict[str, Any]:
        return {"neighbours": sorted(str(p) for p in router.mesh.get(TOPIC, ())),
                "peers": len(pubsub.peers)}

    async with (host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]),
                service.background_trio_service(pubsub),
                service.background_trio_service(router)):
        await pubsub.wait_until_ready()
        subscription = await pubsub.subscribe(TOPIC)

        async def receive() -> None:
            while True:
                msg = await subscription.get()
                driver.delivered(msg.data)

        addr = next(str(a) for a in host.get_addrs() if "/tcp/" in str(a))
        if "/p2p/" not in addr:
            addr = f"{addr}/p2p/{host.get_id().to_string()}"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            emit({"ev": "ready", "addr": addr, "id": str(host.get_id())})
            await driver.commands(status, connect)
            nursery.cancel_scope.cancel()


# --- the parent ---------------------------------------------------------------------------


@dataclass
class Child:
    index: int
    proc: subprocess.Popen[bytes]
    buf: bytes = b""
    events: list[dict[str, Any]] = field(default_factory=list)
    addr: str = ""
    node_id: str = ""

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()


class Cluster:
    """N child processes of one kind, and the line protocol to drive them."""

    def __init__(self, kind: str, n: int, python: str) -> None:
        self.kind = kind
        self.children: list[Child] = []
        self.sel = selectors.DefaultSelector()
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        for i in range(n):
            if kind == "hartnode":
                seeds = ",".join(c.addr for c in self.children[:2])
                argv = [python, "-m", "hartnode.testing.gossip_bench_node", "--index", str(i),
                        "--size", str(SIZE), "--seeds", seeds, "--no-budget"]
            else:
                argv = [python, str(Path(__file__).resolve()), "--libp2p-child", str(i)]
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, env=env, cwd=REPO_ROOT)
            child = Child(i, proc)
            assert proc.stdout is not None
            os.set_blocking(proc.stdout.fileno(), False)
            self.sel.register(proc.stdout, selectors.EVENT_READ, child)
            self.children.append(child)
            ready = self.wait("ready", [child], timeout=60)[0]
            child.addr, child.node_id = ready["addr"], ready["id"]
        if kind == "libp2p":
            rng = random.Random(n)
            for c in self.children[1:]:  # a connected graph of degree ~4, like an overlay
                earlier = [o.addr for o in self.children[: c.index]]
                c.send(cmd="connect", addrs=rng.sample(earlier, min(3, len(earlier))))
        self.wait_connected()

    def pump(self, timeout: float) -> None:
        for key, _ in self.sel.select(timeout):
            child: Child = key.data
            chunk = os.read(key.fd, 1 << 20)
            if not chunk:
                raise RuntimeError(f"{self.kind} node {child.index} exited")
            child.buf += chunk
            *lines, child.buf = child.buf.split(b"\n")
            child.events += [json.loads(line) for line in lines if line.strip()]

    def wait(self, ev: str, children: list[Child], timeout: float,
             phase: str | None = None) -> list[dict[str, Any]]:
        """The first ``ev`` event of each child (consumed), within ``timeout``."""
        deadline = time.monotonic() + timeout
        found: dict[int, dict[str, Any]] = {}
        while True:
            for c in children:
                if c.index in found:
                    continue
                for e in c.events:
                    if e["ev"] == ev and (phase is None or e.get("phase") == phase):
                        c.events.remove(e)
                        found[c.index] = e
                        break
            if len(found) == len(children):
                return [found[c.index] for c in children]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.kind}: no {ev} from {len(children) - len(found)}")
            self.pump(left)

    def wait_connected(self, timeout: float = 60.0) -> None:
        """Until every node has a neighbour (mesh peer) and the neighbour graph is connected."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for c in self.children:
                c.send(cmd="status")
            views = [set(s["neighbours"]) for s in self.wait("status", self.children, 30)]
            if _connected([c.node_id for c in self.children], views):
                return
            time.sleep(0.2)  # polling a distributed condition, not a readiness wait
        raise TimeoutError(f"{self.kind}: no connected overlay within {timeout} s")

    def throughput(self, name: str, count: int) -> tuple[float, int]:
        """Node 0 publishes ``count`` messages under credit; (msg/s, messages delivered)."""
        pub, receivers = self.children[0], self.children[1:]
        for c in receivers:
            c.send(cmd="expect", phase=name, count=count, every=4)
        pub.send(cmd="expect", phase=name, count=count, every=4)
        self.wait("expecting", self.children, 30, name)
        progress = {c.index: 0 for c in receivers}
        pub.send(cmd="publish", phase=name, count=count, rate=None, credit=WINDOW)
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        done: dict[int, dict[str, Any]] = {}
        granted = WINDOW
        moved = time.monotonic()
        while len(done) < len(receivers) and time.monotonic() < deadline:
            if time.monotonic() - moved > STALL_S:
                break  # lost messages: the window will never open again
            self.pump(0.5)
            for c in receivers:
                for e in [e for e in c.events if e.get("phase") == name]:
                    c.events.remove(e)
                    progress[c.index] = max(progress[c.index], e["n"])
                    moved = time.monotonic()
                    if e["ev"] == "done":
                        done[c.index] = e
            upto = min(progress.values()) + WINDOW
            if upto > granted:
                granted = upto
                pub.send(cmd="credit", upto=upto)
        if len(done) < len(receivers):
            pub.send(cmd="credit", upto=count)  # let the publisher finish; losses are counted
            self.pump(1.0)
        for c in receivers:
            if c.index not in done:
                c.send(cmd="finish", phase=name)
        finals = {**done, **{e_c.index: e for e_c, e in zip(
            [c for c in receivers if c.index not in done],
            self.wait("done", [c for c in receivers if c.index not in done], 30, name),
            strict=True)}}
        sent = self.wait("sent", [pub], 60, name)[0]
        delivered = min(e["n"] for e in finals.values())
        last = max(e["last_ns"] for e in finals.values())
        return delivered / ((last - sent["first_ns"]) / 1e9), delivered

    def first_broadcast(self, name: str) -> None:
        """Node 0 publishes one message, alone, and every node gets it.

        hartnode's Plumtree builds its tree from the first message that
        floods the overlay; when many nodes send their first messages at
        once, crossing duplicates could cut the tree (fixed by not pruning a
        link that just fed a first copy; the table's last rows measure it).
        """
        for c in self.children[1:]:
            c.send(cmd="expect", phase=name, count=1, every=1)
        self.wait("expecting", self.children[1:], 30, name)
        self.children[0].send(cmd="publish", phase=name, count=1, rate=None, credit=None)
        self.wait("done", self.children[1:], 30, name)
        self.wait("sent", self.children[:1], 30, name)

    def latency(self, name: str, count_each: int) -> tuple[list[float], int]:
        """Every node publishes ``count_each`` at RATE/n msg/s; (samples in ms, lost)."""
        n = len(self.children)
        expect = count_each * (n - 1)
        for c in self.children:
            c.send(cmd="expect", phase=name, count=expect, every=10**9)
        self.wait("expecting", self.children, 30, name)
        for c in self.children:
            c.send(cmd="publish", phase=name, count=count_each, rate=RATE / n, credit=None)
        self.wait("sent", self.children, count_each * n / RATE + 60, name)
        deadline = time.monotonic() + 10
        finals: list[dict[str, Any]] = []
        for c in self.children:
            try:
                finals += self.wait("done", [c], max(0.1, deadline - time.monotonic()), name)
            except TimeoutError:
                c.send(cmd="finish", phase=name)
                finals += self.wait("done", [c], 30, name)
        samples = [x for e in finals for x in e["lat_ms"]]
        return samples, expect * n - len(samples)

    def close(self) -> None:
        for c in self.children:
            with contextlib.suppress(OSError):  # it may have gone already
                c.send(cmd="quit")
        for c in self.children:
            try:
                c.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait()
            for f in (c.proc.stdin, c.proc.stdout):
                if f is not None:
                    f.close()
        self.sel.close()


def _connected(ids: list[str], views: list[set[str]]) -> bool:
    """Every node has a neighbour and the neighbour graph reaches every node."""
    seen, todo = {0}, [0]
    while todo:
        i = todo.pop()
        for j, other in enumerate(ids):
            if other in views[i] and j not in seen:
                seen.add(j)
                todo.append(j)
    return all(views) and len(seen) == len(ids)


def pct(data: list[float], q: float) -> float:
    s = sorted(data)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


def libp2p_python() -> str | None:
    """The libp2p venv's interpreter if libp2p imports there, else None."""
    python = LIBP2P_VENV / "bin" / "python"
    if not python.exists():
        return None
    ok = subprocess.run([str(python), "-c", "import libp2p.pubsub.gossipsub"],
                        capture_output=True, timeout=120, check=False)
    return str(python) if ok.returncode == 0 else None


def setup_libp2p() -> int:
    subprocess.run([sys.executable, "-m", "venv", str(LIBP2P_VENV)], check=True)
    pip = [str(LIBP2P_VENV / "bin" / "pip"), "install", "--quiet"]
    return subprocess.run([*pip, f"libp2p=={LIBP2P_VERSION}"], check=False).returncode


def main() -> int:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--setup-libp2p", action="store_true", help="create bench/out/libp2p-venv")
    p.add_argument("--libp2p-child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.libp2p_child is not None:
        import trio

        trio.run(_run_libp2p_child, args.libp2p_child, SIZE)
        return 0
    if args.setup_libp2p:
        return setup_libp2p()

    repeats = args.repeats or (1 if args.quick else 3)
    tput_count = 300 if args.quick else 1500
    lat_each = 20 if args.quick else 60
    table = Table("bench_gossip_processes")
    peer = libp2p_python()
    if peer is None:
        table.note(f"py-libp2p {LIBP2P_VERSION} is not set up here (run with --setup-libp2p): "
                   "hartnode measured alone, no comparison")
    for n in (2, 10):
        print(f"{n} nodes ...", flush=True)
        ours = Cluster("hartnode", n, sys.executable)
        theirs = Cluster("libp2p", n, peer) if peer else None
        thr = Paired()
        thr_alone: list[float] = []
        lat_ours: list[float] = []
        lat_theirs: list[float] = []
        lost = {"hartnode": 0, "libp2p": 0}
        try:
            for cluster in filter(None, (ours, theirs)):
                cluster.first_broadcast("first")
            for r in range(repeats):
                for cluster in filter(None, (ours, theirs)):
                    cluster.latency(f"warm{r}", 3)  # every node publishes: trees and meshes settle
                a, a_got = ours.throughput(f"t{r}", tput_count)
                lost["hartnode"] += tput_count - a_got
                if theirs is not None:
                    b, b_got = theirs.throughput(f"t{r}", tput_count)
                    lost["libp2p"] += tput_count - b_got
                    thr.add(a, b)
                thr_alone.append(a)
                s, missing = ours.latency(f"l{r}", lat_each)
                lat_ours += s
                lost["hartnode"] += missing
                if theirs is not None:
                    s, missing = theirs.latency(f"l{r}", lat_each)
                    lat_theirs += s
                    lost["libp2p"] += missing
                print(f"  repeat {r + 1}: hartnode {fmt(a, 'msg/s')}"
                      + (f", gossipsub {fmt(thr.limits[-1], 'msg/s')}" if theirs else ""),
                      flush=True)
        finally:
            ours.close()
            if theirs is not None:
                theirs.close()
        label = f"{n} nodes"
        if theirs is not None:
            table.add(Row.paired(f"{label}: broadcast throughput", thr, "msg/s",
                                 "py-libp2p gossipsub", goal=f"ratio >= {GOAL_THROUGHPUT:.0%}",
                                 min_ratio=GOAL_THROUGHPUT))
            for q, name in ((0.5, "p50"), (0.99, "p99")):
                ours_q, theirs_q = pct(lat_ours, q), pct(lat_theirs, q)
                goal = "ratio <= 100%" if name == "p99" else ""
                table.add(Row(f"{label}: delivery latency {name}", ours_q, "ms", theirs_q,
                              "py-libp2p gossipsub", ours_q / theirs_q, goal,
                              (ours_q <= theirs_q) if goal else None))
        else:
            table.add(Row(f"{label}: broadcast throughput", median(thr_alone), "msg/s",
                          samples=thr_alone))
            for q, name in ((0.5, "p50"), (0.99, "p99")):
                table.add(Row(f"{label}: delivery latency {name}", pct(lat_ours, q), "ms"))
        table.note(f"{label}: messages not delivered: hartnode {lost['hartnode']}"
                   + (f", gossipsub {lost['libp2p']}" if theirs else ""))
    # The same latency phase on a fresh 10-node overlay whose nodes all send
    # their first messages at once (the case that used to cut Plumtree's tree).
    print("10 nodes, concurrent first broadcasts ...", flush=True)
    fresh = Cluster("hartnode", 10, sys.executable)
    try:
        fresh.latency("warm", 3)
        cut: list[float] = []
        for r in range(repeats):
            cut += fresh.latency(f"l{r}", lat_each)[0]
    finally:
        fresh.close()
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        table.add(Row(f"10 nodes, concurrent first broadcasts: latency {name}",
                      pct(cut, q), "ms"))
    table.note("first broadcast: in every other row node 0 broadcasts one message alone "
               "before the rest; the last two rows start with every node's first message "
               "at once (before the fix, the tree was cut and deliveries waited for "
               "IHAVE + GRAFT, p99 2.5 s)")
    table.note(f"payload {SIZE} B signed (Ed25519); throughput: {tput_count} messages from one "
               f"publisher, window {WINDOW}; latency: {RATE:.0f} msg/s network-wide, "
               f"{lat_each} per node per repeat; {repeats} repeats")
    table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
