"""Escrow throughput on one node, beside the raw Ed25519 signing rate.

    .venv/bin/python bench/bench_escrow.py [--quick] [--repeats N]

(a) A borrower settles escrows one at a time as the daemon does: ``open_escrow``
    (balance checked inside the ledger write, one signed event, one fsync)
    then ``release`` (checked, signed, fsync), views projected after each.
    Two signatures per escrow, so the ceiling is half the raw signing rate
    (``crypto_sign`` of a 32-byte message, one thread, measured beside it);
    what bounds it in practice is two fsyncs per escrow.
(b) An observer ingests another borrower's feed of opened + released escrows
    (verified, stored, projected into compute_escrow / resonance_wallets /
    resonance_transactions) in batches of 1000 events: escrows settled per
    second in the views, beside the raw verify rate halved.
(c) The pure ``escrow.Book``: facts per second, no I/O.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import nacl.bindings

from bench.common import Paired, Row, Table, out_dir, parser
from hartnode.attestation.certificate import issue_certificate
from hartnode.catalog import build_catalog
from hartnode.compute import escrow, wallet
from hartnode.compute.wallet import OpenRequest
from hartnode.identity import NodeIdentity
from hartnode.ledger.node_ledger import NodeLedger

MASTER = NodeIdentity.from_seed(b"\x01" * 32)
CENTRAL = NodeIdentity.from_seed(b"\x02" * 32)
LENDER = NodeIdentity.from_seed(b"\x05" * 32).node_id


def _chain() -> list[list[str]]:
    cert = issue_certificate(MASTER, serial=CENTRAL.node_id[:32], subject=CENTRAL.node_id,
                             tier="central", region="*", not_before=0, not_after=2**52,
                             path_len=2, capabilities=[])
    return [[cert.cert_bytes.hex(), cert.signature.hex()]]


def _sign_rate(n: int) -> float:
    sk = NodeIdentity.from_seed(b"\x07" * 32).seed + NodeIdentity.from_seed(
        b"\x07" * 32).public_key
    msg = b"\x00" * 32
    start = time.perf_counter()
    for _ in range(n):
        nacl.bindings.crypto_sign(msg, sk)
    return n / (time.perf_counter() - start)


def _verify_rate(n: int) -> float:
    ident = NodeIdentity.from_seed(b"\x07" * 32)
    signed = nacl.bindings.crypto_sign(b"\x00" * 32, ident.seed + ident.public_key)
    start = time.perf_counter()
    for _ in range(n):
        nacl.bindings.crypto_sign_open(signed, ident.public_key)
    return n / (time.perf_counter() - start)


def _node(path: Path, ident: NodeIdentity) -> tuple[NodeLedger, object]:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    catalog = build_catalog(MASTER.public_key)
    return NodeLedger(path, ident, catalog, create=True), catalog


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    n = 100 if args.quick else 400
    table = Table("bench_escrow")
    base = out_dir("escrow")
    a, b, c = Paired(), Paired(), Paired()
    for r in range(repeats):
        borrower_id = NodeIdentity.from_seed(bytes([0x40 + r]) * 32)
        central, _ = _node(base / "central", CENTRAL)
        borrower, catalog = _node(base / "borrower", borrower_id)
        wallet.grant(central, borrower_id.node_id, 10**12, _chain())
        borrower.ingest([e.wire() for e in central.ledger.tail(5)])
        req = OpenRequest(lender=LENDER, amount_msp=1_000, deadline_ms=2**52,
                          central=CENTRAL.node_id)
        limit = _sign_rate(2000) / 2
        start = time.perf_counter()
        for i in range(n):
            eid = wallet.open_escrow(borrower, catalog, OpenRequest(  # type: ignore[arg-type]
                **{**req.__dict__, "job_id": f"{i:032x}"}))
            wallet.release(borrower, catalog, eid, now_ms=0)  # type: ignore[arg-type]
        a.add(n / (time.perf_counter() - start), limit)
        feed = [e.wire() for e in borrower.ledger.feed(borrower_id.node_id, 1, 10 * n)]
        grants = [e.wire() for e in central.ledger.tail(5)]
        observer, _ = _node(base / "observer", NodeIdentity.from_seed(b"\x60" * 32))
        observer.ingest(grants)
        limit = _verify_rate(2000) / 2
        start = time.perf_counter()
        for i in range(0, len(feed), 1000):
            observer.ingest(feed[i:i + 1000])
        b.add(n / (time.perf_counter() - start), limit)
        book = escrow.Book(lambda g: True)
        facts: list[escrow.Fact] = [escrow.Grant("g", "c", "w", 10**12)]
        for i in range(5 * n):
            facts.append(escrow.Open(f"e{i}", "w", i + 1, "l", 1000, 2**52, "r", "c"))
            facts.append(escrow.Action(f"a{i}", f"e{i}", "w", i + 1, 0, "release"))
        start = time.perf_counter()
        book.add_all(facts)
        c.add(len(facts) / (time.perf_counter() - start), 1.0)
        for nl in (central, borrower, observer):
            nl.close()
    table.add(Row.paired("(a) escrows opened + released on the borrower, one at a time", a,
                         "escrow/s", "raw signing / 2"))
    table.add(Row.paired("(b) escrows settled in an observer's views (ingest, batch 1000)", b,
                         "escrow/s", "raw verify / 2"))
    table.add(Row("(c) escrow.Book facts applied, in memory", c.value, "fact/s"))
    table.print()


if __name__ == "__main__":
    main()
