"""Flooding baseline: eager gossip with a fixed fanout over the active view.

The yardstick Plumtree is measured against (Leitão et al. 2007, §5): on the
first copy of a message a node pushes it to ``fanout`` random neighbours other
than the sender, and never prunes. With HyParView's ~5 neighbours and fanout 5
that is flooding: reliable, but nearly every link carries every message, so
the relative message redundancy is about (mean degree − 2), ≈ 3 to 4.

Same sans-I/O interface as ``hartnode.gossip.plumtree.Plumtree``, so the
simulator swaps one for the other. Test and benchmark use only.
"""

from __future__ import annotations

import random

from hartnode.gossip.plumtree import BroadcastEffect, Deliver, Gossip
from hartnode.protocol import LocalProtocolError, Send


class FloodGossip:
    """Eager push to ``fanout`` random neighbours; duplicates are dropped silently.

    Args:
        node_id: this node's id (unused; kept for symmetry with Plumtree).
        fanout: neighbours each new message is pushed to.
        rng: chooses the neighbours when there are more than ``fanout``.
        seen_cache_size: message ids remembered for duplicate suppression.
    """

    def __init__(
        self, node_id: str, fanout: int, rng: random.Random, seen_cache_size: int = 50_000
    ) -> None:
        self.node_id = node_id
        self.fanout = fanout
        self._rng = rng
        self._cap = seen_cache_size
        self.neighbours: dict[str, None] = {}
        self._seen: dict[bytes, None] = {}

    def broadcast(self, msg_id: bytes, payload: bytes, now: float) -> list[BroadcastEffect]:
        """Deliver locally and push to the neighbours.

        Raises:
            LocalProtocolError: ``msg_id`` was already seen.
        """
        if msg_id in self._seen:
            raise LocalProtocolError(f"message id {msg_id.hex()} was already seen")
        return self._accept(Gossip(msg_id, 0, payload), None)

    def on_neighbour_up(self, peer: str, now: float) -> list[BroadcastEffect]:
        """Add a neighbour."""
        self.neighbours[peer] = None
        return []

    def on_neighbour_down(self, peer: str, now: float) -> list[BroadcastEffect]:
        """Remove a neighbour."""
        self.neighbours.pop(peer, None)
        return []

    def on_message(self, peer: str, msg: object, now: float) -> list[BroadcastEffect]:
        """Handle a ``Gossip``.

        Raises:
            LocalProtocolError: ``msg`` is not a ``Gossip``.
        """
        if type(msg) is not Gossip:
            raise LocalProtocolError(f"flooding handles Gossip only, not {type(msg).__name__}")
        if msg.msg_id in self._seen:
            return []
        return self._accept(msg, peer)

    def handle_timer(self, now: float) -> list[BroadcastEffect]:
        """Flooding has no timers."""
        return []

    def validated(self, msg_id: bytes, ok: bool, now: float) -> list[BroadcastEffect]:
        """Flooding relays at once (no validate mode): a verdict changes nothing."""
        return []

    def has_seen(self, msg_id: bytes) -> bool:
        """True when ``msg_id`` was delivered here and is still remembered."""
        return msg_id in self._seen

    def get_timer(self) -> float | None:
        """Flooding has no timers."""
        return None

    def _accept(self, msg: Gossip, sender: str | None) -> list[BroadcastEffect]:
        self._seen[msg.msg_id] = None
        if len(self._seen) > self._cap:
            del self._seen[next(iter(self._seen))]
        out: list[BroadcastEffect] = [Deliver(msg.msg_id, msg.payload, msg.hops)]
        targets = [p for p in self.neighbours if p != sender]
        if len(targets) > self.fanout:
            targets = self._rng.sample(targets, self.fanout)
        forward = Gossip(msg.msg_id, msg.hops + 1, msg.payload)
        out.extend(Send(p, forward) for p in targets)
        return out
