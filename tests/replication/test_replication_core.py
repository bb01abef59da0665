"""The sans-I/O replication core: digests, head exchange, pulls, and bad input."""

from __future__ import annotations

import pytest

from hartnode.gossip import wire
from hartnode.protocol import RemoteProtocolError, Send
from hartnode.replication.core import (
    BUCKETS,
    Batch,
    ConfirmFeed,
    FeedEvent,
    Heads,
    HeadsDigest,
    HeadsRequest,
    Ingest,
    Replicator,
    Serve,
    Want,
    heads_digest,
)

from .helpers import next_round

A, B, C = "a" * 64, "b" * 64, "0c" * 32


def protocol(effects: list[object]) -> list[object]:
    """The effects but ``ConfirmFeed`` (the core says it once, when in step)."""
    return [e for e in effects if not isinstance(e, ConfirmFeed)]


def sent(effects: list[object]) -> list[object]:
    return [e.msg for e in effects if isinstance(e, Send)]


def test_equal_heads_cost_one_digest_each_way_and_nothing_more() -> None:
    heads = {A: 5, B: 7}
    left, right = Replicator(), Replicator()
    [digest] = sent(left.on_link_up("r", heads))
    assert isinstance(digest, HeadsDigest)
    assert protocol(right.on_message("l", digest, heads)) == []
    many = {f"{i:064x}": i + 1 for i in range(1000)}
    encoded = len(wire.encode(heads_digest(many)))
    assert encoded < 2048, encoded  # issue #4: reconnecting with nothing new ≤ 2 KB


def test_differing_bucket_leads_to_heads_then_wants() -> None:
    mine, theirs = {A: 5, B: 7}, {A: 9, B: 7, C: 2}
    me, them = Replicator(batch=100), Replicator()
    me.on_link_up("them", mine)
    them.on_link_up("me", theirs)
    [request] = sent(me.on_message("them", heads_digest(theirs), mine))
    assert isinstance(request, HeadsRequest)
    assert set(request.buckets) == {0xA, 0x0}  # A's bucket changed, C's appeared
    [heads] = sent(them.on_message("me", request, theirs))
    assert isinstance(heads, Heads)
    wants = sent(me.on_message("them", heads, mine))
    assert {(w.origin.hex(), w.from_seq, w.limit) for w in wants} == {(A, 6, 100), (C, 1, 100)}
    serve = them.on_message("me", wants[0], theirs)
    assert serve == [Serve("me", wants[0].origin.hex(), wants[0].from_seq, 100)]


def test_pulls_continue_while_progress_is_made_and_stop_without_it() -> None:
    me = Replicator(batch=10)
    me.on_link_up("p", {})
    me.on_message("p", Heads((bytes.fromhex(A),), (25,)), {})
    [ingest] = me.on_message("p", Batch(bytes.fromhex(A), (FeedEvent(b"e", b"s"),), ()), {})
    assert isinstance(ingest, Ingest) and ingest.items == [(b"e", b"s")]
    [again] = sent(me.on_ingested("p", A, 0, {A: 10}))
    assert isinstance(again, Want) and again.from_seq == 11
    # No progress: one probe of the peer's event at our head (its chain may
    # branch off ours, a fork), then stop; no loop.
    [probe] = sent(me.on_ingested("p", A, 10, {A: 10}))
    assert isinstance(probe, Want) and (probe.from_seq, probe.limit) == (10, 1)
    assert protocol(me.on_ingested("p", A, 10, {A: 10})) == []
    assert not me.pulling("p")


def test_a_want_left_unanswered_for_two_rounds_is_dropped_and_the_peer_digested() -> None:
    me = Replicator(batch=10)
    me.on_link_up("p", {})
    [want] = sent(me.on_message("p", Heads((bytes.fromhex(A),), (25,)), {}))
    assert want == Want(bytes.fromhex(A), 1, 10)  # ... and it is lost on the way
    assert protocol(next_round(me, {})) == []  # one round: still waiting for the answer
    assert me.pulling("p")
    [digest] = sent(next_round(me, {}))  # two: taken for lost, the exchange starts over
    assert digest == heads_digest({})
    assert not me.pulling("p") and me.wants_dropped == 1
    [again] = sent(me.on_message("p", Heads((bytes.fromhex(A),), (25,)), {}))
    assert again == want
    with pytest.raises(ValueError):
        Replicator(want_rounds=0)  # a want must get at least one round


def test_a_peer_that_answers_slowly_keeps_its_wants() -> None:
    """One answer per round: C's want waits behind A's batches, as on a slow FIFO link."""
    me = Replicator(batch=10, parallel_wants=2)
    me.on_link_up("p", {})
    wants = sent(me.on_message("p", Heads((bytes.fromhex(A), bytes.fromhex(C)), (25, 5)), {}))
    assert len(wants) == 2
    for have in (10, 20):
        assert protocol(next_round(me, {A: have - 10})) == []
        [more] = sent(me.on_ingested("p", A, have - 10, {A: have}))
        assert more == Want(bytes.fromhex(A), have + 1, 10)
    assert protocol(next_round(me, {A: 20})) == []
    assert sent(me.on_ingested("p", A, 20, {A: 25})) == []  # A is complete
    assert protocol(next_round(me, {A: 25})) == []  # C's answer is one round late: not yet lost
    assert me.pulling("p") and me.wants_dropped == 0
    [digest] = sent(next_round(me, {A: 25}))  # a second silent round: C's want is taken for lost
    assert isinstance(digest, HeadsDigest) and me.wants_dropped == 1


def test_a_late_answer_to_a_dropped_want_starts_no_pull() -> None:
    me = Replicator(batch=10)
    me.on_link_up("p", {})
    me.on_message("p", Heads((bytes.fromhex(A),), (25,)), {})
    next_round(me, {})
    next_round(me, {})
    [ingest] = me.on_message("p", Batch(bytes.fromhex(A), (FeedEvent(b"e", b"s"),), ()), {})
    assert isinstance(ingest, Ingest)  # still verified and stored by the shell
    assert protocol(me.on_ingested("p", A, 0, {A: 10})) == []
    assert not me.pulling("p")


@pytest.mark.parametrize("msg", [
    HeadsDigest((b"",) * (BUCKETS - 1)),
    Heads((b"short",), (1,)),
    Heads((bytes(32),), (1, 2)),
    Want(bytes(32), 0, 10),
    Batch(b"x", (), ()),
    FeedEvent(b"", b""),
])
def test_malformed_messages_are_protocol_errors(msg: object) -> None:
    with pytest.raises(RemoteProtocolError):
        Replicator().on_message("p", msg, {})


def test_every_replication_message_round_trips_the_wire() -> None:
    for msg in (heads_digest({A: 1}), HeadsRequest((1, 2)), Heads((bytes(32),), (3,)),
                Want(bytes(32), 1, 5), Batch(bytes(32), (FeedEvent(b"e", b"s"),), ())):
        assert wire.decode(wire.encode(msg)) == msg
