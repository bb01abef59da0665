"""Daemon start to READY, and its idle memory.

    .venv/bin/python bench/bench_daemon.py [--quick] [--repeats N] [--importtime]

Spawns ``hartnode run`` (the console script systemd starts) on an initialised
data directory with ``NOTIFY_SOCKET`` pointing at a datagram socket of ours,
and times spawn -> ``READY=1`` (median of the starts; goal <= 1.0 s). Right
before each start it times the peer, ``python -c "import trio, aiohttp, apsw"``
(the interpreter plus the libraries any such daemon must import), and
``python -c pass``. After READY it waits ``IDLE_S`` and reads ``VmRSS`` from
``/proc/PID/status`` (goal <= 80 MB), beside the same peer's own RSS, then
sends SIGTERM and times the clean exit.

CPU seconds to READY (``utime + stime`` from ``/proc/PID/stat``) are given
too: on a busy machine they show what start-up costs. ``--importtime``
prints the slowest imports of one start (``python -X importtime``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.common import REPO_ROOT, Paired, Row, Table, out_dir, parser

PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
HARTNODE = REPO_ROOT / ".venv" / "bin" / "hartnode"
PEER_IMPORTS = "import trio, aiohttp, apsw"
START_GOAL_S = 1.0
RSS_GOAL_MB = 80.0
IDLE_S = 2.0
READY_TIMEOUT_S = 30.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
MB = 1e6  # VmRSS is in kB (1024 bytes); the goal is in MB = 10^6 bytes


@dataclass
class Start:
    ready_s: float
    ready_cpu_s: float
    rss_ready_mb: float
    rss_idle_mb: float
    stop_s: float


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
    if m is None:
        raise RuntimeError(f"no VmRSS for pid {pid}")
    return int(m.group(1)) * 1024 / MB


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def init_node(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run([str(HARTNODE), "init", "--data-dir", str(path), "--api", "127.0.0.1:0",
                    "--listen", "127.0.0.1:0"], check=True, stdout=subprocess.DEVNULL)


def start_once(data_dir: Path, work: Path, argv_prefix: Sequence[str] = ()) -> Start:
    """One spawn -> READY -> idle -> SIGTERM cycle of ``hartnode run``."""
    sock_path = work / "notify.sock"
    sock_path.unlink(missing_ok=True)
    log = (work / "daemon.log").open("wb")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock.settimeout(READY_TIMEOUT_S)
        env = dict(os.environ, NOTIFY_SOCKET=str(sock_path))
        env.pop("WATCHDOG_USEC", None)
        start = time.perf_counter()
        proc = subprocess.Popen([*argv_prefix, str(HARTNODE), "run", "--data-dir", str(data_dir)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
        try:
            while True:
                try:
                    data = sock.recv(4096)
                except TimeoutError:
                    raise RuntimeError(f"no READY=1 within {READY_TIMEOUT_S} s") from None
                if b"READY=1" in data.split(b"\n"):
                    break
            ready_s = time.perf_counter() - start
            ready_cpu = cpu_s(proc.pid)
            rss_ready = rss_mb(proc.pid)
            time.sleep(IDLE_S)  # idle: nothing talks to it
            rss_idle = rss_mb(proc.pid)
            t = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
            stop_s = time.perf_counter() - t
            if code != 0:
                raise RuntimeError(f"hartnode run exited {code} after SIGTERM")
        except BaseException:
            proc.kill()
            proc.wait()
            log.close()
            print((work / "daemon.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
    log.close()
    return Start(ready_s, ready_cpu, rss_ready, rss_idle, stop_s)


def peer_once(code: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and RSS (MB, read by the child itself) of ``python -c code``."""
    probe = (f"{code}\nimport re\n"
             "print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")
    start = time.perf_counter()
    proc = subprocess.Popen([str(PYTHON), "-c", probe], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"python -c {code!r} failed")
    return wall, usage.ru_utime + usage.ru_stime, int(out) * 1024 / MB


def slowest_imports(data_dir: Path, work: Path, top: int = 15) -> list[str]:
    """The ``top`` imports by cumulative time in one start (``-X importtime``)."""
    start_once(data_dir, work, [str(PYTHON), "-X", "importtime"])
    rows = []
    for line in (work / "daemon.log").read_text(errors="replace").splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
    rows.sort(reverse=True)
    return [f"{us / 1000:7.1f} ms  {'  ' * depth}{name}" for us, depth, name in rows[:top]]


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--importtime", action="store_true", help="list the slowest imports")
    args = p.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 10)
    table = Table("bench_daemon", argv)
    work = out_dir("daemon")
    data_dir = work / "node"
    init_node(data_dir)
    start_once(data_dir, work)  # warm the page cache: every start after this is a restart

    ready, ready_cpu, vs_pass, rss, rss_ready = (Paired() for _ in range(5))
    stops: list[float] = []
    for r in range(repeats):
        peer_wall, peer_cpu, peer_rss = peer_once(PEER_IMPORTS)
        pass_wall, _, _ = peer_once("pass")
        s = start_once(data_dir, work)
        ready.add(s.ready_s, peer_wall)
        ready_cpu.add(s.ready_cpu_s, peer_cpu)
        vs_pass.add(s.ready_s, pass_wall)
        rss.add(s.rss_idle_mb, peer_rss)
        rss_ready.add(s.rss_ready_mb, peer_rss)
        stops.append(s.stop_s)
        print(f"  start {r + 1}: READY in {s.ready_s:.3f} s (CPU {s.ready_cpu_s:.2f} s; peer "
              f"{peer_wall:.3f} s), idle RSS {s.rss_idle_mb:.1f} MB, SIGTERM exit "
              f"{s.stop_s:.2f} s", flush=True)

    peer_name = f'python -c "{PEER_IMPORTS}"'
    start_row = Row.paired("hartnode run: spawn -> READY=1", ready, "s", peer_name,
                           goal=f"value <= {START_GOAL_S} s")
    start_row.met = start_row.value <= START_GOAL_S
    table.add(start_row)
    table.add(Row.paired("  same, CPU seconds to READY", ready_cpu, "s", peer_name + ", CPU"))
    table.add(Row.paired("  same, against the bare interpreter", vs_pass, "s", 'python -c "pass"'))
    rss_row = Row.paired(f"idle RSS, {IDLE_S:.0f} s after READY", rss, "MB",
                         f"RSS of {peer_name}", goal=f"value <= {RSS_GOAL_MB:.0f} MB")
    rss_row.met = rss_row.value <= RSS_GOAL_MB
    table.add(rss_row)
    table.add(Row.paired("RSS at READY", rss_ready, "MB", f"RSS of {peer_name}"))
    table.add(Row("SIGTERM -> clean exit", sorted(stops)[len(stops) // 2], "s"))
    table.note("a fresh data directory, initialised once; the first start (not counted) warms "
               "the page cache, so every counted start is a restart; MB = 10^6 bytes")
    if args.importtime:
        table.note("slowest imports of one start (cumulative, python -X importtime):")
        for line in slowest_imports(data_dir, work):
            table.note("`" + line + "`")
    table.print()
    return 0 if start_row.met and rss_row.met else 1


if __name__ == "__main__":
    sys.exit(main())
