"""A borrower to kill: walks three escrows through their lives, one durable step at a time.

    python -m hartnode.testing.escrow_stepper DATA_DIR --grant FILE --lender ID --central ID
        [--kill-after-commit N]

Steps (each one signed event, one transaction, one fsync): 1 ingest the
central's grant (``--grant``: its ``envelope hex``/``sig hex`` lines), 2 open
escrow a, 3 release a, 4 open escrow b, 5 refund b (past its deadline), 6
open escrow c, 7 dispute c. What to do next is read from the views, never
remembered, so a restarted stepper resumes where the killed one stopped;
each step is checked in the same write as it is signed (``compute.wallet``),
so one already taken is refused, never taken twice.

After each step it prints ``step N`` and flushes: a line is a promise that
the step is on disk. ``--kill-after-commit N`` SIGKILLs the process inside
step N, after the ledger commit and before the views caught up (the worst
moment: the ledger knows what the views do not). ``tests/compute/
test_escrow_kill.py`` kills it between and inside every two steps.

Exit codes: 0 when all steps are done, 3 when the data directory cannot be used.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hartnode.catalog import build_catalog
from hartnode.compute import escrow, wallet
from hartnode.compute.wallet import EscrowError, OpenRequest
from hartnode.datadir import DataDir, DataDirError
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.ledger.store import StoreError

EXIT_OK, EXIT_STARTUP = 0, 3
DEADLINE_B = 1_000  # escrow b's deadline: long past, so its refund is due
DEADLINE = 2**52


def _jobs(nl: NodeLedger) -> dict[str, tuple[str, str]]:
    """job tag (a, b, c) -> (escrow id, status) from the views."""
    rows = nl.views.state.execute("SELECT job_id, escrow_id, status FROM compute_escrow")
    return {job[-1]: (eid, status) for job, eid, status in rows}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hartnode.testing.escrow_stepper")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--grant", type=Path, required=True)
    p.add_argument("--lender", required=True)
    p.add_argument("--central", required=True)
    p.add_argument("--master", required=True, help="the master public key, hex")
    p.add_argument("--kill-after-commit", type=int, default=0)
    args = p.parse_args(argv)
    try:
        data_dir = DataDir(args.data_dir)
        catalog = build_catalog(bytes.fromhex(args.master))
        nl = NodeLedger(data_dir.path, data_dir.load_identity(), catalog)
    except (DataDirError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_STARTUP
    step = 0
    real_catch_up = nl.views.catch_up

    def catch_up(*, max_batches: int | None = None,
                 progress: Callable[[int], None] | None = None) -> int:
        # Called right after each step's commit (and by each guard, before it).
        if args.kill_after_commit == step and nl.ledger.max_id() > marks.get(step, -1):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_catch_up(max_batches=max_batches, progress=progress)

    marks: dict[int, int] = {}
    nl.views.catch_up = catch_up  # type: ignore[method-assign]

    def done(n: int) -> None:
        sys.stdout.write(f"step {n}\n")
        sys.stdout.flush()

    def req(tag: str, deadline: int) -> OpenRequest:
        return OpenRequest(lender=args.lender, amount_msp=1_000, deadline_ms=deadline,
                           central=args.central, job_id="0" * 31 + tag)

    def take(n: int, fn: object) -> None:
        nonlocal step
        step = n
        marks[n] = nl.ledger.max_id()
        try:
            fn()  # type: ignore[operator]
        except EscrowError as e:
            if e.reason != "already_settled":
                raise
        done(n)

    with nl:
        step = 1
        marks[1] = nl.ledger.max_id()
        pairs = [tuple(bytes.fromhex(x) for x in line.split()) for line in
                 args.grant.read_text().splitlines() if line.strip()]
        nl.ingest(pairs)  # type: ignore[arg-type]
        catch_up()
        done(1)
        for tag, open_n, deadline, finish_n, verb in (
                ("a", 2, DEADLINE, 3, "release"), ("b", 4, DEADLINE_B, 5, "refund"),
                ("c", 6, DEADLINE, 7, "dispute")):
            jobs = _jobs(nl)
            if tag not in jobs:
                take(open_n, lambda t=tag, d=deadline: wallet.open_escrow(nl, catalog, req(t, d)))
            else:
                done(open_n)
            eid, status = _jobs(nl)[tag]
            if status in escrow.TERMINAL or status == escrow.STATUS_DISPUTED:
                done(finish_n)
                continue
            if verb == "release":
                take(finish_n, lambda e=eid: wallet.release(nl, catalog, e, now_ms=0))
            elif verb == "refund":
                take(finish_n, lambda e=eid: wallet.refund(nl, catalog, e, now_ms=DEADLINE_B,
                                                           ts_ms=DEADLINE_B))
            else:
                take(finish_n, lambda e=eid: wallet.dispute(nl, catalog, e, "mismatch",
                                                            now_ms=0))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
