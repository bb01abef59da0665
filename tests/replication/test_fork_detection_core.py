"""The replication core finds same-seq forks: head hashes, probes, and forked origins.

Sans-I/O: two ``Replicator`` cores and head maps written by hand; every
message goes through the wire codec, as a link would carry it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hartnode.gossip import wire
from hartnode.ledger.log import Head
from hartnode.protocol import RemoteProtocolError, Send
from hartnode.replication.core import (
    HEAD_HASH_BYTES,
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
    bucket_of,
    heads_digest,
)

from .helpers import next_round

F, G = "f" * 64, "1" * 64  # F forks; G is an honest origin in another bucket
H1, H2, H3 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


def protocol(effects: list[object]) -> list[object]:
    """The effects but ``ConfirmFeed`` (the core says it once, when in step)."""
    return [e for e in effects if not isinstance(e, ConfirmFeed)]


def sent(effects: Sequence[object]) -> list[object]:
    """The messages among ``effects``, each passed through the wire codec."""
    return [wire.decode(wire.encode(e.msg)) for e in effects if isinstance(e, Send)]


def test_digest_differs_at_equal_seq_when_the_hash_differs() -> None:
    ours = heads_digest({F: Head(5, H1), G: Head(2, H3)}).digests
    same = heads_digest({F: Head(5, H1), G: Head(2, H3)}).digests
    forked = heads_digest({F: Head(5, H2), G: Head(2, H3)}).digests
    assert ours == same
    assert [i for i in range(len(ours)) if ours[i] != forked[i]] == [bucket_of(F)]


def test_equal_seq_other_hash_is_probed_with_a_want_for_that_one_event() -> None:
    mine, theirs = {F: Head(5, H1), G: Head(2, H3)}, {F: Head(5, H2), G: Head(2, H3)}
    me, them = Replicator(batch=100), Replicator()
    me.on_link_up("them", mine)
    [their_digest] = sent(them.on_link_up("me", theirs))
    [request] = sent(me.on_message("them", their_digest, mine))
    assert isinstance(request, HeadsRequest) and request.buckets == (bucket_of(F),)
    [heads] = sent(them.on_message("me", request, theirs))
    assert isinstance(heads, Heads) and heads.hashes == (H2[:HEAD_HASH_BYTES],)
    [want] = sent(me.on_message("them", heads, mine))
    assert want == Want(bytes.fromhex(F), 5, 1)  # their event at our head seq, only it
    assert them.on_message("me", want, theirs) == [Serve("me", F, 5, 1)]
    [ingest] = me.on_message("them", Batch(bytes.fromhex(F), (FeedEvent(b"e", b"s"),), ()), mine)
    assert isinstance(ingest, Ingest) and ingest.items == [(b"e", b"s")]
    assert protocol(me.on_ingested("them", F, 5, mine)) == []  # compared; nothing more to pull
    assert not me.pulling("them")
    # The same mismatch again on this link is not probed twice.
    assert protocol(me.on_message("them", heads, mine)) == []


def test_equal_seq_and_hash_or_unknown_hashes_pull_nothing() -> None:
    me = Replicator()
    mine = {F: Head(5, H1)}
    me.on_link_up("p", mine)
    raw = bytes.fromhex(F)
    assert protocol(me.on_message("p", Heads((raw,), (5,), (H1[:HEAD_HASH_BYTES],)), mine)) == []
    # A sender without hashes:
    assert protocol(me.on_message("p", Heads((raw,), (5,), ()), mine)) == []
    assert protocol(me.on_message("p", Heads((raw,), (5,), (H2[:HEAD_HASH_BYTES],)), {F: 5})) == []


def test_a_pull_that_does_not_link_probes_our_head_seq_once() -> None:
    # They hold F up to 7 on another branch: their 6 does not link onto our 5.
    me = Replicator(batch=100)
    mine = {F: Head(5, H1)}
    me.on_link_up("p", mine)
    [pull] = sent(me.on_message("p", Heads((bytes.fromhex(F),), (7,), (H2[:16],)), mine))
    assert pull == Want(bytes.fromhex(F), 6, 100)
    [probe] = sent(me.on_ingested("p", F, 5, mine))  # rejected as bad_prev: no progress
    assert probe == Want(bytes.fromhex(F), 5, 1)
    assert protocol(me.on_ingested("p", F, 5, mine)) == []
    assert not me.pulling("p")


def test_forked_origins_leave_digests_and_heads_and_are_never_pulled() -> None:
    me = Replicator()
    me.on_link_up("p", {F: Head(5, H1)})
    # A pull queued before the fork was known is dropped with it.
    me.parallel_wants = 0
    heads = Heads((bytes.fromhex(F),), (9,), (H2[:16],))
    assert protocol(me.on_message("p", heads, {F: Head(5, H1)})) == []
    me.parallel_wants = 4
    me.mark_forked(F)
    assert not me.pulling("p")
    mine = {F: Head(5, H1), G: Head(2, H3)}
    assert heads_digest(mine, me.forked) == heads_digest({G: Head(2, H3)})
    [digest] = sent(next_round(me, mine))
    assert digest == heads_digest({G: Head(2, H3)})
    [heads] = sent(me.on_message("p", HeadsRequest((bucket_of(F), bucket_of(G))), mine))
    assert isinstance(heads, Heads) and heads.origins == (bytes.fromhex(G),)
    raw = bytes.fromhex(F)
    assert protocol(me.on_message("p", Heads((raw,), (9,), (H2[:16],)), mine)) == []
    assert protocol(me.on_message("p", Heads((raw,), (5,), (H2[:16],)), mine)) == []


@pytest.mark.parametrize("msg", [
    Heads((bytes(32),), (1,), (b"x" * HEAD_HASH_BYTES, b"y" * HEAD_HASH_BYTES)),
    Heads((bytes(32),), (1,), (b"short",)),
    Heads((bytes(32),), (1,), (b"x" * 32,)),
])
def test_malformed_head_hashes_are_protocol_errors(msg: Heads) -> None:
    with pytest.raises(RemoteProtocolError) as e:
        Replicator().on_message("p", msg, {})
    assert e.value.reason == "bad_heads"


def test_head_messages_round_trip_and_the_retired_numbers_are_refused() -> None:
    for msg in (heads_digest({F: Head(3, H1)}),
                Heads((bytes(32),), (3,), (H1[:HEAD_HASH_BYTES],)), Heads((bytes(32),), (3,))):
        assert wire.decode(wire.encode(msg)) == msg
    assert wire.type_number(HeadsDigest) == 73 and wire.type_number(Heads) == 74
    for retired in (66, 68):  # seq-only digests and heads: numbers are never reused
        with pytest.raises(wire.DecodeError) as e:
            wire.decode(bytes([0x92, retired, 0x90]))
        assert e.value.reason == "unknown_type"


def test_a_probe_lost_on_the_way_is_sent_again_after_the_want_deadline() -> None:
    me = Replicator()
    mine = {F: Head(5, H1)}
    me.on_link_up("p", mine)
    theirs = Heads((bytes.fromhex(F),), (5,), (H2[:16],))
    [probe] = sent(me.on_message("p", theirs, mine))
    assert probe == Want(bytes.fromhex(F), 5, 1)  # ... lost
    next_round(me, mine)
    next_round(me, mine)  # dropped after two silent rounds; the next Heads probes again
    assert sent(me.on_message("p", theirs, mine)) == [probe]
