"""Benchmark only: one overlay node in its own process, driven over stdin/stdout.

``bench/bench_gossip_processes.py`` starts one of these per node and talks to
it in JSON lines. The command loop (``drive``) knows nothing of the overlay:
a ``Stack`` publishes and reports deliveries, so the same loop drives a
``GossipService`` here and py-libp2p's gossipsub in the benchmark (whose
venv has no msgpack or apsw, hence hartnode's imports inside ``run_hartnode``).

Payloads: ``HEADER`` (origin index, sequence number, send time from
``time.monotonic_ns``, which every process on one Linux machine shares)
padded to ``--size`` bytes. hartnode's payload is signed here with the
node's Ed25519 key and verified at every receiver before it counts;
gossipsub signs and verifies its messages itself (strict signing).

Parent -> child (stdin):
    {"cmd": "status"}                                  -> {"ev": "status", ...}
    {"cmd": "connect", "addrs": [...]}                 (gossipsub only)
    {"cmd": "expect", "phase": P, "count": N, "every": K}
    {"cmd": "publish", "phase": P, "count": N, "rate": R or null, "credit": C}
    {"cmd": "credit", "upto": C}                       the publisher may send up to C
    {"cmd": "finish", "phase": P}                      -> {"ev": "done", ...} now
    {"cmd": "quit"}
Child -> parent (stdout):
    {"ev": "ready", "addr": A, "id": I}
    {"ev": "got", "phase": P, "n": N}                  every K deliveries from others
    {"ev": "done", "phase": P, "n": N, "last_ns": T, "lat_ms": [...]}
    {"ev": "sent", "phase": P, "first_ns": T0, "last_ns": T1}
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

HEADER = struct.Struct(">IIQ")  # origin index, sequence number, send time (monotonic ns)
TOPIC = "hartnode-bench"


def make_payload(origin: int, seq: int, size: int) -> bytes:
    """``size`` bytes: the header, then padding."""
    head = HEADER.pack(origin, seq, time.monotonic_ns())
    return head + b"\x00" * max(0, size - len(head))


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


@dataclass
class Phase:
    name: str
    expect: int
    every: int
    got: int = 0
    last_ns: int = 0
    lat_ms: list[float] = field(default_factory=list)
    done: bool = False


class Driver:
    """Counts deliveries per phase and runs the publisher side of the protocol."""

    def __init__(self, index: int, size: int,
                 publish: Callable[[bytes], Awaitable[None]]) -> None:
        self.index = index
        self.size = size
        self.publish = publish
        self.phase: Phase | None = None
        self.credit: float = 0
        self.credit_changed = trio.Event()

    def delivered(self, payload: bytes) -> None:
        """Call once per application delivery (already verified)."""
        now = time.monotonic_ns()
        origin, _seq, sent = HEADER.unpack_from(payload)
        phase = self.phase
        if origin == self.index or phase is None or phase.done:
            return
        phase.got += 1
        phase.last_ns = now
        phase.lat_ms.append((now - sent) / 1e6)
        if phase.got >= phase.expect:
            self._done(phase)
        elif phase.got % phase.every == 0:
            emit({"ev": "got", "phase": phase.name, "n": phase.got})

    def _done(self, phase: Phase) -> None:
        phase.done = True
        emit({"ev": "done", "phase": phase.name, "n": phase.got, "last_ns": phase.last_ns,
              "lat_ms": [round(x, 3) for x in phase.lat_ms]})

    async def run_publish(self, name: str, count: int, rate: float | None,
                          credit: float) -> None:
        self.credit = credit  # this phase's window (credit commands raise it)
        gap_ns = int(1e9 / rate) if rate else 0
        first = time.monotonic_ns()
        for seq in range(count):
            while seq >= self.credit:
                self.credit_changed = trio.Event()
                await self.credit_changed.wait()
            if gap_ns:
                await trio.sleep_until(trio.current_time() + max(
                    0.0, (first + seq * gap_ns - time.monotonic_ns()) / 1e9))
            await self.publish(make_payload(self.index, seq, self.size))
            if not gap_ns and seq % 16 == 15:
                await trio.sleep(0)  # let the links send
        emit({"ev": "sent", "phase": name, "first_ns": first, "last_ns": time.monotonic_ns()})

    async def commands(self, status: Callable[[], dict[str, Any]],
                       connect: Callable[[list[str]], Awaitable[None]] | None = None) -> None:
        """Serve the parent's commands until ``quit`` or end of input."""
        async with trio.open_nursery() as nursery:
            while True:
                line = await trio.to_thread.run_sync(sys.stdin.readline)
                if not line:
                    break
                cmd = json.loads(line)
                kind = cmd["cmd"]
                if kind == "quit":
                    break
                if kind == "status":
                    emit({"ev": "status", **status()})
                elif kind == "connect" and connect is not None:
                    nursery.start_soon(connect, cmd["addrs"])
                elif kind == "expect":
                    self.phase = Phase(cmd["phase"], cmd["count"], cmd.get("every", 50))
                    # The parent waits for this before anyone publishes: a message
                    # that arrived before the phase began would not be counted.
                    emit({"ev": "expecting", "phase": cmd["phase"]})
                elif kind == "publish":
                    nursery.start_soon(self.run_publish, cmd["phase"], cmd["count"],
                                       cmd.get("rate"), cmd.get("credit") or math.inf)
                elif kind == "credit":
                    self.credit = max(self.credit, cmd["upto"])
                    self.credit_changed.set()
                elif kind == "finish" and self.phase is not None and not self.phase.done:
                    self._done(self.phase)
            nursery.cancel_scope.cancel()


async def run_hartnode(args: argparse.Namespace) -> None:
    """A GossipService on 127.0.0.1 whose payloads are signed ``BenchMessage``s."""
    import random
    from dataclasses import dataclass as frozen_dataclass
    from dataclasses import replace

    from hartnode.gossip import wire
    from hartnode.gossip.link_service import LinkService
    from hartnode.gossip.overlay_config import for_profile
    from hartnode.gossip.peer_record import PeerTable
    from hartnode.gossip.service import GossipService, GossipSettings
    from hartnode.identity import NodeIdentity, verify_signature

    @wire.register(65300)  # benchmark only: never sent by a node
    @frozen_dataclass(frozen=True, slots=True)
    class BenchMessage:
        origin_key: bytes
        data: bytes
        sig: bytes

    identity = NodeIdentity.generate()
    overlay = for_profile(args.profile)
    if args.no_budget:  # like gossipsub's spam limits off: no per-link byte budget
        overlay = replace(overlay, link_rate=1e12, link_burst=1e12)
    settings = GossipSettings(network_key=b"B" * 32, listen=("127.0.0.1", 0), advertise=(),
                              seeds=tuple(s for s in args.seeds.split(",") if s),
                              overlay=overlay, announce_interval=3600.0)
    driver: Driver

    def on_payload(payload: bytes, msg_id: str) -> bool:
        msg = wire.decode(payload)
        if isinstance(msg, BenchMessage) and verify_signature(msg.origin_key, msg.data, msg.sig):
            driver.delivered(msg.data)
        return True  # relayed whatever it holds, as gossipsub without validators

    svc = GossipService(identity, settings, PeerTable(identity.node_id, ttl_ms=10**9),
                        rng=random.Random())
    svc.register(LinkService("bench", broadcast_types=frozenset({BenchMessage}),
                             on_broadcast=on_payload))

    async def publish(data: bytes) -> None:
        message = BenchMessage(identity.public_key, data, identity.sign(data))
        await svc.broadcast_paced(wire.encode(message))

    driver = Driver(args.index, args.size, publish)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(svc.run)
        emit({"ev": "ready", "addr": f"ws://127.0.0.1:{port}/hart", "id": identity.node_id})
        await driver.commands(lambda: {"neighbours": sorted(svc.neighbours()),
                                       "dropped": dict(svc.stats.dropped),
                                       "throttled": svc.stats.throttled,
                                       "received": dict(svc.stats.received),
                                       "eager": sorted(svc._pt.eager) if svc._pt else [],
                                       "lazy": sorted(svc._pt.lazy) if svc._pt else []})
        nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--size", type=int, default=256, help="payload bytes before signing")
    p.add_argument("--seeds", default="", help="comma-separated ws:// URLs")
    p.add_argument("--profile", default="full")
    p.add_argument("--no-budget", action="store_true", help="lift the per-link byte budget")
    args = p.parse_args(argv)
    trio.run(run_hartnode, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
