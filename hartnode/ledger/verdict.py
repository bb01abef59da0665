"""Where a verified event or marker goes in its origin's feed: the one ingest verdict.

``Ledger.ingest`` (SQLite) and the simulator's ``MemLedger`` both decide
with ``place`` and count with ``tally``; each keeps only its own storage
(rows, or lists in memory). So the daemon and the simulation cannot drift
apart on what is stored, held back, refused or taken for a fork.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from hartnode.ledger.envelope import Event
from hartnode.ledger.items import FeedItem, Head, IngestResult

Verdict = Literal["store", "fill", "hold", "duplicate", "equivocation", "withheld_conflict",
                  "forked_origin", "bad_prev"]
# Verdicts counted in ``IngestResult.rejected`` under their own name.
REFUSED: frozenset[str] = frozenset({"equivocation", "withheld_conflict", "forked_origin",
                                     "bad_prev"})


def place(item: FeedItem, head: Head | None, forked_at: int | None,
          stored_at: Callable[[], Event | bytes | None]) -> Verdict:
    """The verdict on ``item`` given its origin's ``head`` and fork mark.

    ``stored_at()`` says what the feed holds at ``item.seq`` (asked only at or
    below the head): the event there, the hash of the marker there, or None.

    - ``forked_origin``: the origin forked at or before this seq; which branch
      is "the" feed cannot be known, so its later items are held back for
      good (DESIGN §1: the fork is the proof of fraud).
    - ``duplicate``: the same event is there, or a marker (again), or an event
      that is not the one the chain holds where only a marker is.
    - ``equivocation``: another event of the origin is there (the caller
      records the pair); ``withheld_conflict``: a marker against a stored
      event (signed, but the evidence table keeps two signed events).
    - ``fill``: only its marker was there (it came by a link that did not
      carry its reach); the marker's hash already links the chain, so the
      event itself may join it (DESIGN §3 "Sync").
    - ``hold``: beyond a gap; ``bad_prev``: it does not link onto the head;
      ``store``: it does.
    """
    head_seq = head.seq if head else 0
    if forked_at is not None and item.seq > forked_at:
        return "forked_origin"
    if item.seq <= head_seq:
        there = stored_at()
        if isinstance(there, Event):
            if there.hash == item.hash:
                return "duplicate"
            return "equivocation" if isinstance(item, Event) else "withheld_conflict"
        if isinstance(item, Event) and there is not None and there == item.hash:
            return "fill"
        return "duplicate"
    if item.seq > head_seq + 1:
        return "hold"
    if item.prev != (head.hash.hex() if head else None):
        return "bad_prev"
    return "store"


def tally(verdict: Verdict, result: IngestResult) -> None:
    """Count a verdict that stores nothing in ``result`` (held items count where held)."""
    if verdict in REFUSED:
        result.rejected[verdict] += 1
    elif verdict == "duplicate":
        result.duplicates += 1
