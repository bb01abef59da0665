"""Ledger throughput: own events appended durably, foreign events ingested verified.

    .venv/bin/python bench/bench_ledger.py [--quick] [--repeats N]

(a) ``Ledger.append`` in group-commit batches of 1, 100 and 1000 events
    (one transaction and one fsync per batch; the ledger runs
    ``synchronous=FULL`` on the real disk under ``bench/out``), beside the raw
    Ed25519 signing rate (``nacl.bindings.crypto_sign`` of a 32-byte message,
    one thread) measured right before each figure. Goal: batch 1000 reaches
    >= 50% of the raw signing rate. Batch 1 is also set beside the disk's raw
    fsync rate, which is what bounds it.
(b) ``Ledger.ingest`` of another node's feed as ``(envelope bytes, sig)``
    pairs, fully verified, in batches of 1000, on one thread and with a
    2-thread executor, beside the raw single-core verification rate
    (``crypto_sign_open`` of the same signatures). Goal: one thread reaches
    >= 60% of the raw single-core verify rate.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import nacl.bindings

from bench.common import Paired, Row, Table, fmt, out_dir, parser, timed
from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger

APPEND_GOAL = 0.50  # of the raw one-thread signing rate
INGEST_GOAL = 0.60  # of the raw one-core verification rate
T = TypeVar("T")
FILLER = "a note of typical length, written by the ledger benchmark"


def drafts(n: int, start: int = 0) -> list[Draft]:
    return [Draft(kind="note.created", payload={"text": f"#{i} {FILLER}"})
            for i in range(start, start + n)]


# -- physical limits ------------------------------------------------------


def raw_sign_rate(identity: NodeIdentity, n: int) -> float:
    """Signatures per second of libsodium on one thread (32-byte messages)."""
    sk = identity.signing_key._signing_key
    msgs = [os.urandom(32) for _ in range(n)]
    sign = nacl.bindings.crypto_sign
    start = time.perf_counter()
    for m in msgs:
        sign(m, sk)
    return n / (time.perf_counter() - start)


def raw_sign_rate_threads(identity: NodeIdentity, n: int, threads: int) -> float:
    sk = identity.signing_key._signing_key
    msgs = [os.urandom(32) for _ in range(n)]
    sign = nacl.bindings.crypto_sign

    def work(part: Sequence[bytes]) -> None:
        for m in part:
            sign(m, sk)

    return n / _run_split(work, msgs, threads)


def raw_verify_rate(signed: Sequence[tuple[bytes, bytes]], threads: int = 1) -> float:
    """Verifications per second of ``crypto_sign_open(sig + hash, pk)``."""
    open_ = nacl.bindings.crypto_sign_open

    def work(part: Sequence[tuple[bytes, bytes]]) -> None:
        for sm, pk in part:
            open_(sm, pk)

    if threads == 1:
        return len(signed) / timed(lambda: work(signed))
    return len(signed) / _run_split(work, signed, threads)


def _run_split(work: Callable[[Sequence[T]], None], items: Sequence[T], threads: int) -> float:
    """Run ``work`` on ``threads`` equal slices of ``items`` at once; wall seconds."""
    size = -(-len(items) // threads)
    barrier = threading.Barrier(threads + 1)

    def run(part: Sequence[T]) -> None:
        barrier.wait()
        work(part)

    pool = [threading.Thread(target=run, args=(items[i:i + size],))
            for i in range(0, len(items), size)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    return time.perf_counter() - start


def raw_fsync_rate(directory: Path, n: int) -> float:
    """Durable small writes per second: 4 KiB append + fdatasync (SQLite's WAL commit)."""
    path = directory / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = os.urandom(4096)
    try:
        start = time.perf_counter()
        for _ in range(n):
            os.write(fd, block)
            os.fdatasync(fd)
        return n / (time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()


# -- the figures ------------------------------------------------------------


def fresh_ledger(name: str) -> NodeLedger:
    path = out_dir("ledger") / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return NodeLedger(path, NodeIdentity.generate(), build_catalog(), create=True)


def discard(nl: NodeLedger) -> None:
    nl.close()
    shutil.rmtree(nl.data_dir, ignore_errors=True)


def append_rate(batch: int, n: int, *, views: bool = False) -> float:
    """Own events per second through ``Ledger.append`` (or ``NodeLedger.append``
    with view projection when ``views``), ``batch`` events per transaction."""
    nl = fresh_ledger(f"append-{batch}")
    try:
        nl.append(drafts(1))  # the feed's first event: the schema and files exist
        batches = [drafts(batch, i) for i in range(0, n, batch)]
        start = time.perf_counter()
        for b in batches:
            if views:
                nl.append(b)
            else:
                nl.ledger.append(b)
        return n / (time.perf_counter() - start)
    finally:
        discard(nl)


def foreign_feed(n: int) -> list[Event]:
    """``n`` events of another node's feed, the way it would send them."""
    nl = fresh_ledger("source")
    try:
        events = []
        for i in range(0, n, 1000):
            events += nl.append(drafts(min(1000, n - i), i), update_views=False)
        return events
    finally:
        discard(nl)


def ingest_rate(items: Sequence[tuple[bytes, bytes]], batch: int,
                executor: ThreadPoolExecutor | None) -> float:
    nl = fresh_ledger("ingest")
    try:
        chunks = [items[i:i + batch] for i in range(0, len(items), batch)]
        stored = 0
        start = time.perf_counter()
        for chunk in chunks:
            stored += len(nl.ledger.ingest(chunk, executor=executor).stored)
        elapsed = time.perf_counter() - start
        if stored != len(items):
            raise RuntimeError(f"ingest stored {stored} of {len(items)} events")
        return len(items) / elapsed
    finally:
        discard(nl)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    n_big = 4000 if args.quick else 20_000  # events per figure at batch 100/1000
    n_one = 60 if args.quick else 300  # events at batch 1 (fsync bound)
    n_raw = 5000 if args.quick else 20_000  # raw crypto operations per limit
    table = Table("bench_ledger", argv)
    me = NodeIdentity.generate()

    print(f"(a) append: {repeats} repeats of {n_big} events (batch 100/1000), "
          f"{n_one} events (batch 1)", flush=True)
    fig = {b: Paired() for b in (1000, 100, 1)}
    fsync = Paired()
    views = Paired()
    sign2 = Paired()
    for r in range(repeats):
        fig[1000].add(append_rate(1000, n_big), raw_sign_rate(me, n_raw))
        views.add(append_rate(1000, n_big // 2, views=True), raw_sign_rate(me, n_raw))
        fig[100].add(append_rate(100, n_big), raw_sign_rate(me, n_raw))
        fig[1].add(append_rate(1, n_one), raw_sign_rate(me, n_raw))
        fsync.add(fig[1].values[-1], raw_fsync_rate(out_dir("ledger"), n_one))
        sign2.add(raw_sign_rate_threads(me, n_raw, 2), raw_sign_rate(me, n_raw))
        print(f"  repeat {r + 1}: batch 1000 {fmt(fig[1000].values[-1], 'ev/s')} "
              f"vs sign {fmt(fig[1000].limits[-1], '/s')}", flush=True)
    sign_name = "raw Ed25519 sign, 1 thread"
    table.add(Row.paired("append, batch 1000 (Ledger.append)", fig[1000], "ev/s", sign_name,
                         goal=f"ratio >= {APPEND_GOAL:.0%}", min_ratio=APPEND_GOAL))
    table.add(Row.paired("append, batch 100", fig[100], "ev/s", sign_name))
    table.add(Row.paired("append, batch 1", fig[1], "ev/s", sign_name))
    table.add(Row.paired("append, batch 1 vs the disk", fsync, "ev/s",
                         "raw 4 KiB write+fdatasync"))
    table.add(Row.paired("append + views, batch 1000 (NodeLedger.append)", views, "ev/s",
                         sign_name))
    table.add(Row.paired("raw Ed25519 sign, 2 threads", sign2, "/s", sign_name))

    n_feed = n_big
    print(f"(b) ingest: {repeats} repeats of {n_feed} foreign events in batches of 1000",
          flush=True)
    events = foreign_feed(n_feed)
    items = [e.wire() for e in events]
    pk = bytes.fromhex(events[0].origin)
    signed = [(e.sig + e.hash, pk) for e in events]
    one, two, raw2 = Paired(), Paired(), Paired()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for r in range(repeats):
            one.add(ingest_rate(items, 1000, None), raw_verify_rate(signed))
            two.add(ingest_rate(items, 1000, pool), raw_verify_rate(signed))
            raw2.add(raw_verify_rate(signed, threads=2), raw_verify_rate(signed))
            print(f"  repeat {r + 1}: 1 thread {fmt(one.values[-1], 'ev/s')} vs verify "
                  f"{fmt(one.limits[-1], '/s')}; 2 threads {fmt(two.values[-1], 'ev/s')}",
                  flush=True)
    verify_name = "raw Ed25519 verify, 1 core"
    table.add(Row.paired("ingest, 1 thread, batch 1000 (Ledger.ingest)", one, "ev/s",
                         verify_name, goal=f"ratio >= {INGEST_GOAL:.0%}",
                         min_ratio=INGEST_GOAL))
    table.add(Row.paired("ingest, 2-thread executor, batch 1000", two, "ev/s", verify_name))
    table.add(Row.paired("raw Ed25519 verify, 2 threads", raw2, "/s", verify_name))
    table.note("value and limit are medians over the repeats; ratio is the median of the "
               "per-repeat value/limit ratios (each limit measured right beside its figure)")
    table.note(f"payload: note.created with a {len(drafts(1)[0].payload['text'])}-character "
               f"text; envelope {len(items[0][0])} bytes")
    table.print()
    return 0 if all(r.met is not False for r in table.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
