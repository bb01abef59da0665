"""A node under abuse beside honest peers: their broadcast latency, its memory and CPU.

    .venv/bin/python bench/bench_abuse.py [--quick] [--json] [--only ATTACK] [--repeats N]

For each attack (``abuse_attacks.ATTACKS``) a fresh cluster of real daemons
(``hartnode run``, own data dirs, one random network key, 127.0.0.1) is
started: the node under test N, an honest peer H seeded with N, and a second
honest node H2 seeded with N and H (a broadcast path around N's link to H).
Each peer re-announces its record every 2 s (``announce_interval``), as in
issue #8's measurements; everything else is the default config. Then,
paired in the one cluster (see ``common``):

1. idle: N's ``VmRSS`` after the overlay settled and a few warm-up broadcasts;
2. quiet: for ``PHASE_S``, H appends a ``note.created`` (network reach)
   through its API every ``SAMPLE_EVERY_S``; a sample is the time from
   H's POST to N's ``GET /api/v1/events`` listing it (polled every 2 ms,
   stepping up to 100 ms for late ones, so a poll costs ~10 % of the wait);
   one not listed within ``SAMPLE_TIMEOUT_S`` is lost;
3. attack: the same while the attacker process runs (it started and said
   ``ready`` first);
4. recovery: ``RECOVER_S`` after the attacker stopped, N's RSS again.

Throughout, N's RSS is sampled every 50 ms (peak per phase), its CPU is
``utime + stime`` from ``/proc/PID/stat`` over each phase (% of one core),
whether H and H2 are in N's active view is read once a second from N's API,
and a prober process dials N once a second as an honest newcomer with a
fresh identity (``ok`` or the refusal's reason). Polling N's API costs N
some CPU in both phases alike.

Goals (issue #8): honest p99 under attack <= 2x the quiet run's, and N's
peak RSS under attack within 50 MB of idle. A node that exits, or refuses
its honest peers, is said so in the table and the figures that remain are
still given. The machine is small and shared: ratios of one cluster's
phases, never absolute figures, are what to compare across runs.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import secrets
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.abuse_attacks import ATTACKS
from bench.bench_daemon import cpu_s, rss_mb
from bench.common import REPO_ROOT, Row, Table, machine, out_dir, parser

PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
HARTNODE = REPO_ROOT / ".venv" / "bin" / "hartnode"
ATTACKER = Path(__file__).resolve().with_name("abuse_attacks.py")
SAMPLE_EVERY_S = 0.33  # one honest broadcast per this many seconds
SAMPLE_TIMEOUT_S = 15.0  # beyond one anti-entropy round (10 s): such a sample is lost
READY_TIMEOUT_S = 30.0
P99_GOAL = 2.0  # honest p99 under attack / quiet p99
RSS_GOAL_MB = 50.0  # N's peak RSS under attack over its idle RSS
BIG_EVENTS, BIG_CHARS = 150, 4000  # N's own feed in the Want flood: ~640 KB per Batch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(data: list[float], q: float) -> float:
    s = sorted(data)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class Daemon:
    name: str
    path: Path
    node_id: str
    api_port: int
    peer_port: int
    proc: subprocess.Popen[bytes] | None = None
    conn: http.client.HTTPConnection | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.peer_port}/hart"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def api(self, method: str, path: str, body: object = None, timeout: float = 10.0) -> Any:
        """One API call on a kept-alive connection; raises OSError/HTTPException on failure."""
        token = (self.path / "api.token").read_text(encoding="ascii").strip()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):  # a kept-alive connection the server closed: once more
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.api_port,
                                                       timeout=timeout)
            self.conn.timeout = timeout
            try:
                self.conn.request(method, path, data, headers)
                resp = self.conn.getresponse()
                payload = resp.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            if resp.status >= 300:
                raise http.client.HTTPException(f"{method} {path}: {resp.status} {payload[:200]!r}")
            return json.loads(payload)
        raise AssertionError("unreachable")


class NodeExited(RuntimeError):
    """N ended before the phases could start."""


class Cluster:
    """N, H and H2 as ``hartnode run`` processes sharing one random network key."""

    def __init__(self, work: Path) -> None:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        self.work = work
        self.key = secrets.token_hex(32)
        self.nodes = [self._init(name) for name in ("n", "h", "h2")]
        self.n, self.h, self.h2 = self.nodes
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(work / "notify.sock"))

    def _init(self, name: str) -> Daemon:
        api, peer = free_port(), free_port()
        out = subprocess.run([str(HARTNODE), "init", "--data-dir", str(self.work / name),
                              "--api", f"127.0.0.1:{api}", "--listen", f"127.0.0.1:{peer}"],
                             check=True, capture_output=True, text=True).stdout
        node_id = out.split("initialised node ", 1)[1].split()[0]
        return Daemon(name, self.work / name, node_id, api, peer)

    def start(self, d: Daemon, seeds: list[Daemon]) -> None:
        env = dict(os.environ, NOTIFY_SOCKET=str(self.work / "notify.sock"),
                   HARTNODE_NETWORK_KEY=self.key, HARTNODE_NETWORK_ANNOUNCE_INTERVAL="2",
                   HARTNODE_NETWORK_SEEDS=",".join(s.url for s in seeds))
        env.pop("WATCHDOG_USEC", None)
        with open(self.work / f"{d.name}.log", "wb") as out:
            d.proc = subprocess.Popen([str(HARTNODE), "run", "--data-dir", str(d.path)], env=env,
                                      stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        # Daemons start one at a time, so the next READY=1 is this one's.
        self.notify.settimeout(READY_TIMEOUT_S)
        while b"READY=1" not in self.notify.recv(4096).split(b"\n"):
            pass

    def view(self) -> set[str]:
        return set(self.n.api("GET", "/api/v1/node")["overlay"]["active_view"])

    def up(self, big_chars: int) -> None:
        """Start N (with its large own notes, if ``big_chars``), then H and H2; until linked."""
        self.start(self.n, [])
        for i in range(BIG_EVENTS if big_chars else 0):
            # Before H joins: H pulls them, in one Batch that must fit a frame.
            self.n.api("POST", "/api/v1/events", {"kind": "note.created", "payload": {
                "text": f"{i:05d}" + "x" * (big_chars - 5)}})
        self.start(self.h, [self.n])
        self.start(self.h2, [self.n, self.h])
        deadline = time.monotonic() + 60
        while not {self.h.node_id, self.h2.node_id} <= self.view():
            if not self.n.alive():
                raise NodeExited(f"N exited ({self.n.proc and self.n.proc.returncode}) "
                                 "while H and H2 joined")
            if time.monotonic() > deadline:
                raise RuntimeError(f"H and H2 not in N's active view: {self.view()}")
            time.sleep(0.2)  # polling a distributed condition, not a readiness wait

    def close(self) -> None:
        for d in self.nodes:
            if d.conn is not None:
                d.conn.close()
            if d.proc is not None and d.proc.poll() is None:
                d.proc.send_signal(signal.SIGTERM)
        for d in self.nodes:
            if d.proc is not None:
                try:
                    d.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    d.proc.kill()
                    d.proc.wait()
        self.notify.close()


class Child:
    """An attacker or the prober: ``abuse_attacks.py`` with its JSON lines read as they come."""

    def __init__(self, kind: str, cluster: Cluster, duration: float, scale: float) -> None:
        self.err = open(cluster.work / f"{kind}.err", "wb")  # noqa: SIM115 - closed by stop
        self.proc = subprocess.Popen(
            [str(PYTHON), str(ATTACKER), kind, "--port", str(cluster.n.peer_port),
             "--network-key", cluster.key, "--target", cluster.n.node_id,
             "--duration", str(duration), "--scale", str(scale)],
            stdout=subprocess.PIPE, stderr=self.err, cwd=REPO_ROOT)
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buf = b""
        self.events: list[dict[str, Any]] = []
        self.cpu_s = 0.0

    def pump(self, timeout: float = 0.0) -> None:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                return
        chunk = self.proc.stdout.read() or b""
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        self.events += [json.loads(line) for line in lines if line.strip()]

    def wait(self, ev: str, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if e["ev"] == ev:
                    return e
            if self.proc.poll() is not None:
                self.pump(0.1)
                return next((e for e in self.events if e["ev"] == ev), None)
            self.pump(min(0.5, deadline - time.monotonic()))
        return None

    def stop(self) -> dict[str, Any]:
        """SIGTERM (it stops at once and prints its counters); its CPU seconds are kept."""
        with contextlib.suppress(OSError):
            self.cpu_s = cpu_s(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        done = self.wait("done", 10) or {}
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.err.close()
        return done


class RssSampler(threading.Thread):
    """N's VmRSS every 50 ms; ``peak`` since the last ``reset``."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self.last = 0.0
        self.stopped = threading.Event()

    def reset(self) -> None:
        self.peak = self.last

    def run(self) -> None:
        while not self.stopped.wait(0.05):
            try:
                self.last = rss_mb(self.pid)
            except (OSError, RuntimeError):
                return  # the process is gone
            self.peak = max(self.peak, self.last)


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    latencies_ms: list[float] = field(default_factory=list)
    lost: int = 0
    h_errors: int = 0
    n_api_errors: int = 0
    cpu_pct: float = float("nan")
    rss_peak_mb: float = float("nan")
    views: list[tuple[bool, bool, int]] = field(default_factory=list)  # H in, H2 in, size
    t0: float = 0.0
    t1: float = 0.0
    exited: int | None = None  # N's exit code, if it exited in this phase

    def view_share(self, i: int) -> float:
        return (sum(v[i] for v in self.views) / len(self.views)) if self.views else float("nan")


def measure(c: Cluster, rss: RssSampler, name: str, seconds: float) -> Phase:
    """Honest broadcasts H -> N for ``seconds``, with N's CPU, RSS and view.

    Open loop: H posts on a fixed schedule whether or not N listed the last
    one (a late sample must not delay the next, or the slow moments would be
    sampled less); after the schedule, the pending ones are awaited.
    """
    ph = Phase(name, t0=time.monotonic())
    pid = c.n.proc.pid if c.n.proc else 0
    cpu0 = cpu_s(pid) if c.n.alive() else 0.0
    rss.reset()
    next_view = next_post = ph.t0
    pending: dict[str, float] = {}  # tag -> when H was asked to append it
    while c.n.alive() and (pending or time.monotonic() - ph.t0 < seconds):
        now = time.monotonic()
        if now >= next_view:
            next_view = now + 1.0
            try:
                view = c.view()
                ph.views.append((c.h.node_id in view, c.h2.node_id in view, len(view)))
            except (OSError, http.client.HTTPException, KeyError):
                ph.n_api_errors += 1
        if now >= next_post and now - ph.t0 < seconds:
            next_post += SAMPLE_EVERY_S
            tag = f"{name}-{secrets.token_hex(6)}"
            try:
                c.h.api("POST", "/api/v1/events",
                        {"kind": "note.created", "payload": {"text": tag}})
                pending[tag] = now
            except (OSError, http.client.HTTPException):
                ph.h_errors += 1
        if pending:
            try:
                listed = c.n.api("GET", f"/api/v1/events?n={min(1000, 8 + 2 * len(pending))}",
                                 timeout=5)
                seen = time.monotonic()
                for e in listed:
                    t = pending.pop(str(e["payload"].get("text")), None)
                    if t is not None:
                        ph.latencies_ms.append((seen - t) * 1000)
            except (OSError, http.client.HTTPException):
                ph.n_api_errors += 1
            for tag, t in list(pending.items()):
                if time.monotonic() - t > SAMPLE_TIMEOUT_S:
                    del pending[tag]
                    ph.lost += 1
        # Poll at a tenth of the oldest wait (2 to 100 ms): no event announces a delivery.
        now = time.monotonic()
        wake = min(next_view, next_post if now - ph.t0 < seconds else math.inf)
        if pending:
            wake = min(wake, now + min(0.1, max(0.002, (now - min(pending.values())) / 10)))
        time.sleep(max(0.0, wake - now))
    ph.lost += len(pending)  # N exited with these outstanding
    ph.t1 = time.monotonic()
    if c.n.alive():
        ph.cpu_pct = 100 * (cpu_s(pid) - cpu0) / (ph.t1 - ph.t0)
        ph.rss_peak_mb = rss.peak
    elif c.n.proc is not None:
        ph.exited = c.n.proc.returncode
        ph.rss_peak_mb = rss.peak
    return ph


def run_attack(attack: str, seconds: float, recover: float, scale: float,
               big_chars: int) -> dict[str, Any]:
    """One fresh cluster: idle, quiet, attack, recovery. Returns the figures."""
    c = Cluster(out_dir("abuse") / attack)
    res: dict[str, Any] = {"name": attack}
    prober: Child | None = None
    try:
        try:
            c.up(big_chars if attack == "want_flood" else 0)
        except (OSError, http.client.HTTPException) as e:
            if c.n.alive():
                raise
            raise NodeExited(f"N exited ({c.n.proc and c.n.proc.poll()}) during setup, "
                             f"before any attack: {e}") from None
        assert c.n.proc is not None
        rss = RssSampler(c.n.proc.pid)
        rss.start()
        measure(c, rss, "warm", 2.0)  # Plumtree's tree forms on the first broadcasts
        time.sleep(2.0)  # idle: nothing but the overlay's own timers
        res["rss_idle_mb"] = statistics.median(rss_mb(c.n.proc.pid) for _ in range(3))
        prober = Child("probe", c, 4 * seconds + 120, 1.0)
        prober.wait("ready", 30)
        log(f"{attack}: quiet {seconds:.0f} s ...")
        quiet = measure(c, rss, "quiet", seconds)
        log(f"{attack}: attack {seconds:.0f} s ...")
        attacker = Child(attack, c, seconds + SAMPLE_TIMEOUT_S + 60, scale)
        if attacker.wait("ready", 60) is None:
            raise RuntimeError(f"{attack}: the attacker never said ready; see {c.work}")
        under = measure(c, rss, "under", seconds)
        with contextlib.suppress(OSError, http.client.HTTPException):
            node = c.n.api("GET", "/api/v1/node", timeout=10)
            res["n_overlay_under_attack"] = node["overlay"]
            res["n_peer_records_under_attack"] = (node.get("stats") or {}).get("peer_records")
        res["attacker_counts"] = attacker.stop().get("counts", {})
        res["attacker_cpu_s"] = attacker.cpu_s
        time.sleep(recover)
        res["rss_after_mb"] = rss_mb(c.n.proc.pid) if c.n.alive() else None
        res["n_exit_code"] = c.n.proc.poll()
        with contextlib.suppress(OSError, http.client.HTTPException):
            res["h_view_after"] = c.h.node_id in c.view() if c.n.alive() else False
        prober.stop()
        dials = [e for e in prober.events if e["ev"] == "dial"]
        for ph in (quiet, under):
            mine = [d for d in dials if ph.t0 <= d["t"] < ph.t1]
            res[ph.name] = {
                "p50_ms": pct(ph.latencies_ms, 0.5), "p99_ms": pct(ph.latencies_ms, 0.99),
                "samples": len(ph.latencies_ms), "lost": ph.lost, "h_api_errors": ph.h_errors,
                "n_api_errors": ph.n_api_errors, "cpu_pct": ph.cpu_pct,
                "rss_peak_mb": ph.rss_peak_mb, "exited": ph.exited,
                "h_in_view": ph.view_share(0), "h2_in_view": ph.view_share(1),
                "dials": len(mine), "dials_ok": sum(d["ok"] for d in mine),
                "dial_refusals": dict(_count(d["reason"] for d in mine if not d["ok"])),
                "latencies_ms": [round(x, 1) for x in ph.latencies_ms]}
        rss.stopped.set()
    finally:
        if prober is not None and prober.proc.poll() is None:
            prober.stop()
        c.close()
    return res


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def verdict(r: dict[str, Any]) -> str:
    """What happened to the node and its honest peers, in words."""
    a, q = r["under"], r["quiet"]
    said = []
    if a["exited"] is not None or r.get("n_exit_code") is not None:
        said.append(f"node exited ({r.get('n_exit_code')})")
    if a["lost"]:
        said.append(f"{a['lost']} of {a['lost'] + a['samples']} honest broadcasts lost")
    if a["dials"] and a["dials_ok"] < a["dials"]:
        said.append(f"honest newcomer refused {a['dials'] - a['dials_ok']}/{a['dials']}")
    if a["h_in_view"] < q["h_in_view"] - 0.2 or a["h2_in_view"] < q["h2_in_view"] - 0.2:
        said.append(f"honest peers evicted (H in view {a['h_in_view']:.0%}, "
                    f"H2 {a['h2_in_view']:.0%})")
    return "; ".join(said) or "node and honest peers held"


def add_rows(table: Table, r: dict[str, Any]) -> None:
    name, q, a = r["name"], r["quiet"], r["under"]
    idle = r["rss_idle_mb"]
    p50, p99 = a["p50_ms"], a["p99_ms"]
    ratio = p99 / q["p99_ms"] if q["p99_ms"] and p99 == p99 else None
    table.add(Row(f"{name}: honest p50", p50, "ms", q["p50_ms"], "quiet, same cluster",
                  p50 / q["p50_ms"] if q["p50_ms"] and p50 == p50 else None,
                  samples=a["latencies_ms"], limit_samples=q["latencies_ms"]))
    table.add(Row(f"{name}: honest p99 ({verdict(r)})", p99, "ms", q["p99_ms"],
                  "quiet, same cluster", ratio, f"ratio <= {P99_GOAL:.0%}",
                  ratio is not None and ratio <= P99_GOAL and not a["lost"]))
    peak = a["rss_peak_mb"] - idle
    table.add(Row(f"{name}: N peak RSS over idle ({idle:.0f} MB)", peak, "MB",
                  q["rss_peak_mb"] - idle, "quiet phase's", None,
                  f"value <= {RSS_GOAL_MB:.0f} MB", peak <= RSS_GOAL_MB))
    after = r["rss_after_mb"]
    table.add(Row(f"{name}: N RSS over idle, after the attack",
                  after - idle if after is not None else float("nan"), "MB"))
    table.add(Row(f"{name}: N CPU", a["cpu_pct"], "% core", q["cpu_pct"], "quiet phase's",
                  a["cpu_pct"] / q["cpu_pct"] if q["cpu_pct"] else None))
    if a["dials"]:
        table.add(Row(f"{name}: honest newcomer dials refused",
                      100 * (a["dials"] - a["dials_ok"]) / a["dials"], "%",
                      100 * (q["dials"] - q["dials_ok"]) / max(q["dials"], 1), "quiet phase's"))
    table.add(Row(f"{name}: H in N's active view", 100 * a["h_in_view"], "%",
                  100 * q["h_in_view"], "quiet phase's"))


def run_one(table: Table, results: list[dict[str, Any]], attack: str, seconds: float,
            recover: float, scale: float, big_chars: int) -> None:
    try:
        r = run_attack(attack, seconds, recover, scale, big_chars)
    except NodeExited as e:
        results.append({"name": attack, "error": str(e)})
        table.add(Row(f"{attack}: honest p99 ({e})", float("nan"), "ms",
                      goal=f"ratio <= {P99_GOAL:.0%}", met=False))
        table.note(f"{attack}: {e}")
        return
    results.append(r)
    add_rows(table, r)
    overlay = r.get("n_overlay_under_attack") or {}
    table.note(f"{attack}: {verdict(r)}; attacker {r['attacker_counts']}, its CPU "
               f"{r['attacker_cpu_s']:.1f} s; N's overlay under attack: " + json.dumps(
                   {k: overlay.get(k) for k in ("links", "peers", "announce_interval_s",
                                                "dropped", "handshake_failures",
                                                "protocol_errors")})
               + f"; N's peer records: {json.dumps(r.get('n_peer_records_under_attack'))}")


def main() -> int:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--only", choices=ATTACKS, action="append",
                   help="run this attack only (repeatable)")
    p.add_argument("--event-chars", type=int, default=BIG_CHARS,
                   help="characters of each of N's own notes in the Want flood")
    args = p.parse_args()
    seconds, recover = (8.0, 3.0) if args.quick else (30.0, 5.0)
    scale = 0.5 if args.quick else 1.0
    table = Table("bench_abuse")
    load_before = os.getloadavg()
    results: list[dict[str, Any]] = []
    out = sys.stderr if args.json else sys.stdout
    for attack in args.only or ATTACKS:
        for _ in range(args.repeats or 1):
            with contextlib.redirect_stdout(out):
                run_one(table, results, attack, seconds, recover, scale, args.event_chars)
    load_after = os.getloadavg()
    table.note(f"phases of {seconds:.0f} s (recovery {recover:.0f} s), one honest broadcast per "
               f"{SAMPLE_EVERY_S} s, attack scale {scale}; load average before "
               + ", ".join(f"{x:.2f}" for x in load_before) + ", after "
               + ", ".join(f"{x:.2f}" for x in load_after))
    table.note(f"want_flood: N holds {BIG_EVENTS} own notes of {args.event_chars} characters")
    if args.json:
        with contextlib.redirect_stdout(sys.stderr):
            table.print()
        print(json.dumps({"name": table.name, "command": table.command,
                          "date": table.started.isoformat(), "machine": machine(),
                          "load_after": load_after, "results": results,
                          "notes": table.notes}, indent=2, default=str))
    else:
        table.print()
    return 0 if all(r.met is not False for r in table.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
