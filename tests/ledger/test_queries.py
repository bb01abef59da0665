"""The ledger's reads for other services (issue #9.3): the hierarchy asks through
these instead of running SQL on the ledger's connection."""

from __future__ import annotations

import ast
from pathlib import Path

import blake3

import hartnode
from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger import queries
from hartnode.ledger.items import Draft
from hartnode.ledger.node_ledger import NodeLedger


def test_reads_by_reach_id_and_hash_on_a_real_ledger(tmp_path: Path) -> None:
    nl = NodeLedger(tmp_path, NodeIdentity.generate(), build_catalog(), create=True)
    try:
        drafts = [Draft("note.created", {"text": f"n{i}"},
                        reach="hierarchy" if i % 3 == 0 else "network") for i in range(1200)]
        nl.append(drafts)
        ledger = nl.ledger
        stored = ledger.read_after(0, 2000)  # (row id, event), in id order
        top = ledger.max_id()
        up = queries.stored_with_reach(ledger, "hierarchy", 0, top)
        assert [s.seq for s in up] == [e.seq for _, e in stored if e.reach == "hierarchy"]
        assert queries.stored_with_reach(ledger, "hierarchy", top - 3, top) == [
            s for s in up if s.event_id > top - 3]
        ids = [i for i, _ in stored]  # more than one statement's chunk of parameters
        found = queries.events_by_id(ledger, [*ids, top + 10])
        assert [found[i].hash for i in ids] == [e.hash for _, e in stored]
        hashes = [e.hash for _, e in stored]
        unknown = blake3.blake3(b"not an event").digest()
        assert queries.held_hashes(ledger, [*hashes, unknown]) == set(hashes)
        assert queries.held_hashes(ledger, []) == set()
    finally:
        nl.close()


def test_the_hierarchy_runs_no_sql_on_the_ledgers_connection() -> None:
    root = Path(hartnode.__file__).parent / "hierarchy"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        uses = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                and n.attr == "conn" and isinstance(n.value, ast.Attribute)
                and n.value.attr == "ledger"]
        assert uses == [], f"{path.name} reaches into the ledger's connection at lines {uses}"
