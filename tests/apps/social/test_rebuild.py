"""``kb rebuild`` (empty the views, replay the ledger) gives the social views back
exactly, ``source_event`` included; and a node that ingested another node's feed
holds the same views as that node for the events both hold."""

from __future__ import annotations

from pathlib import Path

import apsw

from hartnode.apps.social.tables import TABLES
from hartnode.ledger import maintenance
from hartnode.ledger.node_ledger import NodeLedger

from .helpers import NODE_A, NODE_B, apply, catalog, dump, fresh_state
from .scenario import build


def _full_dump(conn: apsw.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {name: sorted(tuple(r) for r in conn.execute(f'SELECT * FROM "{name}"'))
            for name in TABLES}


def test_kb_rebuild_gives_identical_social_views(tmp_path: Path) -> None:
    s = build(tmp_path)
    b = NodeLedger(tmp_path / "b", NODE_B, catalog())
    b_network = [e.wire() for e in b.ledger.tail(1000) if e.reach != "local"]
    b.close()
    a = NodeLedger(tmp_path / "a", NODE_A, catalog())
    result = a.ingest(b_network)
    assert not result.rejected and len(result.stored) == len(b_network)
    a.views.catch_up()
    before = _full_dump(a.views.state)
    assert before["posts"] and before["comments"] and before["votes"]
    held = [e for _, e in a.ledger.read_after(0, 1000)]
    a.close()
    assert maintenance.rebuild(tmp_path / "a", catalog()) == len(held)
    a = NodeLedger(tmp_path / "a", NODE_A, catalog())
    assert _full_dump(a.views.state) == before
    a.close()
    # the same events applied in the scenario's own order: the same views
    conn = fresh_state(tmp_path / "other")
    apply(conn, [e for e in s.events if e in held])
    again = NodeLedger(tmp_path / "a", NODE_A, catalog())
    assert dump(conn) == dump(again.views.state)
    again.close()
    conn.close()
