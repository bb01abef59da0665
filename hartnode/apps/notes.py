"""``note.created``: the generic event kind for operators and tests.

``hartnode ledger append --kind note.created --payload '{"text": "..."}'``.
Projected into the ``notes`` view.
"""

from __future__ import annotations

import apsw

from hartnode.ledger.envelope import Event
from hartnode.ledger.kinds import KindRegistry, KindSpec, Obj, Str
from hartnode.ledger.views import ViewRegistry

NOTE_CREATED = KindSpec(
    kind="note.created",
    payload=Obj({"text": Str(min_len=1, max_len=10_000)}),
    doc="A free-form text note.",
)

NOTES_DDL = """
CREATE TABLE IF NOT EXISTS notes (
  id            INTEGER PRIMARY KEY,
  origin        TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  ts_ms         INTEGER NOT NULL,
  actor         TEXT NOT NULL,
  text          TEXT NOT NULL,
  source_event  INTEGER NOT NULL UNIQUE
)
"""


def _project_note(state: apsw.Connection, event_id: int, event: Event) -> None:
    state.execute(
        "INSERT INTO notes (origin, seq, ts_ms, actor, text, source_event) VALUES (?,?,?,?,?,?)",
        (event.origin, event.seq, event.ts_ms, event.actor, event.payload["text"], event_id),
    )


def register(kinds: KindRegistry, views: ViewRegistry) -> None:
    kinds.register(NOTE_CREATED)
    views.add_table("notes", NOTES_DDL)
    views.project(NOTE_CREATED.kind, _project_note)
