"""A daemon counts bad peers in /metrics: a dial with the wrong network key is a
handshake failure by reason, exported within the export period."""

from __future__ import annotations

import time
import urllib.request

import pytest
import trio
from conftest import Node, StartDaemon, free_port

from hartnode.gossip import transport
from hartnode.identity import NodeIdentity
from hartnode.node import METRICS_EXPORT_S


def metrics(node: Node) -> str:
    request = urllib.request.Request(f"{node.api_url}/metrics",
                                     headers={"Authorization": f"Bearer {node.token()}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.read().decode()


async def test_wrong_network_key_is_counted_in_metrics(node: Node,
                                                       start_daemon: StartDaemon) -> None:
    port = free_port()
    start_daemon(node, env={"HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{port}"})
    async with trio.open_nursery() as nursery:
        with pytest.raises(transport.DialError) as err:
            await transport.dial(nursery, "127.0.0.1", port, NodeIdentity.generate(), b"\x01" * 32)
    assert err.value.reason in ("bad_network_key", "connection_lost", "timeout")
    series = 'hartnode_handshake_failures_total{reason="bad_network_key"} 1'
    deadline = time.monotonic() + 3 * METRICS_EXPORT_S
    text = await trio.to_thread.run_sync(metrics, node)
    while series not in text:  # exported every METRICS_EXPORT_S: poll within a deadline
        assert time.monotonic() < deadline, text
        await trio.sleep(0.2)
        text = await trio.to_thread.run_sync(metrics, node)
    assert "hartnode_wire_decode_errors_total" in text
    # No link was ever made, so no frame was counted: the series is declared, empty.
    assert "# TYPE hartnode_peer_bytes_total counter" in text
    assert 'hartnode_peer_bytes_total{direction="sent"}' not in text
