"""The sync_queue state machine on a real state.sqlite: transitions, backoff, restarts."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from hartnode.hierarchy.sync_queue import (
    STATUSES,
    TRANSITIONS,
    Queued,
    SyncQueue,
    Trigger,
    backoff_ms,
    transition,
)
from hartnode.ledger import store
from hartnode.protocol import LocalProtocolError

PARENT = "a" * 64
OTHER = "b" * 64
ORIGIN = "c" * 64
ACK_MS = 10_000


def events(n: int, start: int = 1) -> list[Queued]:
    return [Queued(i, bytes([i % 256]) * 32, ORIGIN, i) for i in range(start, start + n)]


def open_queue(path: Path) -> SyncQueue:
    conn = store.open_database(path, store.STATE, create=True)
    return SyncQueue(conn, retry_min_ms=1000, retry_max_ms=8000, ack_timeout_ms=ACK_MS)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[SyncQueue]:
    q = open_queue(tmp_path)
    yield q
    q.conn.close()


def statuses(q: SyncQueue, peer: str = PARENT) -> list[str]:
    return [r.status for r in q.rows(peer)]


def test_every_status_and_trigger_has_a_decided_transition_or_is_a_bug() -> None:
    triggers: tuple[Trigger, ...] = ("send", "ack", "refuse", "timeout", "link_down")
    for status, trigger in itertools.product(STATUSES, triggers):
        if (status, trigger) in TRANSITIONS:
            assert transition(status, trigger) in (*STATUSES, None)
        else:
            with pytest.raises(LocalProtocolError):
                transition(status, trigger)
    with pytest.raises(LocalProtocolError):
        transition("acked", "send")  # an acknowledged event is never sent again


def test_backoff_doubles_from_the_minimum_to_the_cap() -> None:
    assert [backoff_ms(n, 1000, 8000) for n in range(1, 7)] == [1000, 2000, 4000, 8000,
                                                                 8000, 8000]


def test_enqueue_is_idempotent_by_peer_and_event_hash(queue: SyncQueue) -> None:
    assert queue.enqueue(PARENT, "up", events(3), 0) == 3
    assert queue.enqueue(PARENT, "up", events(4), 5) == 1  # only the fourth is new
    assert queue.enqueue(OTHER, "up", events(2), 5) == 2  # another parent owes its own rows
    assert queue.summary() == {PARENT: {"up": {"pending": 4, "in_flight": 0, "acked": 0}},
                               OTHER: {"up": {"pending": 2, "in_flight": 0, "acked": 0}}}


def test_send_ack_and_a_late_or_repeated_ack_changes_nothing_more(queue: SyncQueue) -> None:
    queue.enqueue(PARENT, "up", events(3), 0)
    sent = queue.take_due(PARENT, 100, limit=2)
    assert [(r.seq, r.status, r.attempts, r.next_attempt_ms) for r in sent] == [
        (1, "in_flight", 1, 100 + ACK_MS), (2, "in_flight", 1, 100 + ACK_MS)]
    assert statuses(queue) == ["in_flight", "in_flight", "pending"]
    assert queue.ack(PARENT, [sent[0].event_hash], 200) == 1
    assert queue.ack(PARENT, [sent[0].event_hash], 300) == 0  # again: idempotent
    assert queue.ack(OTHER, [sent[1].event_hash], 300) == 0  # another peer's ack: not ours
    assert statuses(queue) == ["acked", "in_flight", "pending"]
    # A pending row acknowledged (the event reached the parent another way) is done too.
    assert queue.ack(PARENT, [events(3)[2].event_hash], 300) == 1
    assert queue.take_due(PARENT, 10**9, limit=10) == []


def test_an_unacknowledged_push_is_retried_with_exponential_backoff(queue: SyncQueue) -> None:
    queue.enqueue(PARENT, "up", events(1), 0)
    now, sends = 0, list[int]()
    while len(sends) < 6:
        due = queue.next_due_ms([PARENT])
        assert due is not None
        now = max(now, due)
        if queue.expire(now):
            continue  # the ack deadline passed: back to pending, due after the backoff
        (row,) = queue.take_due(PARENT, now, limit=10)
        sends.append(now)
    # Each send waits 10 s for its ack, then 1, 2, 4, 8, 8 s of backoff.
    assert sends == [0, 11_000, 23_000, 37_000, 55_000, 73_000]
    (row,) = queue.rows(PARENT)
    assert (row.status, row.attempts, row.last_error) == ("in_flight", 6, "ack_timeout")


def test_a_refusal_or_a_lost_link_backs_off_and_nothing_is_due_before(queue: SyncQueue) -> None:
    queue.enqueue(PARENT, "up", events(2), 0)
    a, _ = queue.take_due(PARENT, 0, limit=10)
    assert queue.refuse(PARENT, [a.event_hash], "not_stored", 50) == 1
    assert queue.release(PARENT, 60) == 1  # b was in flight when the link went
    rows = {r.seq: r for r in queue.rows(PARENT)}
    assert (rows[1].status, rows[1].next_attempt_ms, rows[1].last_error) == (
        "pending", 1050, "not_stored")
    assert (rows[2].status, rows[2].next_attempt_ms, rows[2].last_error) == (
        "pending", 1060, "link_down")
    assert queue.take_due(PARENT, 1049, limit=10) == []
    assert [r.seq for r in queue.take_due(PARENT, 1060, limit=10)] == [1, 2]


def test_the_window_bounds_rows_in_flight_and_the_next_deadline_skips_a_full_one(
        queue: SyncQueue) -> None:
    queue.enqueue(PARENT, "up", events(10), 0)
    assert len(queue.take_due(PARENT, 0, 4, window=6)) == 4
    assert len(queue.take_due(PARENT, 0, 4, window=6)) == 2
    assert queue.take_due(PARENT, 0, 4, window=6) == []
    # Window full: only the in-flight deadline wakes the pump, not the due rows.
    assert queue.next_due_ms([PARENT], window=6) == ACK_MS
    assert queue.next_due_ms([PARENT]) == 0


def test_nothing_is_lost_across_a_restart(tmp_path: Path) -> None:
    q = open_queue(tmp_path)
    q.enqueue(PARENT, "up", events(3), 0)
    first, _ = q.take_due(PARENT, 0, limit=2)
    q.ack(PARENT, [first.event_hash], 10)
    q.conn.close()  # the process dies with the second row in flight
    again = open_queue(tmp_path)
    try:
        assert again.recover(500) == 1
        rows = again.rows(PARENT)
        assert [(r.seq, r.status) for r in rows] == [(1, "acked"), (2, "pending"), (3, "pending")]
        assert rows[1].last_error == "restarted" and rows[1].next_attempt_ms == 500
        assert [r.seq for r in again.take_due(PARENT, 500, limit=10)] == [2, 3]
    finally:
        again.conn.close()


def test_the_scan_watermark_moves_with_the_rows_it_queued(queue: SyncQueue) -> None:
    assert queue.scanned_id() == 0
    queue.enqueue_scan({(PARENT, "up"): events(2), (OTHER, "down"): events(1)}, 0,
                       scanned_id=40)
    assert queue.scanned_id() == 40
    queue.enqueue_scan({}, 0, scanned_id=30)  # never backwards
    assert queue.scanned_id() == 40
    assert {r.peer for r in queue.rows()} == {PARENT, OTHER}
