"""Transitions of the Plumtree broadcast core, driven by hand (no network, no clock)."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TypeVar

import pytest

from hartnode.gossip.hyparview import Ping
from hartnode.gossip.overlay_config import full
from hartnode.gossip.plumtree import (
    ALL_MESSAGES,
    BroadcastEffect,
    Deliver,
    Gossip,
    Graft,
    IHave,
    Plumtree,
    Prune,
)
from hartnode.protocol import LocalProtocolError, RemoteProtocolError, Send

T = TypeVar("T")
CFG = full()
M1, M2, M3 = b"m1" * 8, b"m2" * 8, b"m3" * 8


def core(*neighbours: str, **changes: object) -> Plumtree:
    pt = Plumtree("me", replace(CFG, **changes), random.Random(1))  # type: ignore[arg-type]
    for p in neighbours:
        pt.on_neighbour_up(p, 0.0)
    return pt


def sent(effects: list[BroadcastEffect], kind: type[T]) -> list[tuple[str, T]]:
    return [(e.peer, e.msg) for e in effects if isinstance(e, Send) and isinstance(e.msg, kind)]


def delivered(effects: list[BroadcastEffect]) -> list[Deliver]:
    return [e for e in effects if isinstance(e, Deliver)]


def flush(pt: Plumtree) -> list[BroadcastEffect]:
    deadline = pt.get_timer()
    assert deadline is not None
    return pt.handle_timer(deadline)


def test_messages_are_listed_once() -> None:
    assert (Gossip, IHave, Graft, Prune) == ALL_MESSAGES


def test_broadcast_delivers_here_and_pushes_to_every_neighbour() -> None:
    pt = core("a", "b")
    out = pt.broadcast(M1, b"hello", 0.0)
    assert delivered(out) == [Deliver(M1, b"hello", 0)]
    assert sent(out, Gossip) == [("a", Gossip(M1, 1, b"hello")), ("b", Gossip(M1, 1, b"hello"))]
    with pytest.raises(LocalProtocolError):
        pt.broadcast(M1, b"again", 0.0)
    with pytest.raises(LocalProtocolError):
        pt.broadcast(b"", b"empty id", 0.0)


def test_first_copy_is_delivered_and_forwarded_duplicate_is_pruned() -> None:
    pt = core("a", "b", "c")
    out = pt.on_message("a", Gossip(M1, 3, b"x"), 1.0)
    assert delivered(out) == [Deliver(M1, b"x", 3)]
    assert [p for p, _ in sent(out, Gossip)] == ["b", "c"]
    assert all(m.hops == 4 for _, m in sent(out, Gossip))
    out = pt.on_message("b", Gossip(M1, 3, b"x"), 1.1)  # same hops: the later copy loses
    assert delivered(out) == [] and out == [Send("b", Prune(M1))]
    assert "b" in pt.lazy and "b" not in pt.eager


def test_shorter_duplicate_becomes_the_parent_and_the_old_parent_is_pruned() -> None:
    pt = core("a", "b")
    pt.on_message("a", Gossip(M1, 6, b"x"), 1.0)
    out = pt.on_message("b", Gossip(M1, 2, b"x"), 1.1)
    assert delivered(out) == []
    assert out == [Send("b", Graft(b"", 2)), Send("a", Prune(M1))]
    assert list(pt.eager) == ["b"] and list(pt.lazy) == ["a"]
    # b pruned us for our own (longer) copy before our Graft reached it:
    # ignored, since we chose b as the parent for exactly that message.
    assert pt.on_message("b", Prune(M1), 1.2) == [] and "b" in pt.eager


def test_a_shorter_path_is_passed_down_the_subtree() -> None:
    pt = core("a", "b", "c")
    pt.on_message("a", Gossip(M1, 6, b"x"), 1.0)
    out = pt.on_message("b", Gossip(M1, 2, b"x"), 1.1)
    assert out == [
        Send("b", Graft(b"", 2)),
        Send("a", Prune(M1)),
        Send("c", Gossip(M1, 3, b"x")),  # c now learns its true distance through us
    ]
    # Our parent b itself found a shorter path: we pass it on again, without grafting.
    out = pt.on_message("b", Gossip(M1, 1, b"x"), 1.2)
    assert out == [Send("c", Gossip(M1, 2, b"x"))]
    assert delivered(out) == [] and set(pt.eager) == {"b", "c"}


def test_once_the_tree_is_built_a_later_copy_is_pruned_as_in_the_paper() -> None:
    pt = core("a", "b")
    pt.on_message("a", Gossip(M1, 2, b"x"), 1.0)
    pt.on_message("a", Gossip(M2, 6, b"y"), 2.0)
    out = pt.on_message("b", Gossip(M2, 2, b"y"), 2.1)  # shorter, but the tree stays
    assert out == [Send("b", Prune(M2))] and list(pt.eager) == ["a"]


def test_losing_a_tree_link_makes_grafts_faster_for_a_while() -> None:
    pt = core("a", "b", "c")
    pt.on_message("c", Prune(M3), 0.0)
    pt.on_neighbour_down("a", 1.0)  # an eager link: the tree is cut here
    pt.on_message("c", IHave(((M1, 2),)), 1.0)
    assert pt.get_timer() == pytest.approx(1.0 + CFG.graft_retry_timeout)
    assert pt.handle_timer(1.0 + CFG.graft_retry_timeout) == [Send("c", Graft(M1, 2))]
    pt.on_neighbour_down("c", 2.0)  # lazy: no effect on timing
    assert pt.handle_timer(2.0) == [] and pt.get_timer() is None  # nobody left to ask
    late = 1.0 + 10 * CFG.graft_timeout + 1.0
    pt.on_message("b", Prune(M3), late)
    pt.on_message("b", IHave(((M2, 2),)), late)
    assert pt.get_timer() == pytest.approx(late + CFG.graft_timeout)


def test_a_link_that_just_fed_a_first_copy_is_not_pruned_until_its_broadcast_is_done() -> None:
    # Broadcasts from two sources at once: b is our tree link for M2 (first copy),
    # so b's duplicate of M1 a moment later must not cut it; once graft_timeout has
    # passed without b feeding us anything new, the paper's rule applies again.
    pt = core("a", "b", "c")
    pt.on_message("a", Gossip(M1, 1, b"x"), 1.0)
    pt.on_message("b", Gossip(M2, 1, b"y"), 1.0)
    assert pt.on_message("b", Gossip(M1, 3, b"x"), 1.1) == [] and "b" in pt.eager
    quiet = 1.0 + CFG.graft_timeout
    assert pt.on_message("b", Gossip(M1, 3, b"x"), quiet) == [Send("b", Prune(M1))]
    assert "b" in pt.lazy


def test_a_prune_from_a_link_that_just_fed_a_first_copy_waits_too() -> None:
    pt = core("a", "b")
    pt.on_message("a", Gossip(M1, 1, b"x"), 1.0)
    pt.on_message("b", Gossip(M2, 1, b"y"), 1.0)
    # b has the link lazy at its end now: the GRAFT makes it push to us again.
    assert pt.on_message("b", Prune(M1), 1.2) == [Send("b", Graft(b"", 1))]
    assert "b" in pt.eager
    pt.on_message("b", Prune(M1), 1.0 + CFG.graft_timeout)
    assert "b" in pt.lazy


def test_copy_duplicated_by_the_network_keeps_the_tree_link() -> None:
    pt = core("a", "b")
    pt.on_message("a", Gossip(M1, 2, b"x"), 1.0)
    assert pt.on_message("a", Gossip(M1, 2, b"x"), 1.0) == []
    assert "a" in pt.eager


def test_prune_makes_the_link_lazy() -> None:
    pt = core("a", "b")
    assert pt.on_message("a", Prune(M2), 1.0) == []
    assert "a" in pt.lazy and "a" not in pt.eager
    out = pt.broadcast(M1, b"x", 1.0)
    assert [p for p, _ in sent(out, Gossip)] == ["b"]


def test_lazy_neighbours_get_one_batched_ihave_per_tick() -> None:
    pt = core("a", "b", "c")
    pt.on_message("b", Prune(M3), 0.0)
    pt.on_message("c", Prune(M3), 0.0)
    out = pt.on_message("a", Gossip(M1, 1, b"x"), 1.0)
    assert sent(out, IHave) == []  # batched, not sent yet
    pt.on_message("a", Gossip(M2, 1, b"y"), 1.1)
    assert pt.get_timer() == pytest.approx(1.0 + CFG.ihave_interval)
    out = flush(pt)
    assert sorted(sent(out, IHave)) == [
        ("b", IHave(((M1, 2), (M2, 2)))),
        ("c", IHave(((M1, 2), (M2, 2)))),
    ]
    assert pt.get_timer() is None


def test_ihave_from_a_peer_cancels_our_announcement_of_that_id_to_it() -> None:
    pt = core("a", "b")
    pt.on_message("b", Prune(M3), 0.0)
    pt.on_message("a", Gossip(M1, 1, b"x"), 1.0)
    pt.on_message("b", IHave(((M1, 4),)), 1.05)
    assert sent(flush(pt), IHave) == []


def test_missing_message_is_grafted_after_the_timeout_then_from_the_next_announcer() -> None:
    pt = core("a", "b")
    pt.on_message("a", Prune(M3), 0.0)
    pt.on_message("b", Prune(M3), 0.0)
    assert pt.on_message("a", IHave(((M1, 2),)), 1.0) == []
    assert pt.on_message("b", IHave(((M1, 3),)), 1.2) == []
    assert pt.get_timer() == pytest.approx(1.0 + CFG.graft_timeout)
    out = flush(pt)
    assert out == [Send("a", Graft(M1, 2))] and "a" in pt.eager
    out = flush(pt)  # a did not answer within the retry timeout
    assert out == [Send("b", Graft(M1, 3))]
    out = pt.on_message("b", Gossip(M1, 3, b"x"), 2.8)
    assert delivered(out) == [Deliver(M1, b"x", 3)]
    assert pt.get_timer() is None  # nothing left to graft


def test_arrival_cancels_the_graft_timer() -> None:
    pt = core("a", "b")
    pt.on_message("b", Prune(M3), 0.0)
    pt.on_message("b", IHave(((M1, 2),)), 1.0)
    pt.on_message("a", Gossip(M1, 2, b"x"), 1.5)
    out = pt.handle_timer(1.0 + CFG.graft_timeout)
    assert sent(out, Graft) == []


def test_graft_sends_the_cached_message_and_makes_the_link_eager() -> None:
    pt = core("a", "b")
    pt.on_message("b", Prune(M3), 0.0)
    pt.on_message("a", Gossip(M1, 1, b"x"), 1.0)
    out = pt.on_message("b", Graft(M1, 2), 2.0)
    assert out == [Send("b", Gossip(M1, 2, b"x"))] and "b" in pt.eager
    pt.on_message("b", Prune(M3), 2.1)
    assert pt.on_message("b", Graft(b"", 2), 2.2) == [] and "b" in pt.eager
    assert pt.on_message("b", Graft(M2, 2), 2.3) == []  # unknown: nothing to send


def test_each_message_is_delivered_once_whatever_the_paths() -> None:
    pt = core("a", "b", "c")
    deliveries: list[Deliver] = []
    rng = random.Random(5)
    ids = [bytes([i]) * 16 for i in range(20)]
    for _ in range(200):
        msg_id = rng.choice(ids)
        sender = rng.choice("abc")
        deliveries += delivered(
            pt.on_message(sender, Gossip(msg_id, rng.randrange(1, 9), b"p"), 1.0)
        )
    assert sorted(d.msg_id for d in deliveries) == sorted(set(d.msg_id for d in deliveries))
    assert len(deliveries) == 20


def test_seen_cache_is_bounded_and_forgets_the_oldest() -> None:
    pt = core("a", seen_cache_size=3, payload_cache_size=2)
    for i in range(5):
        pt.on_message("a", Gossip(bytes([i]) * 16, 1, b"p"), 1.0)
    assert [pt.has_seen(bytes([i]) * 16) for i in range(5)] == [False, False, True, True, True]


def test_neighbours_eager_before_the_first_message_lazy_after() -> None:
    pt = core("a")
    assert list(pt.eager) == ["a"]
    pt.on_message("a", Gossip(M1, 1, b"x"), 1.0)
    pt.on_neighbour_up("b", 2.0)
    assert "b" in pt.lazy
    pt.on_neighbour_down("a", 3.0)
    assert "a" not in pt.eager and "a" not in pt.lazy


def test_fresh_node_in_an_existing_tree_joins_it_by_graft_not_by_flooding() -> None:
    pt = core("a", "b", "c")
    pt.on_message("b", IHave(((M1, 5),)), 1.0)
    assert pt.eager == {} and set(pt.lazy) == {"a", "b", "c"}
    out = flush(pt)
    assert out == [Send("b", Graft(M1, 5))]
    out = pt.on_message("b", Gossip(M1, 5, b"x"), 1.6)
    assert sent(out, Gossip) == []  # only IHAVEs to the others


def test_lazy_fanout_limits_announcements() -> None:
    pt = core("a", "b", "c", "d", lazy_fanout=1)
    for p in "bcd":
        pt.on_message(p, Prune(M3), 0.0)
    pt.on_message("a", Gossip(M1, 1, b"x"), 1.0)
    assert len(sent(flush(pt), IHave)) == 1


def test_malformed_messages_raise_typed_errors() -> None:
    pt = core("a")
    cases = [
        (Gossip(b"", 1, b"x"), "bad_gossip"),
        (Gossip(M1, 0, b"x"), "bad_gossip"),
        (IHave(((b"x" * 65, 1),)), "bad_ihave"),
        (IHave(tuple((bytes([i % 256]) * 4, 1) for i in range(5000))), "ihave_too_long"),
        (Graft(M1, -1), "bad_graft"),
        (Prune(b"x" * 65), "bad_prune"),
    ]
    for msg, reason in cases:
        with pytest.raises(RemoteProtocolError) as err:
            pt.on_message("a", msg, 1.0)
        assert err.value.reason == reason
    assert not pt.has_seen(M1) and pt.get_timer() is None
    with pytest.raises(LocalProtocolError):
        pt.on_message("a", Ping(1), 1.0)


def test_with_validate_a_message_is_relayed_only_once_judged_valid() -> None:
    pt = Plumtree("me", CFG, random.Random(1), validate=True)
    for p in ("a", "b", "c"):
        pt.on_neighbour_up(p, 0.0)
    pt.on_message("c", Prune(M3), 0.0)  # c is lazy: it would get an IHAVE
    out = pt.on_message("a", Gossip(M1, 1, b"x"), 1.0)
    assert delivered(out) == [Deliver(M1, b"x", 1)] and sent(out, Gossip) == []
    assert pt.get_timer() is None  # no IHAVE queued either
    assert pt.on_message("b", Graft(M1, 1), 1.1) == []  # nothing to serve yet
    out = pt.validated(M1, True, 1.2)
    assert sent(out, Gossip) == [("b", Gossip(M1, 2, b"x"))]
    assert sent(flush(pt), IHave) == [("c", IHave(((M1, 2),)))]
    assert pt.validated(M1, True, 1.3) == []  # judged once


def test_with_validate_a_refused_message_dies_here() -> None:
    pt = Plumtree("me", CFG, random.Random(1), validate=True)
    for p in ("a", "b"):
        pt.on_neighbour_up(p, 0.0)
    pt.on_message("a", Gossip(M1, 1, b"forged"), 1.0)
    assert pt.validated(M1, False, 1.1) == []
    assert pt.on_message("b", Graft(M1, 1), 1.2) == []  # never served to a GRAFT
    assert delivered(pt.on_message("b", Gossip(M1, 1, b"forged"), 1.3)) == []  # seen
    assert pt.get_timer() is None
    # Our own broadcasts need no verdict.
    assert sent(pt.broadcast(M2, b"mine", 2.0), Gossip) == [("a", Gossip(M2, 1, b"mine"))]
