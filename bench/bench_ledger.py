"""Ledger throughput: own events appended durably, foreign events ingested verified.

    .venv/bin/python bench/bench_ledger.py [--quick] [--repeats N]

(a) ``Ledger.append`` in group-commit batches of 1, 100 and 1000 events
    (one transaction and one fsync per batch; the ledger runs
    ``synchronous=FULL`` on the real disk under ``bench/out``), beside the raw
    Ed25519 signing rate (``nacl.bindings.crypto_sign`` of a 32-byte message,
    one thread). Goal: batch 1000 reaches >= 50% of the raw signing rate.
    Batch 1 is also set beside the disk's raw write+fdatasync rate, which is
    what bounds it. If bench_verify has cached its 1,000,000-event ledger,
    batch 1000 is also appended into a copy of it: how append scales.
(b) ``Ledger.ingest`` of another node's feed as ``(envelope bytes, sig)``
    pairs, fully verified, in batches of 1000, on one thread and with a
    2-thread executor, beside the raw single-core verification rate
    (``crypto_sign_open`` of the same signatures). Goal: one thread reaches
    >= 60% of the raw single-core verify rate.

Every sample is one batch, timed right after its own measurement of the
limit, so a neighbour's burst of CPU use hits both sides of a pair. The
one-thread figures are also given by CPU time (figure and limit both timed
with ``time.thread_time``): on a busy machine that shows what the code costs.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import nacl.bindings

from bench.common import Paired, Rate, Row, Table, fmt, out_dir, parser, rate
from hartnode.catalog import build_catalog
from hartnode.datadir import DataDir
from hartnode.identity import NodeIdentity
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft, IngestResult
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.ledger.store import StoreError

APPEND_GOAL = 0.50  # of the raw one-thread signing rate
INGEST_GOAL = 0.60  # of the raw one-core verification rate
BIG_LEDGER = 1_000_000  # events in bench_verify's cached ledger
FILLER = "a note of typical length, written by the ledger benchmark"
T = TypeVar("T")


def drafts(n: int, start: int = 0) -> list[Draft]:
    return [Draft(kind="note.created", payload={"text": f"#{i} {FILLER}"})
            for i in range(start, start + n)]


# -- physical limits ------------------------------------------------------


def raw_sign(identity: NodeIdentity, msgs: Sequence[bytes]) -> Rate:
    """libsodium Ed25519 signatures per second on this thread (32-byte messages)."""
    sk = identity.signing_key._signing_key
    sign = nacl.bindings.crypto_sign

    def work() -> None:
        for m in msgs:
            sign(m, sk)

    return rate(work, len(msgs))


def raw_verify(signed: Sequence[tuple[bytes, bytes]]) -> Rate:
    """``crypto_sign_open(sig + hash, pk)`` per second on this thread."""
    open_ = nacl.bindings.crypto_sign_open

    def work() -> None:
        for sm, pk in signed:
            open_(sm, pk)

    return rate(work, len(signed))


def run_split(work: Callable[[Sequence[T]], None], items: Sequence[T], threads: int) -> float:
    """Items per second of ``work`` run on ``threads`` equal slices of ``items`` at once."""
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
    return len(items) / (time.perf_counter() - start)


def raw_sign_threads(identity: NodeIdentity, msgs: Sequence[bytes], threads: int) -> float:
    sk = identity.signing_key._signing_key
    sign = nacl.bindings.crypto_sign

    def work(part: Sequence[bytes]) -> None:
        for m in part:
            sign(m, sk)

    return run_split(work, msgs, threads)


def raw_verify_threads(signed: Sequence[tuple[bytes, bytes]], threads: int) -> float:
    open_ = nacl.bindings.crypto_sign_open

    def work(part: Sequence[tuple[bytes, bytes]]) -> None:
        for sm, pk in part:
            open_(sm, pk)

    return run_split(work, signed, threads)


class FsyncProbe:
    """Durable small writes: 4 KiB append + fdatasync, what one WAL commit costs at least."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "fsync.probe"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.block = os.urandom(4096)

    def rate(self) -> Rate:
        def work() -> None:
            os.write(self.fd, self.block)
            os.fdatasync(self.fd)

        return rate(work, 1)

    def close(self) -> None:
        os.close(self.fd)
        self.path.unlink()


# -- the figures ------------------------------------------------------------


def fresh_ledger(name: str) -> NodeLedger:
    path = out_dir("ledger") / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return NodeLedger(path, NodeIdentity.generate(), build_catalog(), create=True)


def discard(nl: NodeLedger) -> None:
    nl.close()
    shutil.rmtree(nl.data_dir, ignore_errors=True)


Limit = tuple[Paired, Callable[[], Rate], bool]  # (samples, measure the limit, by CPU time?)


def sample(limits: Sequence[Limit], fn: Callable[[], object], n: int) -> None:
    """Measure each limit, then run ``fn`` (``n`` operations): one sample of each pair."""
    measured = [(p, measure(), cpu) for p, measure, cpu in limits]
    got = rate(fn, n)
    for p, lim, cpu in measured:
        if cpu:
            p.add(got.cpu, lim.cpu)
        else:
            p.add(got.wall, lim.wall)


def append_pairs(batch: int, n: int, limits: Sequence[Limit], *, views: bool = False) -> None:
    """Append ``n`` own events in batches of ``batch`` through ``Ledger.append``
    (``NodeLedger.append``, which also projects the views, when ``views``).
    Each batch is one sample of each ``limits`` entry."""
    nl = fresh_ledger(f"append-{batch}")
    append = nl.append if views else nl.ledger.append
    try:
        nl.append(drafts(1))  # the feed's first event: the schema and files exist
        for i in range(0, n, batch):
            b = drafts(batch, i)
            sample(limits, partial(append, b), batch)
    finally:
        discard(nl)


def append_into_big_ledger(repeats: int, n: int, limits: Sequence[Limit]) -> int:
    """Like ``append_pairs`` at batch 1000, into a copy of bench_verify's cached
    1M-event ledger (if it exists): how append scales with the ledger's size.
    Returns the copy's size in events, 0 when there is no cache."""
    src = out_dir() / f"verify-{BIG_LEDGER}"
    if not (src / "bench-complete.json").exists():
        return 0
    dst = out_dir("ledger") / "big"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    try:
        nl = NodeLedger(dst, DataDir(dst).load_identity(), build_catalog())
    except StoreError as e:  # cached by an older schema: rerun bench_verify to rebuild it
        print(f"(skipping the big-ledger rows: {e})", flush=True)
        shutil.rmtree(dst, ignore_errors=True)
        return 0
    try:
        for i in range(2):  # warm the page cache with the pages the first batches touch
            nl.ledger.append(drafts(1000, i * 1000))
        for _ in range(repeats):
            for i in range(0, n, 1000):
                b = drafts(1000, i)
                sample(limits, partial(nl.ledger.append, b), 1000)
    finally:
        nl.close()
        shutil.rmtree(dst, ignore_errors=True)
    return BIG_LEDGER


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


def _ingest_into(nl: NodeLedger, chunk: Sequence[tuple[bytes, bytes]],
                 executor: ThreadPoolExecutor | None, results: list[IngestResult]) -> None:
    results.append(nl.ledger.ingest(chunk, executor=executor))


def ingest_pairs(wall: Paired, cpu: Paired | None, items: Sequence[tuple[bytes, bytes]],
                 signed: Sequence[tuple[bytes, bytes]], batch: int,
                 executor: ThreadPoolExecutor | None) -> None:
    """Ingest ``items`` into a fresh ledger in batches; each batch is paired
    with the raw one-core verification of the same batch's signatures."""
    nl = fresh_ledger("ingest")
    try:
        for i in range(0, len(items), batch):
            chunk = items[i:i + batch]
            limit = raw_verify(signed[i:i + batch])
            results: list[IngestResult] = []
            got = rate(partial(_ingest_into, nl, chunk, executor, results), len(chunk))
            if len(results[0].stored) != len(chunk):
                raise RuntimeError(f"ingest stored {len(results[0].stored)} of {len(chunk)}")
            wall.add(got.wall, limit.wall)
            if cpu is not None:
                cpu.add(got.cpu, limit.cpu)
    finally:
        discard(nl)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    n_big = 4000 if args.quick else 20_000  # events per repeat at batch 100/1000, and ingest
    n_one = 60 if args.quick else 300  # events per repeat at batch 1 (fsync bound)
    table = Table("bench_ledger", argv)
    me = NodeIdentity.generate()
    msgs = [os.urandom(32) for _ in range(2000)]

    def sign_limit(n: int) -> Callable[[], Rate]:
        return lambda: raw_sign(me, msgs[:n])

    print(f"(a) append: {repeats} repeats of {n_big} events (batch 100/1000), "
          f"{n_one} events (batch 1)", flush=True)
    b1000, b1000_cpu, b100, b1, fsync, views, sign2 = (Paired() for _ in range(7))
    probe = FsyncProbe(out_dir("ledger"))
    try:
        for r in range(repeats):
            append_pairs(1000, n_big, [(b1000, sign_limit(1000), False),
                                       (b1000_cpu, sign_limit(1000), True)])
            append_pairs(1000, n_big // 2, [(views, sign_limit(1000), False)], views=True)
            append_pairs(100, n_big, [(b100, sign_limit(500), False)])
            append_pairs(1, n_one, [(b1, sign_limit(100), False), (fsync, probe.rate, False)])
            for _ in range(5):
                lim = raw_sign(me, msgs)
                sign2.add(raw_sign_threads(me, msgs, 2), lim.wall)
            print(f"  repeat {r + 1}: batch 1000 {fmt(b1000.value, 'ev/s')} vs sign "
                  f"{fmt(b1000.limit, '/s')} (medians so far)", flush=True)
    finally:
        probe.close()
    big, big_cpu = Paired(), Paired()
    big_events = append_into_big_ledger(repeats, n_big // 2, [
        (big, sign_limit(1000), False), (big_cpu, sign_limit(1000), True)])
    sign_name = "raw Ed25519 sign, 1 thread"
    table.add(Row.paired("append, batch 1000 (Ledger.append)", b1000, "ev/s", sign_name,
                         goal=f"ratio >= {APPEND_GOAL:.0%}", min_ratio=APPEND_GOAL))
    table.add(Row.paired("append, batch 1000, by CPU time", b1000_cpu, "ev/s",
                         sign_name + ", by CPU time"))
    if big_events:
        table.add(Row.paired(f"append, batch 1000, into a {big_events:,}-event ledger", big,
                             "ev/s", sign_name))
        table.add(Row.paired("  same, by CPU time", big_cpu, "ev/s", sign_name + ", by CPU time"))
    else:
        table.note("no append into a large ledger: run bench/bench_verify.py first (its cached "
                   "1,000,000-event ledger is copied for that row)")
    table.add(Row.paired("append, batch 100", b100, "ev/s", sign_name))
    table.add(Row.paired("append, batch 1", b1, "ev/s", sign_name))
    table.add(Row.paired("append, batch 1 vs the disk", fsync, "ev/s",
                         "raw 4 KiB write+fdatasync"))
    table.add(Row.paired("append + views, batch 1000 (NodeLedger.append)", views, "ev/s",
                         sign_name))
    table.add(Row.paired("raw Ed25519 sign, 2 threads", sign2, "/s", sign_name))

    print(f"(b) ingest: {repeats} repeats of {n_big} foreign events in batches of 1000",
          flush=True)
    events = foreign_feed(n_big)
    items = [e.wire() for e in events]
    pk = bytes.fromhex(events[0].origin)
    signed = [(e.sig + e.hash, pk) for e in events]
    one, one_cpu, two, verify2 = (Paired() for _ in range(4))
    with ThreadPoolExecutor(max_workers=2) as pool:
        for r in range(repeats):
            ingest_pairs(one, one_cpu, items, signed, 1000, None)
            ingest_pairs(two, None, items, signed, 1000, pool)
            for i in range(0, len(signed), 2000):
                lim = raw_verify(signed[i:i + 2000])
                verify2.add(raw_verify_threads(signed[i:i + 2000], 2), lim.wall)
            print(f"  repeat {r + 1}: 1 thread {fmt(one.value, 'ev/s')} vs verify "
                  f"{fmt(one.limit, '/s')}; 2 threads {fmt(two.value, 'ev/s')} (medians so far)",
                  flush=True)
    verify_name = "raw Ed25519 verify, 1 core"
    table.add(Row.paired("ingest, 1 thread, batch 1000 (Ledger.ingest)", one, "ev/s",
                         verify_name, goal=f"ratio >= {INGEST_GOAL:.0%}",
                         min_ratio=INGEST_GOAL))
    table.add(Row.paired("ingest, 1 thread, by CPU time", one_cpu, "ev/s",
                         verify_name + ", by CPU time"))
    table.add(Row.paired("ingest, 2-thread executor, batch 1000", two, "ev/s", verify_name))
    table.add(Row.paired("raw Ed25519 verify, 2 threads", verify2, "/s", verify_name))
    table.note("each sample is one batch (append, ingest) or one 2000-operation run (raw "
               "2 threads), timed right after its own measurement of the limit; value and "
               "limit are the medians of the samples, ratio the median of per-sample ratios")
    table.note("'by CPU time': figure and limit both timed with time.thread_time, which leaves "
               "out time lost to other processes (and the fsync wait)")
    table.note(f"payload: note.created with a {len(drafts(1)[0].payload['text'])}-character "
               f"text; envelope {len(items[0][0])} bytes")
    table.print()
    return 0 if all(r.met is not False for r in table.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
