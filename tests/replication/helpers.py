"""Helpers the replication core's tests share."""

from __future__ import annotations

from hartnode.replication.core import HeadsView, ReplicationEffect, Replicator


def next_round(core: Replicator, heads: HeadsView | None = None) -> list[ReplicationEffect]:
    """The core's next round, through its timer (armed at 0 if not yet started)."""
    if core.get_timer() is None:
        core.start(0.0)
    due = core.get_timer()
    assert due is not None
    return core.handle_timer(due, heads)
