"""Ledger replication: catch-up rate, bytes on the wire, and the cost of a quiet reconnect.

Issue #4's goals:
- a node missing 100,000 events catches up from one peer at >= 10,000 verified
  events/s, with bytes on the wire <= 1.2 x the events' own size;
- reconnecting with nothing new costs <= 2 KB on the wire for 1,000 known origins.

The two ends run the real ``Replicator`` cores and real ledgers (SQLite files,
full verification on ingest) in one process; every message is wire-encoded
and decoded, and bytes are counted as the link would carry them: the msgpack
frame plus the sealed frame's 16-byte tag plus the WebSocket frame header.
Sockets are left out on purpose (bench_connect and the process tests measure
them): this isolates what replication itself costs. The physical limit beside
the rate is the raw Ed25519 verification rate on one core, measured in the
same repeat.

    .venv/bin/python bench/bench_replication.py [--quick] [--events N]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nacl.bindings

from bench.common import Paired, Row, Table, out_dir, parser
from hartnode.catalog import build_catalog
from hartnode.gossip import wire
from hartnode.identity import NodeIdentity
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft, Head
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.ledger.store import StoreError
from hartnode.protocol import Send
from hartnode.replication.core import (
    Batch,
    ConfirmFeed,
    FeedEvent,
    Ingest,
    ReplicationEffect,
    Replicator,
    Serve,
    heads_digest,
    seq_of,
    withheld_to_wire,
)

TAG = 16  # XChaCha20-Poly1305 tag of every sealed frame
T = TypeVar("T")


def link_bytes(payload: int) -> int:
    """Bytes one wire frame takes on a link: sealed payload plus WebSocket header."""
    sealed = payload + TAG
    return sealed + (2 if sealed < 126 else 4 if sealed < 65536 else 10)


def source_ledger(n: int) -> tuple[Path, NodeIdentity]:
    """A ledger of ``n`` own events, built once and cached under bench/out."""
    path = out_dir(f"replication-source-{n}")
    key = path / "seed"
    if key.exists() and (path / "ledger.sqlite").exists():
        try:
            NodeLedger(path, NodeIdentity.from_seed(key.read_bytes()), build_catalog()).close()
            return path, NodeIdentity.from_seed(key.read_bytes())
        except StoreError:  # built by an older schema: build it again
            shutil.rmtree(path)
            path = out_dir(f"replication-source-{n}")
    identity = NodeIdentity.generate()
    with NodeLedger(path, identity, build_catalog(), create=True) as nl:
        for i in range(0, n, 1000):
            nl.append([Draft("note.created", {"text": f"event {j} of the replication bench"})
                       for j in range(i, min(n, i + 1000))], update_views=False)
    key.write_bytes(identity.seed)
    return path, identity


def raw_verify_rate(samples: int = 4000) -> float:
    sk = NodeIdentity.generate()
    msg = os.urandom(32)
    signed = sk.sign(msg) + msg
    pk = sk.public_key
    start = time.perf_counter()
    for _ in range(samples):
        nacl.bindings.crypto_sign_open(signed, pk)
    return samples / (time.perf_counter() - start)


class Clock:
    """Seconds spent on one side of the link (the two ends share this process)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds += time.perf_counter() - start


def catch_up(source: NodeLedger, target: NodeLedger) -> tuple[float, float, int, int]:
    """Replicate ``source`` into the empty ``target``.

    Returns (seconds in all, seconds of the catching-up side's work, link bytes,
    the events' own bytes). The catching-up side's work is everything the
    target does: decoding what it receives, its core, and verified ingest.
    """
    src_core, dst_core = Replicator(), Replicator()
    dst = Clock()
    wire_bytes = 0
    event_bytes = 0
    start = time.perf_counter()
    # As the daemon: each core loads its ledger's heads on link-up and keeps
    # them (ingest results move them), no copy of the heads map per message.
    src_core.load(source.ledger.head_map())
    dst.run(dst_core.load, target.ledger.head_map())
    queue: list[tuple[str, ReplicationEffect]] = [
        ("src", e) for e in src_core.on_link_up("dst")]
    dst_core.on_link_up("src")
    while queue:
        side, effect = queue.pop(0)
        if isinstance(effect, Send):
            frame = wire.encode(effect.msg)
            wire_bytes += link_bytes(len(frame))
            if side == "src":
                msg = dst.run(wire.decode, frame)
                queue += [("dst", e) for e in dst.run(dst_core.on_message, "src", msg)]
            else:
                msg = wire.decode(frame)
                queue += [("src", e) for e in src_core.on_message("dst", msg)]
        elif isinstance(effect, Serve):
            items = source.ledger.serve(effect.origin, effect.from_seq, effect.limit,
                                        frozenset({"network"}))
            events = tuple(FeedEvent(*i.wire()) for i in items if isinstance(i, Event))
            event_bytes += sum(len(e.envelope) + len(e.sig) for e in events)
            markers = tuple(withheld_to_wire(i) for i in items if not isinstance(i, Event))
            queue.append(("src", Send("dst", Batch(bytes.fromhex(effect.origin), events,
                                                   markers))))
        elif isinstance(effect, Ingest):
            before = seq_of(dst_core.heads.get(effect.origin))
            result = dst.run(target.ingest, effect.items)
            dst.run(dst_core.stored, result, 0.0)
            queue += [("dst", e) for e in dst.run(dst_core.on_ingested, "src", effect.origin,
                                                  before)]
    return time.perf_counter() - start, dst.seconds, wire_bytes, event_bytes


def quiet_reconnect_bytes(origins: int) -> int:
    """Both ends know the same ``origins`` feeds: what a reconnect exchanges.

    Heads carry their hashes, as the daemon's do (the digest covers them).
    """
    heads = {os.urandom(32).hex(): Head(1 + i, os.urandom(32)) for i in range(origins)}
    a, b = Replicator(), Replicator()
    total = 0
    for me, other in ((a, b), (b, a)):
        for effect in me.on_link_up("x", heads):
            assert isinstance(effect, Send)
            frame = wire.encode(effect.msg)
            total += link_bytes(len(frame))
            # Nothing to pull (the core says once that this node is in step).
            assert other.on_message("y", wire.decode(frame), heads) in ([], [ConfirmFeed()])
    return total


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--events", type=int, default=None, help="events to catch up (100,000)")
    args = p.parse_args()
    n = args.events or (10_000 if args.quick else 100_000)
    repeats = args.repeats or (1 if args.quick else 3)
    table = Table("bench_replication")
    catalog = build_catalog()
    path, identity = source_ledger(n)
    rates, both, ratios = Paired(), Paired(), Paired()
    with NodeLedger(path, identity, catalog) as source:
        for _ in range(repeats):
            tmp = Path(tempfile.mkdtemp(dir=out_dir()))
            try:
                with NodeLedger(tmp, NodeIdentity.generate(), catalog, create=True) as target:
                    limit = raw_verify_rate()
                    seconds, dst_seconds, wire_bytes, event_bytes = catch_up(source, target)
                    assert target.ledger.max_id() == n, "catch-up incomplete"
                rates.add(n / dst_seconds, limit)
                both.add(n / seconds, limit)
                ratios.add(wire_bytes / event_bytes, 1.0)
            finally:
                shutil.rmtree(tmp)
    table.add(Row.paired(f"catch-up of {n:,} events from one peer, verified "
                         "(the catching-up node's work)", rates, "ev/s",
                         "raw Ed25519 verify, 1 core"))
    table.rows[-1].goal = ">= 10,000 ev/s"
    table.rows[-1].met = rates.value >= 10_000
    table.add(Row.paired("same, both ends' work on one core (serialised here)", both, "ev/s",
                         "raw Ed25519 verify, 1 core"))
    table.add(Row(f"bytes on the link / the events' own bytes ({n:,} events)", ratios.value, "x",
                  goal="<= 1.2x", met=ratios.value <= 1.2))
    quiet = quiet_reconnect_bytes(1000)
    table.add(Row("reconnect with nothing new, 1,000 origins, both directions", quiet, "B",
                  goal="<= 2,048 B", met=quiet <= 2048))
    digest = len(wire.encode(heads_digest({os.urandom(32).hex(): Head(1, os.urandom(32))
                                           for _ in range(1000)})))
    table.note(f"one HeadsDigest frame is {digest} B before sealing; each side sends one")
    table.note("in-process: real cores, wire codec and SQLite ledgers (full verify on ingest); "
               "link bytes add the 16-byte seal tag and the WebSocket header per frame")
    table.print()


if __name__ == "__main__":
    main()
