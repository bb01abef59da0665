"""The attacker and prober processes of ``bench_abuse`` (one process each, trio).

    .venv/bin/python bench/abuse_attacks.py ATTACK --port P --network-key HEX \
        --target NODE_ID --duration S [--scale F]

ATTACK is one of ``ATTACKS`` or ``probe``. Every attack speaks to the node
under test through hartnode's own modules at their lowest stable level
(``transport.dial`` with the network key and throwaway identities, ``wire``
messages, the replication and membership message types,
``sign_peer_record``), so it keeps working while the node's defences change.
Each one is bounded in count and in time (``--duration``) and talks to
127.0.0.1 only.

The process prints JSON lines: ``{"ev": "ready"}`` once the attack has
begun (identities made, records signed), then ``{"ev": "done", ...}`` with
its counters. ``probe`` dials the node as an honest newcomer (a fresh
identity) once a second and prints one line per dial with its CLOCK_MONOTONIC
time, which every process on the machine shares, so the driver can assign
each dial to a phase.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio
import trio_websocket
from trio_websocket import ConnectionClosed as WsClosed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from hartnode.gossip import hyparview, transport, wire
from hartnode.gossip import messages as _messages  # noqa: F401 - registers the overlay's types
from hartnode.gossip.peer_record import PeerRecordMessage, sign_peer_record
from hartnode.gossip.plumtree import Gossip
from hartnode.identity import NodeIdentity
from hartnode.replication.core import Want

HOST = "127.0.0.1"
# Every attack comes from an address of its own, as one attacking host's would:
# the node's per-address limits (issue #8.4, #8.5) are what it meets. The honest
# peers and the prober dial from 127.0.0.1 (Linux routes all of 127/8 to loopback).
ATTACKER_SOURCE = "127.0.0.2"
ATTACKS = ("conn_flood", "want_flood", "oversize", "sybil_joins", "sybil_records")
# An attacker may send frames larger than the node accepts; it encodes under these.
_BIG = wire.Limits(max_frame_bytes=8 << 20, max_bin_len=8 << 20)
_BIG_CONFIG = transport.TransportConfig(wire_limits=_BIG, handshake_timeout=5.0,
                                       source_address=ATTACKER_SOURCE)
_DIAL_CONFIG = transport.TransportConfig(handshake_timeout=5.0, source_address=ATTACKER_SOURCE)
_PROBE_CONFIG = transport.TransportConfig(handshake_timeout=5.0)  # an honest newcomer
_LINK_ERRORS = (transport.TransportError, wire.EncodeError, OSError, trio.BrokenResourceError,
                trio.ClosedResourceError, WsClosed, trio_websocket.HandshakeError)


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


class Attack:
    """What every attack shares: the target, the network key, counters, the clock."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.port: int = args.port
        self.key = bytes.fromhex(args.network_key)
        self.target: str = args.target
        self.duration: float = args.duration
        self.scale: float = args.scale
        self.counts: Counter[str] = Counter()

    def n(self, base: int) -> int:
        """``base`` scaled by ``--scale`` (a smoke run uses smaller attacks)."""
        return max(1, round(base * self.scale))

    async def dial(self, identity: NodeIdentity | None = None,
                   config: transport.TransportConfig = _DIAL_CONFIG,
                   nursery: trio.Nursery | None = None) -> transport.SecureConnection | None:
        """A link to the target, or None (counted by reason) when it is refused."""
        assert nursery is not None
        try:
            conn = await transport.dial(nursery, HOST, self.port, identity or
                                        NodeIdentity.generate(), self.key,
                                        expected_node_id=self.target, config=config)
        except transport.DialError as e:
            self.counts[f"dial_{e.reason}"] += 1
            return None
        self.counts["links"] += 1
        return conn


async def drain(conn: transport.SecureConnection,
                on_msg: Callable[[object], Awaitable[None]] | None = None) -> None:
    """Read the link until it ends (``receive`` answers transport Pings itself)."""
    try:
        while True:
            msg = await conn.receive()
            if on_msg is not None:
                await on_msg(msg)
    except _LINK_ERRORS:
        return


# --- connection flood -------------------------------------------------------------------


async def conn_flood(a: Attack, nursery: trio.Nursery) -> None:
    """Silent TCP connections that hold inbound slots, plus connect-close churn.

    ``holders`` sockets connect and never say a word; when the node drops
    one (its handshake timeout, or a 503), it connects again after 50 ms.
    Beside them ``churn`` connects per second are closed at once.
    """
    holders, churn = a.n(200), a.n(40)

    async def hold() -> None:
        while True:
            try:
                stream = await trio.open_tcp_stream(HOST, a.port, local_address=ATTACKER_SOURCE)
            except OSError:
                a.counts["connect_failed"] += 1
                await trio.sleep(0.05)
                continue
            a.counts["held"] += 1
            try:
                while await stream.receive_some(4096):
                    pass  # a 503 answer: wait for the close
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
            finally:
                await trio.aclose_forcefully(stream)
            a.counts["dropped_by_node"] += 1
            await trio.sleep(0.05)

    async def churn_loop() -> None:
        while True:
            try:
                stream = await trio.open_tcp_stream(HOST, a.port, local_address=ATTACKER_SOURCE)
                await trio.aclose_forcefully(stream)
                a.counts["churned"] += 1
            except OSError:
                a.counts["connect_failed"] += 1
            await trio.sleep(1 / churn)

    for _ in range(holders):
        nursery.start_soon(hold)
    nursery.start_soon(churn_loop)
    emit(ev="ready")


# --- Want flood ---------------------------------------------------------------------------


async def want_flood(a: Attack, nursery: trio.Nursery) -> None:
    """Wants for the node's whole (large-event) feed on links whose far end never reads.

    ``links`` links each send ``wants`` Wants (paced at 300/s per link) for
    the target's own feed from seq 1, the largest range a Want may ask; the
    attacker never calls ``receive``, so its socket buffers fill and the
    node's replies pile up on its side.
    """
    links, wants = a.n(2), a.n(1500)
    want = Want(bytes.fromhex(a.target), 1, 1000)

    async def one() -> None:
        conn = await a.dial(nursery=nursery)
        if conn is None:
            return
        try:
            for _ in range(wants):
                await conn.send(want)
                a.counts["wants"] += 1
                await trio.sleep(1 / 300)
        except _LINK_ERRORS:
            a.counts["link_lost"] += 1
            return
        await conn.wait_closed()  # hold the link, reading nothing

    for _ in range(links):
        nursery.start_soon(one)
    emit(ev="ready")


# --- oversized frames ---------------------------------------------------------------------


async def oversize(a: Attack, nursery: trio.Nursery) -> None:
    """Frames beyond the node's limits, before and after the handshake, and at the limit.

    - ``over``: authenticated links that each send one 2 MiB sealed frame
      (twice the node's frame limit), wait for the link to end, and dial again;
    - ``pre``: unauthenticated WebSocket upgrades that send a 1 MiB message
      instead of the first handshake message, again and again;
    - ``at``: authenticated links that send frames just under the 1 MiB
      limit (a peer record of junk), as fast as the node takes them.
    """
    over, pre, at = a.n(3), a.n(2), a.n(2)
    big = PeerRecordMessage(os.urandom(2 << 20), b"", (), ())
    limit = wire.DEFAULT_LIMITS.max_frame_bytes
    near = PeerRecordMessage(os.urandom(limit - 64), b"", (), ())
    assert len(wire.encode(near)) <= limit

    async def over_loop() -> None:
        while True:
            conn = await a.dial(config=_BIG_CONFIG, nursery=nursery)
            if conn is None:
                await trio.sleep(0.2)
                continue
            a.counts["over_frames"] += 1  # the node may hang up while it is on its way
            try:
                await conn.send(big)
                with trio.move_on_after(5):
                    await drain(conn)
            except _LINK_ERRORS:
                pass
            await conn.aclose()

    async def pre_loop() -> None:
        junk = os.urandom(1 << 20)
        while True:
            stream: trio.SocketStream | None = None
            try:
                stream = await trio.open_tcp_stream(HOST, a.port, local_address=ATTACKER_SOURCE)
                async with trio.open_nursery() as ws_nursery:
                    try:  # caught in here: the nursery would wrap it in a group
                        ws = await trio_websocket.wrap_client_stream(
                            ws_nursery, stream, HOST, "/hart", max_message_size=1 << 16)
                        a.counts["pre_frames"] += 1
                        await ws.send_message(junk)
                        with trio.move_on_after(5):
                            await ws.get_message()
                    except (*_LINK_ERRORS, trio_websocket.ConnectionRejected):
                        pass
                    ws_nursery.cancel_scope.cancel()
            except OSError:
                pass
            finally:
                if stream is not None:
                    await trio.aclose_forcefully(stream)
            await trio.sleep(0.05)

    async def at_loop() -> None:
        while True:
            conn = await a.dial(nursery=nursery)
            if conn is None:
                await trio.sleep(0.2)
                continue
            nursery.start_soon(drain, conn)
            try:
                while True:
                    await conn.send(near)
                    a.counts["at_sent"] += 1
            except _LINK_ERRORS:
                a.counts["at_link_lost"] += 1

    for fn, count in ((over_loop, over), (pre_loop, pre), (at_loop, at)):
        for _ in range(count):
            nursery.start_soon(fn)
    emit(ev="ready")


# --- sybil Joins ----------------------------------------------------------------------------


async def sybil_joins(a: Attack, nursery: trio.Nursery) -> None:
    """``sybils`` identities that Join the node and re-join whenever they are dropped.

    Each holds its link like a good neighbour (answers membership Pings,
    reads everything) so the node keeps it; once the node evicts it (a
    Disconnect or the link's end) it dials again after 0.5 s and Joins
    anew, which evicts a random neighbour of the node's active view.
    """
    sybils = a.n(8)
    identities = [NodeIdentity.generate() for _ in range(sybils)]

    async def sybil(identity: NodeIdentity) -> None:
        while True:
            conn = await a.dial(identity, nursery=nursery)
            if conn is not None:
                try:
                    await conn.send(hyparview.Join(hyparview.PeerInfo(identity.node_id, "")))
                    a.counts["joins"] += 1
                except _LINK_ERRORS:
                    pass

                async def answer(msg: object, conn: transport.SecureConnection = conn) -> None:
                    if isinstance(msg, hyparview.Ping):
                        await conn.send(hyparview.Pong(msg.nonce))
                    elif isinstance(msg, hyparview.Disconnect):
                        a.counts["evicted"] += 1
                        await conn.aclose()

                await drain(conn, answer)
                await conn.aclose()
            await trio.sleep(0.5)

    for identity in identities:
        nursery.start_soon(sybil, identity)
    emit(ev="ready")


# --- sybil records ------------------------------------------------------------------------


async def sybil_records(a: Attack, nursery: trio.Nursery) -> None:
    """``records`` signed peer records of throwaway identities, broadcast into the overlay.

    Each record is a Plumtree ``Gossip`` of a valid, self-signed flat record
    with a made-up address, pushed over ``links`` links (the node relays
    them to its neighbours once verified). Every ``refresh`` seconds all
    records are signed again with a newer seq and pushed again, so none
    goes stale during the attack.
    """
    links, records, refresh = a.n(4), a.n(2000), 10.0
    identities = [NodeIdentity.generate() for _ in range(records)]
    conns = [c for c in [await a.dial(nursery=nursery) for _ in range(links)] if c is not None]
    for conn in conns:
        nursery.start_soon(drain, conn)
    if not conns:
        emit(ev="ready")
        return

    def signed(round_no: int) -> list[bytes]:
        now_ms = time.time_ns() // 1_000_000
        return [wire.encode(sign_peer_record(
            ident, addrs=(f"ws://10.{i >> 8 & 255}.{i & 255}.1:6778/hart",), tier="flat",
            region="", seq=now_ms + round_no, ts_ms=now_ms).message)
            for i, ident in enumerate(identities)]

    payloads = signed(0)
    emit(ev="ready")
    round_no = 0
    while True:
        for i, payload in enumerate(payloads):
            msg_id = os.urandom(16)
            try:
                await conns[i % len(conns)].send(Gossip(msg_id, 1, payload))
                a.counts["records_sent"] += 1
            except _LINK_ERRORS:
                a.counts["send_failed"] += 1
        await trio.sleep(refresh)
        round_no += 1
        payloads = signed(round_no)


# --- the honest newcomer ------------------------------------------------------------------


async def probe(a: Attack, nursery: trio.Nursery) -> None:
    """Dial the node once a second as a new honest peer; one line per dial."""
    emit(ev="ready")
    while True:
        started = time.monotonic()
        conn = None
        reason = "ok"
        try:
            conn = await transport.dial(nursery, HOST, a.port, NodeIdentity.generate(), a.key,
                                        expected_node_id=a.target, config=_PROBE_CONFIG)
        except transport.DialError as e:
            reason = e.reason
        took = time.monotonic() - started
        if conn is not None:
            await conn.aclose("probe done")
        emit(ev="dial", t=started, ok=conn is not None, reason=reason, s=round(took, 4))
        await trio.sleep(max(0.0, 1.0 - took))


RUNNERS: dict[str, Callable[[Attack, trio.Nursery], Awaitable[None]]] = {
    "conn_flood": conn_flood, "want_flood": want_flood, "oversize": oversize,
    "sybil_joins": sybil_joins, "sybil_records": sybil_records, "probe": probe,
}


async def run(args: argparse.Namespace) -> None:
    a = Attack(args)
    with trio.move_on_after(a.duration), trio.open_signal_receiver(signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_sigterm() -> None:
                async for _ in signals:  # the driver's end of the phase
                    nursery.cancel_scope.cancel()

            nursery.start_soon(stop_on_sigterm)
            await RUNNERS[args.attack](a, nursery)
    emit(ev="done", counts=dict(a.counts))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("attack", choices=sorted(RUNNERS))
    p.add_argument("--port", type=int, required=True, help="the target's peer port")
    p.add_argument("--network-key", required=True, help="64 hex digits")
    p.add_argument("--target", required=True, help="the target's node id")
    p.add_argument("--duration", type=float, required=True, help="seconds, then stop")
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every count")
    trio.run(run, p.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
