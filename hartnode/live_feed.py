"""What the daemon pushes to the web UI's event stream (``apps/web/live``), and when.

- ``ledger``: on every commit of own events and every ingest that stored
  something; the new events' summaries (origin, seq, kind, hash; at most
  ``MAX_LISTED`` listed) and how many there were. Event-driven: nothing is
  sent while the ledger is still.
- ``status``: every ``STATUS_S`` seconds while a browser listens, the
  figures the dashboard shows (peers, links, ledger head, sync backlog),
  only when one of them changed since the last message (a delta).
- ``op``: maintenance progress (``ops_api`` publishes those itself).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import trio

from hartnode.apps.web.live import LiveHub
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import IngestResult

if TYPE_CHECKING:
    from hartnode.node import Node

MAX_LISTED = 20  # event summaries in one ledger message
STATUS_S = 2.0  # seconds between status checks while a browser listens


class Publisher(Protocol):
    """Where messages go: ``LiveHub.publish``."""

    def publish(self, kind: str, data: object) -> None: ...


def _summaries(events: Sequence[Event]) -> list[dict[str, Any]]:
    return [{"origin": e.origin, "seq": e.seq, "kind": e.kind, "hash": e.hash_hex}
            for e in events[-MAX_LISTED:]]


def on_committed(hub: Publisher, events: Sequence[Event]) -> None:
    """Own events were appended."""
    if events:
        hub.publish("ledger", {"source": "local", "count": len(events),
                               "events": _summaries(events)})


def on_ingested(hub: Publisher, result: IngestResult) -> None:
    """Peers' events were stored."""
    if result.stored:
        events = [e for _, e in result.stored]
        hub.publish("ledger", {"source": "peers", "count": len(events),
                               "last_id": result.stored[-1][0], "events": _summaries(events)})


async def status_figures(node: Node) -> dict[str, Any]:
    """The dashboard's changing figures (uptime aside: the page counts it)."""
    head = await node.ledger_head()
    gossip = node.gossip
    now_ms = time.time_ns() // 1_000_000
    peers = 0 if gossip is None else sum(
        1 for n in gossip.peers.entries if gossip.peers.status(n, now_ms) == "active")
    backlog = 0
    if node.hierarchy is not None:
        queue: Any = (await node.hierarchy.status()).get("sync_queue") or {}
        backlog = sum(int(row.get("pending", 0)) + int(row.get("in_flight", 0))
                      for by_dir in queue.values() for row in by_dir.values())
    return {"peers": peers, "links": gossip.link_count() if gossip is not None else 0,
            "own_seq": head["seq"], "events": head["events"], "origins": head["origins"],
            "sync_backlog": backlog}


async def publish_status(node: Node, hub: LiveHub) -> None:
    """Send ``status`` deltas while anyone listens; a service of the node."""
    last: dict[str, Any] | None = None
    while True:
        await trio.sleep(STATUS_S)  # the push period, not a readiness wait
        if hub.client_count == 0:
            last = None  # the next listener gets a full message
            continue
        figures = await status_figures(node)
        if figures != last:
            hub.publish("status", figures)
            last = figures
