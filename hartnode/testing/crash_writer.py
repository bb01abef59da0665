"""A writer to kill: appends events forever and says which ones are durable.

    python -m hartnode.testing.crash_writer DATA_DIR [--seed N] [--max-batch N] [--count N]

It stands in for the daemon's group committer in ``tests/test_crash_safety.py``:
it takes the data directory's daemon lock, then appends ``note.created``
events through ``NodeLedger.append`` in batches of random sizes (one
transaction, one fsync per batch, then the views catch up). After ``append``
returns, and only then, it prints one line per event of the batch, the
event's hash in hex, and flushes stdout. A line on stdout is therefore a
promise: that event is on disk. The test SIGKILLs the writer at random
moments and checks every promise against the ledger (DESIGN §1: "a crash
never leaves [the views] wrong, only behind").

A batch's lines go out in one ``write`` of less than ``PIPE_BUF`` bytes when
``--max-batch`` is at most 60, so a kill cannot split a line in a pipe; a
reader should still drop an unterminated last line.

Exit codes: 0 after ``--count`` events, 3 when the data directory cannot be
used (locked by a daemon, missing, corrupt).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from hartnode.catalog import build_catalog
from hartnode.datadir import DataDir, DataDirError
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.ledger.store import StoreError

EXIT_OK, EXIT_STARTUP = 0, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hartnode.testing.crash_writer",
        description="Append events in random group-commit batches; print each hash once durable.",
    )
    p.add_argument("data_dir", type=Path, help="an initialised hartnode data directory")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the batch sizes and texts (default: random)")
    p.add_argument("--max-batch", type=int, default=40,
                   help="largest batch, in events (default 40; keep <= 60, see the module doc)")
    p.add_argument("--count", type=int, default=None,
                   help="stop after about this many events (default: never)")
    return p


def drafts(rng: random.Random, first: int, size: int) -> list[Draft]:
    """``size`` note drafts numbered from ``first``, with texts of random length."""
    return [
        Draft(kind="note.created",
              payload={"text": f"crash-writer #{n} " + "x" * rng.randrange(0, 400)})
        for n in range(first, first + size)
    ]


def write(node_ledger: NodeLedger, rng: random.Random, max_batch: int, count: int | None) -> int:
    """Append batches until ``count`` events (or forever); returns how many."""
    written = 0
    out = sys.stdout
    while count is None or written < count:
        size = rng.randint(1, max_batch)
        events = node_ledger.append(drafts(rng, written, size))
        # Printed only now: append returned, so the batch is committed (FULL sync).
        out.write("".join(f"{event.hash_hex}\n" for event in events))
        out.flush()
        written += len(events)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 1 <= args.max_batch <= 1000:
        print("crash_writer: --max-batch must be 1 to 1000", file=sys.stderr)
        return EXIT_STARTUP
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(8), "big")
    data_dir = DataDir(args.data_dir)
    try:
        lock = data_dir.lock()  # the writer owns the feed, as the daemon would
    except (DataDirError, OSError) as e:
        print(f"crash_writer: {e}", file=sys.stderr)
        return EXIT_STARTUP
    try:
        node_ledger = NodeLedger(data_dir.path, data_dir.load_identity(), build_catalog())
    except (DataDirError, StoreError) as e:
        lock.release()
        print(f"crash_writer: {e}", file=sys.stderr)
        return EXIT_STARTUP
    try:
        write(node_ledger, random.Random(seed), args.max_batch, args.count)
    finally:
        node_ledger.close()
        lock.release()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
