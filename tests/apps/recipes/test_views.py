"""Recipe views: fork counts, deletions by the author only, and order independence."""

from __future__ import annotations

import tempfile
from pathlib import Path

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hartnode.apps.recipes import queries
from hartnode.ledger.envelope import Event

from .helpers import ALICE, BOB, draft_delete, draft_fork, labelled, open_node, project, share


def _thread(tmp: Path) -> list[Event]:
    """Alice shares two recipes; Bob forks one twice and tries to delete it; Alice's
    user forks it, then Alice deletes her second recipe and one fork of Bob's is deleted
    by Bob himself."""
    data = labelled()["recipes"]
    a, b = open_node(tmp / "a", ALICE), open_node(tmp / "b", BOB)
    with a, b:
        r1 = share(a, data[0])
        r2 = share(a, data[1], actor="user:alice")
        f1, f2 = b.append([draft_fork(r1.hash_hex, "bob's fork"),
                           draft_fork(r1.hash_hex, "bob's second fork")])
        bob_del = b.append([draft_delete(r1.hash_hex),  # not Bob's: ignored
                            draft_delete(r2.hash_hex, actor="user:alice"),  # Bob's user:alice
                            draft_delete(f2.hash_hex)])  # his own: counts
        f3 = a.append([draft_fork(f1.hash_hex, "alice forks bob's fork", actor="user:alice")])
        own_del = a.append([draft_delete(r2.hash_hex)])  # actor node, author user:alice: ignored
        return [r1, r2, f1, f2, *bob_del, *f3, *own_del]


def _dump(events: list[Event]) -> list[tuple[object, ...]]:
    with tempfile.TemporaryDirectory() as d:
        conn = apsw.Connection(str(Path(d) / "state.sqlite"))
        project(conn, events)
        out = queries.dump(conn)
        conn.close()
        return out


def test_fork_counts_and_deletions_by_the_author_only(tmp_path: Path) -> None:
    events = _thread(tmp_path)
    rows = {r[0]: r for r in _dump(events)}
    r1, r2, f1, f2 = (e.hash_hex for e in events[:4])
    fork_count, deleted = 9, 10  # columns of queries.dump
    # f2 was deleted by its author, so r1 counts only f1; Bob's deletion of r1 is ignored.
    assert (rows[r1][fork_count], rows[r1][deleted]) == (1, 0)
    assert rows[f2][deleted] == 1
    assert rows[f1][fork_count] == 1
    # r2 belongs to (Alice's node, user:alice): neither Bob's user:alice nor Alice's node
    # actor may delete it.
    assert rows[r2][deleted] == 0


def test_a_fork_before_its_parent_is_counted_once_the_parent_arrives(tmp_path: Path) -> None:
    events = _thread(tmp_path)
    forks_first = [events[2], events[3], events[0]]
    rows = {r[0]: r for r in _dump(forks_first)}
    assert rows[events[0].hash_hex][9] == 2


@pytest.fixture(scope="module")
def thread(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    return _thread(tmp_path_factory.mktemp("thread"))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_order_and_duplication_gives_identical_views(thread: list[Event],
                                                         data: st.DataObject) -> None:
    events = thread
    reference = _dump(events)
    order = data.draw(st.permutations(events))
    dups = data.draw(st.lists(st.sampled_from(events), max_size=5))
    shuffled = data.draw(st.permutations(order + dups))
    assert _dump(shuffled) == reference
