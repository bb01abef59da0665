"""The passive view's addrman-style tables and the eclipse rules that use them (issue #8.5)."""

from __future__ import annotations

import random
from dataclasses import replace

from hartnode.gossip.admission import LinkFacts
from hartnode.gossip.hyparview import (
    Connect,
    Disconnect,
    HyParView,
    Join,
    Neighbour,
    NeighbourReply,
    PeerInfo,
    Send,
    ShuffleReply,
)
from hartnode.gossip.overlay_config import full
from hartnode.gossip.passive_view import (
    NEW_BUCKET_SLOTS,
    NEW_BUCKETS_PER_SOURCE,
    PassiveView,
    address_group,
)

SALT = bytes(range(16))


def info(name: str, addr: str = "") -> PeerInfo:
    return PeerInfo(name, addr or f"sim://{name}")


def core(**changes: object) -> HyParView:
    cfg = replace(full(), **changes)  # type: ignore[arg-type]
    return HyParView(info("me"), cfg, random.Random(5), 0.0, salt=SALT)


def linked(hv: HyParView, name: str, now: float, group: str = "") -> None:
    hv.on_link_up(name, now, LinkFacts(group or f"g-{name}"))


def requests(out: list[object]) -> list[str]:
    return [e.peer for e in out if isinstance(e, Send) and isinstance(e.msg, Neighbour)]


def make_tried(hv: HyParView, name: str, now: float) -> None:
    """``name`` becomes our own pick (a repair it accepted), then leaves: it is tried."""
    hv.passive[name] = f"sim://{name}"
    hv._guard.chosen.add(name)  # as _repair marks it
    linked(hv, name, now)
    hv._pending[name] = (now + 5.0, f"sim://{name}")
    hv.on_message(name, NeighbourReply(True), now)
    assert name in hv.active
    hv.on_message(name, Disconnect(), now + 1.0)
    assert hv._passive.is_tried(name)


def test_address_groups_are_networks_not_hosts() -> None:
    assert address_group("203.0.113.7:7000") == address_group("203.0.200.9:1") == "203.0.0.0/16"
    assert address_group("[2001:db8:1:2::5]:7000") == "2001:db8::/32"
    assert address_group("[::ffff:203.0.113.7]:7000") == "203.0.0.0/16"
    assert address_group("sim://n1") == "sim://n1"  # no IP: its own group
    assert address_group("example.org:7000") == "example.org:7000"


def test_one_source_holds_a_bounded_share_of_a_contested_new_table() -> None:
    view = PassiveView(30, SALT, random.Random(1))
    # A flooding source fills the view while it has room...
    for i in range(200):
        view.add_new(f"s{i}", f"10.{i % 250}.0.1:7000", "flooder", set())
    assert len(view) == 30
    flooder_buckets = {view.new_bucket(f"10.{i % 250}.0.1:7000", "flooder") for i in range(200)}
    assert len(flooder_buckets) <= NEW_BUCKETS_PER_SOURCE
    # ...then honest sources each relay a few: the flooder's crowded buckets go first.
    for i in range(300):
        view.add_new(f"h{i}", f"192.{i % 200}.0.1:7000", f"source{i % 40}", set())
    left = sum(1 for p in view.entries if p.startswith("s"))
    assert left <= NEW_BUCKETS_PER_SOURCE * NEW_BUCKET_SLOTS
    assert len(view) == 30


def test_buckets_are_keyed_by_the_secret_salt() -> None:
    a = PassiveView(300, b"a" * 16, random.Random(1))
    b = PassiveView(300, b"b" * 16, random.Random(1))
    sources = [f"src{i}" for i in range(20)]
    assert [a.new_bucket("10.0.0.1:1", s) for s in sources] != [
        b.new_bucket("10.0.0.1:1", s) for s in sources]


def test_tried_entries_are_never_displaced_by_heard_of_ones() -> None:
    view = PassiveView(30, SALT, random.Random(1))
    view.add_tried("mine", "198.51.100.1:7000")
    for i in range(500):
        view.add_new(f"x{i}", f"10.{i % 250}.{i // 250}.1:7000", f"src{i % 7}", {"mine"})
        assert view.is_tried("mine")
    assert len(view) == 30


def test_a_shuffle_cannot_push_out_a_peer_we_linked_to_ourselves() -> None:
    hv = core()
    make_tried(hv, "old", 1.0)
    linked(hv, "a", 2.0)
    hv.on_message("a", Join(info("a")), 2.0)
    for k in range(20):  # floods of addresses, as a sybil's shuffles carry them
        peers = tuple(info(f"s{k}-{i}") for i in range(60))
        hv.on_message("a", ShuffleReply(peers), 3.0 + k)
        assert "old" in hv.passive and hv._passive.is_tried("old")


def test_repair_asks_tried_peers_first_and_one_per_address_group() -> None:
    hv = core()
    for name in ("t1", "t2"):
        hv._passive.add_tried(name, f"sim://{name}")
    # Heard-of entries: four in one network, one elsewhere.
    for i in range(4):
        hv._passive.add_new(f"c{i}", f"198.18.{i}.1:7000", "src", set())
    hv._passive.add_new("lone", "203.0.113.9:7000", "src", set())
    asked: list[str] = []
    for _ in range(5):  # the first keepalive repairs the empty view: five dials
        asked = [e.peer for e in hv.handle_timer(hv.get_timer()) if isinstance(e, Connect)]
        if asked:
            break
    assert len(asked) == hv.config.active_view_size
    assert set(asked[:2]) == {"t1", "t2"}
    # One per network before any second: lone and one of the crowded network
    # come first, a second of the crowded network only to fill the last slot.
    assert "lone" in asked[2:4] and asked[2:4] != ["lone", "lone"]
    assert sum(1 for p in asked[:4] if p.startswith("c")) == 1


def test_a_stranger_forcing_in_evicts_young_links_not_long_lived_ones() -> None:
    hv = core(protected_outbound=0, join_eviction_interval=0.1, join_group_interval=0.1)
    for i, name in enumerate("abcd"):
        linked(hv, name, float(i))
        hv.on_message(name, Join(info(name)), float(i))
    now = 100.0  # a..d are long-lived now
    for i in range(30):
        linked(hv, f"x{i}", now + i)
        hv.on_message(f"x{i}", Join(info(f"x{i}")), now + i)
        assert set("abcd") <= set(hv.active)


def strangers_spend_the_burst(hv: HyParView, now: float) -> None:
    """Strangers fill the view, then force in a view's worth more (the whole burst)."""
    for i in range(2 * hv.config.active_view_size):
        linked(hv, f"x{i}", now)
        out = hv.on_message(f"x{i}", Neighbour(info(f"x{i}"), True), now)
        assert Send(f"x{i}", NeighbourReply(True)) in out


def test_a_known_peer_gets_back_in_when_strangers_spent_the_forced_admissions() -> None:
    hv = core(protected_outbound=0)
    make_tried(hv, "old", 1.0)
    strangers_spend_the_burst(hv, 2.0)
    linked(hv, "y", 2.0)
    out = hv.on_message("y", Neighbour(info("y"), True), 2.0)
    assert Send("y", NeighbourReply(False)) in out  # the strangers' budget is spent
    linked(hv, "old", 2.0)
    out = hv.on_message("old", Neighbour(info("old"), False), 2.0)
    assert Send("old", NeighbourReply(True)) in out and "old" in hv.active


def test_a_refused_high_priority_request_is_answered_with_peers_to_ask() -> None:
    hv = core(protected_outbound=0)
    strangers_spend_the_burst(hv, 2.0)
    linked(hv, "lost", 2.0)
    out = hv.on_message("lost", Neighbour(info("lost"), True), 2.0)
    kinds = [type(e.msg) for e in out if isinstance(e, Send) and e.peer == "lost"]
    assert kinds == [ShuffleReply, NeighbourReply]  # the sample first: it repairs on the refusal
