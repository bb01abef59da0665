"""bench_abuse's attackers still speak today's protocol: each one, briefly, against a listener.

``bench/abuse_attacks.py`` builds its traffic from hartnode's own modules so
that it keeps measuring while the node's defences change; this smoke run
catches the day one of those modules changes under it. Each attacker runs as
its own process for a second at 1% of its size against ``transport.serve``
on 127.0.0.1, and must have sent what it exists to send.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import pytest
import trio

from hartnode.gossip import hyparview, transport
from hartnode.gossip import messages as _messages  # noqa: F401 - registers the overlay's types
from hartnode.gossip.peer_record import PeerRecordMessage
from hartnode.gossip.plumtree import Gossip
from hartnode.identity import NodeIdentity
from hartnode.replication.core import Want

ATTACKER = Path(__file__).resolve().parent.parent / "bench" / "abuse_attacks.py"
KEY = bytes(range(32))

# attack -> (a counter its "done" line must show above zero, a message the listener must get)
EXPECTED: dict[str, tuple[str, type | None]] = {
    "conn_flood": ("held", None),
    "want_flood": ("wants", Want),
    "oversize": ("over_frames", PeerRecordMessage),
    "sybil_joins": ("joins", hyparview.Join),
    "sybil_records": ("records_sent", Gossip),
}


async def run_against_listener(attack: str) -> tuple[list[dict[str, object]], list[object]]:
    """The attacker's JSON lines and the messages the listener received."""
    identity = NodeIdentity.generate()
    received: list[object] = []

    async def handler(conn: transport.SecureConnection) -> None:
        while True:  # LinkClosed ends the link, and the listener counts it
            received.append(await conn.receive())

    config = transport.TransportConfig(host="127.0.0.1", port=0)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(partial(transport.serve, identity, KEY, handler,
                                           config=config))
        done = await trio.run_process(
            [sys.executable, str(ATTACKER), attack, "--port", str(port), "--network-key",
             KEY.hex(), "--target", identity.node_id, "--duration", "1", "--scale", "0.01"],
            capture_stdout=True, capture_stderr=True)
        nursery.cancel_scope.cancel()
    return [json.loads(line) for line in done.stdout.splitlines()], received


@pytest.mark.slow
@pytest.mark.parametrize("attack", sorted(EXPECTED))
async def test_attacker_sends_its_traffic(attack: str) -> None:
    lines, received = await run_against_listener(attack)
    assert lines[0] == {"ev": "ready"}
    assert lines[-1]["ev"] == "done"
    counter, kind = EXPECTED[attack]
    counts = lines[-1]["counts"]
    assert isinstance(counts, dict) and counts.get(counter, 0) > 0, lines[-1]
    if kind is not None:
        assert any(type(m) is kind for m in received), {type(m).__name__ for m in received}


@pytest.mark.slow
async def test_prober_dials_as_a_newcomer() -> None:
    lines, _ = await run_against_listener("probe")
    dials = [e for e in lines if e["ev"] == "dial"]
    assert dials and all(e["ok"] and e["reason"] == "ok" for e in dials), dials
