"""Views: tables projected from ledger events into ``state.sqlite`` (DESIGN §1).

Each app registers, in code, the DDL of its view tables and one projection
per event kind. The ``ViewUpdater`` applies events in ledger id order after
the ledger commit, in batches; each batch and the new
``snapshots.events_high_watermark`` commit in one state transaction, so
after a crash the views are never wrong, only behind, and resume from the
watermark. ``rebuild`` empties every view table and replays from id 0; a
projection must therefore be a pure function of the event (and the rows
earlier events produced), which is what makes rebuilt views identical.

Every view row carries ``source_event`` (the ledger ``events.id`` it came
from); ``kb verify`` checks that each one exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import apsw

from hartnode.ledger import store
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Ledger

Projection = Callable[[apsw.Connection, int, Event], None]
VIEW_BATCH = 2000


@dataclass
class ViewRegistry:
    """View tables (name → DDL) and projections (kind → functions)."""

    tables: dict[str, str] = field(default_factory=dict)
    projections: dict[str, list[Projection]] = field(default_factory=dict)

    def add_table(self, name: str, ddl: str) -> None:
        """Register a view table. ``ddl`` must create ``name`` with a
        ``source_event INTEGER NOT NULL`` column (use IF NOT EXISTS)."""
        if name in self.tables:
            raise ValueError(f"view table {name!r} is registered twice")
        if "source_event" not in ddl:
            raise ValueError(f"view table {name!r} needs a source_event column")
        self.tables[name] = ddl

    def project(self, kind: str, fn: Projection) -> None:
        self.projections.setdefault(kind, []).append(fn)


class ViewUpdater:
    """Keeps ``state.sqlite`` caught up with the ledger."""

    def __init__(self, state: apsw.Connection, ledger: Ledger, registry: ViewRegistry) -> None:
        self.state = state
        self.ledger = ledger
        self.registry = registry
        with state:
            for ddl in registry.tables.values():
                state.execute(ddl)
            if not state.execute("SELECT 1 FROM snapshots LIMIT 1").fetchall():
                state.execute("INSERT INTO snapshots(comment) VALUES ('created')")

    def watermark(self) -> int:
        return int(store.scalar(
            self.state, "SELECT events_high_watermark FROM snapshots ORDER BY id DESC LIMIT 1"))

    def catch_up(self, *, max_batches: int | None = None,
                 progress: Callable[[int], None] | None = None) -> int:
        """Apply every ledger event past the watermark; returns how many.
        ``progress(applied)`` is called after each batch."""
        applied = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            mark = self.watermark()
            batch = self.ledger.read_after(mark, VIEW_BATCH)
            if not batch:
                break
            with self.state:
                for event_id, event in batch:
                    for fn in self.registry.projections.get(event.kind, ()):
                        fn(self.state, event_id, event)
                self.state.execute(
                    "UPDATE snapshots SET events_high_watermark = ?, ts = CURRENT_TIMESTAMP "
                    "WHERE id = (SELECT MAX(id) FROM snapshots)",
                    (batch[-1][0],),
                )
            applied += len(batch)
            batches += 1
            if progress is not None:
                progress(applied)
        return applied

    def reset(self, comment: str = "rebuild") -> None:
        """Empty every view table and start a snapshot at watermark 0, in one
        transaction; ``catch_up`` then replays the ledger (the running daemon
        does it in batches, to report progress and let writes in between)."""
        with self.state:
            for name in self.registry.tables:
                self.state.execute(f'DELETE FROM "{name}"')
            self.state.execute("INSERT INTO snapshots(comment) VALUES (?)", (comment,))

    def rebuild(self, comment: str = "rebuild",
                progress: Callable[[int], None] | None = None) -> int:
        """Empty every view table and replay the whole ledger (``progress`` as
        in ``catch_up``)."""
        self.reset(comment)
        return self.catch_up(progress=progress)
