"""``hartnode kb verify`` over a large ledger, beside the physical floor.

    .venv/bin/python bench/bench_verify.py [--quick] [--events N] [--repeats R] [--rebuild]

Builds (once, cached under ``bench/out/verify-<N>``) a data directory whose
ledger holds N events from 8 origins (the node's own feed and 7 others, each
a valid hash chain, appended in batches of 5000) with the views caught up,
then times the real command, ``hartnode kb verify --data-dir DIR``, as a
subprocess. Goal: <= 60 s for 1,000,000 events on this 2-core machine.

The floor is what the signatures alone cost: N / (raw Ed25519 verification
rate), on 1 core and on 2 threads, the rate measured on 50,000 signatures
of the ledger itself right before and right after each verify (the mean of
the two). The child's CPU
seconds (user + system, from wait4) are reported too: on a busy machine
they show what verify costs, where the wall clock also shows the neighbours.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.bench_ledger import drafts, raw_verify, raw_verify_threads
from bench.common import REPO_ROOT, Paired, Row, Table, fmt, median, out_dir, parser
from hartnode import config as config_mod
from hartnode.catalog import build_catalog
from hartnode.datadir import DataDir
from hartnode.identity import NodeIdentity
from hartnode.ledger import store
from hartnode.ledger.log import Ledger
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.ledger.schema import SCHEMA_VERSION

GOAL_S_PER_MILLION = 60.0
ORIGINS = 8
BUILD_BATCH = 5000
HARTNODE = REPO_ROOT / ".venv" / "bin" / "hartnode"


def build(path: Path, n: int) -> dict[str, object]:
    """A data directory with ``n`` events from ``ORIGINS`` origins, views caught up."""
    shutil.rmtree(path, ignore_errors=True)
    dd = DataDir(path)
    me = dd.init(config_mod.Config())
    catalog = build_catalog()
    rates: list[float] = []
    started = time.perf_counter()
    with NodeLedger(path, me, catalog, create=True) as nl:
        # Other origins' feeds are written with their own keys on the same
        # connection: the rows are exactly what ingest would have stored.
        ledgers = [nl.ledger] + [Ledger(nl.ledger.conn, NodeIdentity.generate(), catalog.kinds)
                                 for _ in range(ORIGINS - 1)]
        done = 0
        while done < n:
            ledger = ledgers[(done // BUILD_BATCH) % ORIGINS]
            batch = drafts(min(BUILD_BATCH, n - done), done)
            t = time.perf_counter()
            ledger.append(batch)
            rates.append(len(batch) / (time.perf_counter() - t))
            done += len(batch)
            if done % 100_000 == 0 or done == n:
                print(f"  built {done:,} events ({fmt(rates[-1], 'ev/s')} now)", flush=True)
        appended_s = time.perf_counter() - started
        t = time.perf_counter()
        nl.views.catch_up()
        views_s = time.perf_counter() - t
        nl.ledger.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    tenth = max(1, len(rates) // 10)
    info: dict[str, object] = {
        "events": n, "origins": ORIGINS, "schema_version": SCHEMA_VERSION,
        "append_seconds": round(appended_s, 1), "views_seconds": round(views_s, 1),
        "append_rate_first_tenth": round(median(rates[:tenth])),
        "append_rate_last_tenth": round(median(rates[-tenth:])),
        "ledger_bytes": (path / store.LEDGER_FILE).stat().st_size,
    }
    (path / "bench-complete.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def cached(path: Path, n: int, rebuild: bool) -> dict[str, object]:
    marker = path / "bench-complete.json"
    if not rebuild and marker.exists():
        info: dict[str, object] = json.loads(marker.read_text())
        if info.get("events") == n and info.get("schema_version") == SCHEMA_VERSION:
            print(f"reusing the {n:,}-event ledger in {path}", flush=True)
            return info
    print(f"building a {n:,}-event ledger in {path} (cached for later runs)", flush=True)
    return build(path, n)


def sample_signatures(path: Path, n: int) -> list[tuple[bytes, bytes]]:
    """``(sig + hash, public key)`` of ``n`` events of the ledger, for the floor."""
    conn = store.open_database(path, store.LEDGER, readonly=True)
    try:
        rows = store.query(
            conn, "SELECT sig, hash_blake3, origin FROM events ORDER BY id LIMIT ?", (n,))
    finally:
        conn.close()
    return [(bytes(sig) + bytes(digest), bytes.fromhex(str(origin)))
            for sig, digest, origin in rows]


def run_verify(path: Path) -> tuple[float, float, dict[str, object]]:
    """Wall seconds, child CPU seconds and the JSON report of one ``kb verify``."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(HARTNODE), "kb", "verify", "--json", "--data-dir", str(path)],
                            stdout=subprocess.PIPE, cwd=REPO_ROOT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    report: dict[str, object] = json.loads(out)
    if proc.returncode != 0 or not report.get("ok"):
        raise RuntimeError(f"kb verify failed (exit {proc.returncode}): {report}")
    return wall, usage.ru_utime + usage.ru_stime, report


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=None, help="ledger size (default 1,000,000)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached ledger")
    args = p.parse_args(argv)
    n = args.events or (50_000 if args.quick else 1_000_000)
    repeats = args.repeats or 3
    table = Table("bench_verify", argv)
    path = out_dir() / f"verify-{n}"
    info = cached(path, n, args.rebuild)
    signed = sample_signatures(path, min(n, 50_000))

    goal_s = GOAL_S_PER_MILLION * n / 1_000_000
    floor1, floor2, cpu = Paired(), Paired(), Paired()
    walls: list[float] = []

    def floor_rates() -> tuple[float, float, float]:
        one = raw_verify(signed)
        return one.wall, raw_verify_threads(signed, 2), one.cpu

    for r in range(repeats):
        before = floor_rates()
        wall, cpu_s, report = run_verify(path)
        after = floor_rates()
        if report.get("events") != n:
            raise RuntimeError(f"kb verify checked {report.get('events')} events, expected {n}")
        rate1, rate2, rate_cpu = ((a + b) / 2 for a, b in zip(before, after, strict=True))
        walls.append(wall)
        floor1.add(wall, n / rate1)
        floor2.add(wall, n / rate2)
        cpu.add(cpu_s, n / rate_cpu)
        print(f"  repeat {r + 1}: kb verify {wall:.1f} s (CPU {cpu_s:.1f} s); floor "
              f"{n / rate1:.1f} s on 1 core, {n / rate2:.1f} s on 2 threads", flush=True)
    met = median(walls) <= goal_s
    row = Row.paired(f"kb verify, {n:,} events (wall)", floor2, "s", "raw verify x N, 2 threads",
                     goal=f"value <= {goal_s:.0f} s")
    row.met = met
    table.add(row)
    table.add(Row.paired("  same, against 1 core", floor1, "s", "raw verify x N, 1 core"))
    table.add(Row.paired("kb verify, CPU seconds (user+sys)", cpu, "s",
                         "raw verify x N, CPU time"))
    table.note(f"ledger: {n:,} events from {info['origins']} origins, "
               f"{int(str(info['ledger_bytes'])) / 2**20:.0f} MiB, views caught up; page cache "
               "warm after the first repeat")
    table.note(f"while building it, Ledger.append (batch {BUILD_BATCH}) ran at "
               f"{info['append_rate_first_tenth']} ev/s over the first tenth and "
               f"{info['append_rate_last_tenth']} ev/s over the last")
    table.note("ratio > 100% here means slower than the floor (value and limit are seconds)")
    table.print()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
