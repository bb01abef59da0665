"""Authenticated connect latency on loopback, beside the crypto it cannot avoid.

    .venv/bin/python bench/bench_connect.py [--quick] [--repeats N]

Each repeat dials the same in-process listener on 127.0.0.1 N times in a row
(``transport.dial``: TCP connect, WebSocket upgrade, the three handshake
messages) and closes each link before the next. Timed per connection:

- ``dial``: until ``dial`` returns; the dialer has verified the listener and
  sent its own proof.
- ``dial + first round trip``: until an echo of the first sealed message comes
  back; by then the listener has verified the dialer too.

Set beside them, measured in the same repeat:

- the raw crypto of one connect, both sides: 4 X25519 (two key generations,
  two Diffie-Hellmans), 2 Ed25519 signatures, 2 verifications; the floor;
- the sans-I/O handshake run in memory, both sides: crypto + our Python;
- a bare WebSocket connect (TCP + upgrade, no handshake) to a bare
  trio-websocket listener: what the socket layers cost without us.

Goal (issue "Transport and handshake"): authenticated connect <= 10 ms on
loopback. Dialer and listener share one process and one trio thread, so every
figure carries both sides' CPU time.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import nacl.bindings
import trio
import trio_websocket

from bench.common import Row, Table, fmt, parser
from hartnode.gossip import wire
from hartnode.gossip.handshake import Initiator, Responder
from hartnode.gossip.transport import (
    LinkClosed,
    SecureConnection,
    TransportConfig,
    TransportStats,
    dial,
    serve,
)
from hartnode.identity import NodeIdentity, verify_signature

GOAL_MS = 10.0
HOST = "127.0.0.1"
NET = os.urandom(32)


@dataclass
class Samples:
    """Milliseconds per operation, pooled over all repeats."""

    ms: list[float]

    def pct(self, q: float) -> float:
        data = sorted(self.ms)
        return data[min(len(data) - 1, round(q * (len(data) - 1)))]

    @property
    def p50(self) -> float:
        return self.pct(0.5)


def _ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def raw_crypto(a: NodeIdentity, b: NodeIdentity) -> float:
    """Milliseconds of the primitives one connect needs, both sides together."""
    msg = os.urandom(32)

    def run() -> None:
        e1, e2 = os.urandom(32), os.urandom(32)
        p1 = nacl.bindings.crypto_scalarmult_base(e1)
        p2 = nacl.bindings.crypto_scalarmult_base(e2)
        nacl.bindings.crypto_scalarmult(e1, p2)
        nacl.bindings.crypto_scalarmult(e2, p1)
        s1, s2 = a.sign(msg), b.sign(msg)
        verify_signature(a.public_key, msg, s1)
        verify_signature(b.public_key, msg, s2)

    return _ms(run)


def in_memory_handshake(a: NodeIdentity, b: NodeIdentity) -> float:
    """Milliseconds of the sans-I/O handshake, both sides, no sockets."""

    def run() -> None:
        init = Initiator(a, NET, os.urandom(32), expected_node_id=b.node_id)
        resp = Responder(b, NET, os.urandom(32))
        (msg2,) = resp.receive(init.start())
        (msg3,) = init.receive(msg2)
        resp.receive(msg3)

    return _ms(run)


@wire.register(65200)  # bench-only type number, far from every real one
@dataclass(frozen=True, slots=True)
class Echo:
    n: int


async def echo(conn: SecureConnection) -> None:
    try:
        while True:
            await conn.send(await conn.receive())
    except LinkClosed:
        pass


async def bare_ws_handler(request: trio_websocket.WebSocketRequest) -> None:
    ws = await request.accept()
    with contextlib.suppress(trio_websocket.ConnectionClosed):
        await ws.get_message()  # until the client closes


async def bare_ws_connect(port: int) -> float:
    """Milliseconds of TCP connect + WebSocket upgrade alone; then closes."""
    start = time.perf_counter()
    stream = await trio.open_tcp_stream(HOST, port)
    async with trio.open_nursery() as nursery:
        ws = await trio_websocket.wrap_client_stream(nursery, stream, HOST, "/hart")
        elapsed = (time.perf_counter() - start) * 1000
        await ws.aclose()
        nursery.cancel_scope.cancel()
    await trio.aclose_forcefully(stream)
    return elapsed


async def run(repeats: int, per_repeat: int, table: Table) -> None:
    client, server = NodeIdentity.generate(), NodeIdentity.generate()
    config = TransportConfig(host=HOST, port=0)
    stats = TransportStats()
    dial_ms, rtt_ms, crypto_ms, memory_ms, bare_ms = (Samples([]) for _ in range(5))
    async with trio.open_nursery() as nursery:
        port = await nursery.start(partial(serve, server, NET, echo, config=config, stats=stats))
        bare = await nursery.start(
            partial(trio_websocket.serve_websocket, bare_ws_handler, HOST, 0, None)
        )
        for _ in range(10):  # warm-up: imports, caches, first-connection costs
            conn = await dial(nursery, HOST, port, client, NET, config=config)
            await conn.aclose()
        for r in range(repeats):
            for i in range(per_repeat):
                crypto_ms.ms.append(raw_crypto(client, server))
                memory_ms.ms.append(in_memory_handshake(client, server))
                bare_ms.ms.append(await bare_ws_connect(bare.port))
                start = time.perf_counter()
                conn = await dial(
                    nursery, HOST, port, client, NET, expected_node_id=server.node_id,
                    config=config,
                )  # fmt: skip
                dial_ms.ms.append((time.perf_counter() - start) * 1000)
                await conn.send(Echo(i))
                assert await conn.receive() == Echo(i)
                rtt_ms.ms.append((time.perf_counter() - start) * 1000)
                await conn.aclose()
            print(
                f"  repeat {r + 1}: dial p50 {fmt(dial_ms.p50, 'ms')}, raw crypto p50 "
                f"{fmt(crypto_ms.p50, 'ms')} (pooled so far)",
                flush=True,
            )
        nursery.cancel_scope.cancel()
    if stats.handshake_failures.total() or stats.links_opened != 10 + repeats * per_repeat:
        raise SystemExit(f"unexpected failures: {stats}")

    crypto = crypto_ms.p50
    crypto_name = "raw crypto of one connect, p50"
    for name, s in (("dial", dial_ms), ("dial + first round trip", rtt_ms)):
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            value = s.pct(q)
            table.add(
                Row(
                    f"{name}, {label}",
                    value,
                    "ms",
                    crypto,
                    crypto_name,
                    value / crypto,
                    f"value <= {GOAL_MS:g} ms",
                    value <= GOAL_MS,
                    list(s.ms),
                )
            )
    table.add(
        Row(
            "sans-I/O handshake in memory, p50",
            memory_ms.p50,
            "ms",
            crypto,
            crypto_name,
            memory_ms.p50 / crypto,
            samples=list(memory_ms.ms),
        )
    )
    table.add(
        Row(
            "bare TCP + WebSocket upgrade, p50",
            bare_ms.p50,
            "ms",
            dial_ms.p50,
            "dial, p50",
            bare_ms.p50 / dial_ms.p50,
            samples=list(bare_ms.ms),
        )
    )
    table.add(Row("raw crypto of one connect, p50", crypto, "ms", samples=list(crypto_ms.ms)))
    table.note(
        f"{repeats} repeats x {per_repeat} connections = {len(dial_ms.ms)} connections; "
        "p99 over all of them"
    )
    table.note(
        "raw crypto = 4 X25519 (2 keygen + 2 DH) + 2 Ed25519 sign + 2 verify, "
        "both sides of one connect"
    )
    table.note(
        "dialer and listener share one process and one trio thread: each figure "
        "carries both sides' CPU"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser((__doc__ or "").splitlines()[0]).parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    per_repeat = 20 if args.quick else 40
    table = Table("bench_connect", argv)
    print(f"connect: {repeats} repeats of {per_repeat} connections on {HOST}", flush=True)
    trio.run(run, repeats, per_repeat, table)
    table.print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
