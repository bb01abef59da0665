"""Transitions of the HyParView membership core, driven by hand (no network, no clock)."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TypeVar

import pytest

from hartnode.gossip.hyparview import (
    ALL_MESSAGES,
    CloseLink,
    Connect,
    Disconnect,
    ForwardJoin,
    HyParView,
    Join,
    MembershipEffect,
    Neighbour,
    NeighbourDown,
    NeighbourReply,
    NeighbourUp,
    PeerInfo,
    Ping,
    Pong,
    Shuffle,
    ShuffleReply,
)
from hartnode.gossip.overlay_config import full
from hartnode.gossip.plumtree import Prune
from hartnode.protocol import LocalProtocolError, RemoteProtocolError, Send

T = TypeVar("T")
CFG = full()


def info(name: str) -> PeerInfo:
    return PeerInfo(name, f"sim://{name}")


def node(name: str = "me", seed: int = 1, **changes: object) -> HyParView:
    cfg = replace(CFG, **changes)  # type: ignore[arg-type]
    return HyParView(info(name), cfg, random.Random(seed), 0.0)


def of(effects: list[MembershipEffect], kind: type[T]) -> list[T]:
    return [e for e in effects if isinstance(e, kind)]


def sent(effects: list[MembershipEffect], kind: type[T]) -> list[tuple[str, T]]:
    return [(e.peer, e.msg) for e in of(effects, Send) if isinstance(e.msg, kind)]


def befriend(hv: HyParView, name: str, now: float = 0.0) -> list[MembershipEffect]:
    """``name`` dials us and asks to be a neighbour with high priority."""
    out = hv.on_link_up(name, now)
    return out + hv.on_message(name, Neighbour(info(name), True), now)


def test_messages_are_frozen_and_listed_once() -> None:
    assert len(set(ALL_MESSAGES)) == len(ALL_MESSAGES) == 9
    with pytest.raises(AttributeError):
        Ping(1).nonce = 2  # type: ignore[misc]


def test_join_dials_the_contact_and_adds_it_when_the_link_is_up() -> None:
    hv = node()
    out = hv.join([info("c")], 0.0)
    assert out == [Connect("c", "sim://c")]
    assert hv.active == {} and not hv.is_isolated()
    out = hv.on_link_up("c", 0.1)
    assert sent(out, Join) == [("c", Join(info("me")))]
    assert of(out, NeighbourUp) == [NeighbourUp("c")]
    assert hv.active == {"c": "sim://c"}


def test_contact_adds_joiner_and_starts_a_walk_per_other_neighbour() -> None:
    hv = node()
    befriend(hv, "a")
    befriend(hv, "b")
    hv.on_link_up("j", 1.0)
    out = hv.on_message("j", Join(info("j")), 1.0)
    assert "j" in hv.active
    walks = sent(out, ForwardJoin)
    assert sorted(p for p, _ in walks) == ["a", "b"]
    assert all(m == ForwardJoin(info("j"), CFG.active_random_walk_length) for _, m in walks)
    # The joiner's passive view is seeded with peers other than itself.
    (reply,) = sent(out, ShuffleReply)
    assert reply[0] == "j" and {p.node_id for p in reply[1].peers} <= {"a", "b"}


def test_joiner_behind_nat_gets_no_walks() -> None:
    hv = node()
    befriend(hv, "a")
    hv.on_link_up("j", 1.0)
    out = hv.on_message("j", Join(PeerInfo("j", "")), 1.0)
    assert "j" in hv.active and sent(out, ForwardJoin) == []
    assert "j" not in hv.passive  # never stored where it would be dialled


def test_full_contact_drops_a_random_neighbour_for_the_joiner() -> None:
    hv = node(admission_guard=False)  # the paper's rule (the guard's: test_admission.py)
    for name in "abcde":
        befriend(hv, name)
    hv.on_link_up("j", 1.0)
    out = hv.on_message("j", Join(info("j")), 1.0)
    (victim,) = [p for p, _ in sent(out, Disconnect)]
    assert CloseLink(victim) in out and NeighbourDown(victim) in out
    assert victim not in hv.active and victim in hv.passive
    assert len(hv.active) == CFG.active_view_size and "j" in hv.active


def test_forward_join_walks_adds_to_passive_at_prwl_and_links_at_the_end() -> None:
    hv = node()
    befriend(hv, "a")
    befriend(hv, "b")
    out = hv.on_message("a", ForwardJoin(info("j"), 4), 1.0)
    assert sent(out, ForwardJoin) == [("b", ForwardJoin(info("j"), 3))]
    assert "j" not in hv.passive
    out = hv.on_message("a", ForwardJoin(info("j"), CFG.passive_random_walk_length), 1.0)
    assert "j" in hv.passive
    out = hv.on_message("a", ForwardJoin(info("k"), 0), 1.0)
    assert out == [Connect("k", "sim://k")]
    out = hv.on_link_up("k", 1.2)
    assert sent(out, Neighbour) == [("k", Neighbour(info("me"), True))]
    out = hv.on_message("k", NeighbourReply(True), 1.3)
    assert of(out, NeighbourUp) == [NeighbourUp("k")] and "k" in hv.active


def test_forward_join_ends_early_when_only_the_sender_is_a_neighbour() -> None:
    hv = node()
    befriend(hv, "a")
    out = hv.on_message("a", ForwardJoin(info("j"), 5), 1.0)
    assert out == [Connect("j", "sim://j")]


def test_lost_neighbour_is_replaced_from_the_passive_view_at_once() -> None:
    hv = node()
    befriend(hv, "a")
    hv.on_message("a", ShuffleReply((info("p1"), info("p2"))), 0.5)
    out = hv.on_link_down("a", 1.0)
    assert NeighbourDown("a") in out
    dials = of(out, Connect)
    assert {d.peer for d in dials} == {"p1", "p2"}  # every free slot asked at once
    out = hv.on_link_up(dials[0].peer, 1.1)
    # No neighbour left: the request is high priority (it must be accepted).
    assert sent(out, Neighbour) == [(dials[0].peer, Neighbour(info("me"), True))]
    out = hv.on_message(dials[0].peer, NeighbourReply(True), 1.2)
    assert NeighbourUp(dials[0].peer) in out


def test_failed_dial_removes_the_candidate_and_tries_another() -> None:
    hv = node()
    befriend(hv, "a")
    hv.on_message("a", ShuffleReply((info("p1"),)), 0.5)
    hv.on_link_down("a", 1.0)  # asks p1
    out = hv.on_link_down("p1", 1.5)  # the dial failed
    assert "p1" not in hv.passive
    # Nothing left to ask, no contacts: isolated, waiting.
    assert out == [] and hv.is_isolated()


def test_low_priority_request_is_refused_by_a_full_view_high_priority_is_not() -> None:
    hv = node(admission_guard=False)  # the paper's rule (the guard's: test_admission.py)
    for name in "abcde":
        befriend(hv, name)
    hv.on_link_up("x", 1.0)
    out = hv.on_message("x", Neighbour(info("x"), False), 1.0)
    assert sent(out, NeighbourReply) == [("x", NeighbourReply(False))]
    assert "x" not in hv.active and "x" in hv.passive
    out = hv.on_message("x", Neighbour(info("x"), True), 1.1)
    assert sent(out, NeighbourReply) == [("x", NeighbourReply(True))]
    assert "x" in hv.active and len(hv.active) == CFG.active_view_size


def test_refused_request_closes_the_link() -> None:
    hv = node()
    befriend(hv, "a")
    hv.on_message("a", ShuffleReply((info("p1"),)), 0.5)
    hv.on_link_down("b", 0.6)  # unrelated
    out = hv.handle_timer(CFG.keepalive_interval)  # refill: ask p1 (low priority? 1 of 5 left)
    assert of(out, Connect) == [Connect("p1", "sim://p1")]
    hv.on_link_up("p1", CFG.keepalive_interval + 0.1)
    out = hv.on_message("p1", NeighbourReply(False), CFG.keepalive_interval + 0.2)
    assert out == [CloseLink("p1")] and "p1" not in hv.active


def test_disconnect_moves_the_peer_to_passive() -> None:
    hv = node()
    befriend(hv, "a")
    befriend(hv, "b")
    out = hv.on_message("a", Disconnect(), 1.0)
    assert NeighbourDown("a") in out and CloseLink("a") in out
    assert "a" not in hv.active and "a" in hv.passive


def test_shuffle_walks_and_the_end_replies_to_the_origin() -> None:
    hv = node()
    befriend(hv, "a")
    befriend(hv, "b")
    offer = (info("x"), info("y"))
    out = hv.on_message("a", Shuffle(info("o"), offer, 3), 1.0)
    assert sent(out, Shuffle) == [("b", Shuffle(info("o"), offer, 2))]
    hv.on_message("a", ShuffleReply((info("q"),)), 1.1)  # something to give back
    out = hv.on_message("a", Shuffle(info("o"), offer, 1), 1.2)
    assert out == [Connect("o", "sim://o")]
    assert {"o", "x", "y"} <= set(hv.passive)
    out = hv.on_link_up("o", 1.3)
    (reply,) = sent(out, ShuffleReply)
    assert reply[0] == "o" and all(p.node_id != "o" for p in reply[1].peers)
    assert out[-1] == CloseLink("o")  # a one-off link


def test_periodic_shuffle_offers_self_and_a_sample() -> None:
    hv = node()
    befriend(hv, "a")
    befriend(hv, "b")
    out = hv.handle_timer(CFG.shuffle_interval)
    ((target, msg),) = sent(out, Shuffle)
    assert target in ("a", "b") and msg.origin == info("me")
    assert msg.ttl == CFG.shuffle_walk_length
    assert [p.node_id for p in msg.peers] == [p for p in ("a", "b") if p != target]


def test_passive_view_is_bounded() -> None:
    hv = node(passive_view_size=3)
    befriend(hv, "a")
    peers = tuple(info(f"p{i}") for i in range(10))
    hv.on_message("a", ShuffleReply(peers), 1.0)
    assert len(hv.passive) == 3


def test_idle_neighbour_is_pinged_and_replaced_after_the_timeout() -> None:
    hv = node(keepalive_interval=5.0, ping_timeout=5.0)
    befriend(hv, "a")
    befriend(hv, "b", 4.0)
    t = hv.get_timer()
    while t < 5.0:
        hv.handle_timer(t)
        t = hv.get_timer()
    out = hv.handle_timer(t)
    pings = sent(out, Ping)
    assert [p for p, _ in pings] == ["a"]  # b spoke at 4.0, a has been silent since 0
    hv.on_message("a", Pong(pings[0][1].nonce), t + 0.1)
    out = hv.handle_timer(t + 5.0)  # a answered; b has now been silent for 5 s
    assert [p for p, _ in sent(out, Ping)] == ["b"]
    out = hv.handle_timer(t + 10.0)  # b never answered
    assert CloseLink("b") in out and NeighbourDown("b") in out
    assert list(hv.active) == ["a"]


def test_ping_from_a_non_neighbour_is_answered_with_disconnect() -> None:
    hv = node()
    hv.on_link_up("x", 1.0)
    assert hv.on_message("x", Ping(7), 1.0) == [Send("x", Disconnect())]
    befriend(hv, "a")
    assert hv.on_message("a", Ping(8), 1.0) == [Send("a", Pong(8))]


def test_failed_neighbour_is_retried_with_high_priority_later() -> None:
    hv = node(reconnect_interval=10.0)
    befriend(hv, "a")
    befriend(hv, "b")
    hv.on_link_down("a", 1.0)  # failed; no passive peers to replace it
    t = 1.0
    dials: list[Connect] = []
    while not dials:
        t = hv.get_timer()
        dials = [c for c in of(hv.handle_timer(t), Connect) if c.peer == "a"]
    assert t <= 1.0 + 12.5
    out = hv.on_link_up("a", t + 0.1)
    assert sent(out, Neighbour) == [("a", Neighbour(info("me"), True))]


def test_pending_request_times_out() -> None:
    hv = node(neighbour_timeout=2.0, keepalive_interval=100.0, shuffle_interval=100.0)
    befriend(hv, "a")
    hv.on_message("a", ShuffleReply((info("p1"),)), 0.5)
    hv.on_link_down("a", 1.0)  # asks p1, which never answers
    assert hv.get_timer() == pytest.approx(3.0)
    out = hv.handle_timer(3.0)
    assert CloseLink("p1") in out and "p1" not in hv.passive


def test_protocol_violations_raise_typed_errors_without_state_change() -> None:
    hv = node()
    hv.on_link_up("j", 0.0)
    with pytest.raises(RemoteProtocolError) as err:
        hv.on_message("j", Join(info("someone-else")), 0.0)
    assert err.value.reason == "join_peer_mismatch" and hv.active == {}
    with pytest.raises(RemoteProtocolError) as err:
        hv.on_message("j", ForwardJoin(info("k"), 1000), 0.0)
    assert err.value.reason == "bad_ttl"
    too_many = tuple(info(f"p{i}") for i in range(100))
    with pytest.raises(RemoteProtocolError) as err:
        hv.on_message("j", ShuffleReply(too_many), 0.0)
    assert err.value.reason == "peer_list_too_long" and hv.passive == {}
    with pytest.raises(LocalProtocolError):
        hv.on_message("j", Prune(b"x"), 0.0)


def test_same_seed_same_decisions() -> None:
    def run(seed: int) -> list[MembershipEffect]:
        hv = node(seed=seed)
        for name in "abcde":
            befriend(hv, name)
        hv.on_link_up("j", 1.0)
        return hv.on_message("j", Join(info("j")), 1.0) + hv.handle_timer(CFG.shuffle_interval)

    assert run(3) == run(3)
    assert any(run(3) != run(s) for s in range(4, 10))
