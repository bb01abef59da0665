"""The eclipse guard of HyParView's active view (issue #8.5), driven by hand and simulated."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from hartnode.gossip.admission import LinkFacts
from hartnode.gossip.hyparview import (
    Disconnect,
    ForwardJoin,
    HyParView,
    Join,
    Neighbour,
    NeighbourReply,
    PeerInfo,
)
from hartnode.gossip.overlay_config import full
from hartnode.protocol import Send
from hartnode.testing.sim_eclipse import EclipseOptions, run_eclipse


def info(name: str) -> PeerInfo:
    return PeerInfo(name, f"sim://{name}")


def core(**changes: object) -> HyParView:
    return HyParView(info("me"), replace(full(), **changes), random.Random(7), 0.0)  # type: ignore[arg-type]


def join(hv: HyParView, name: str, now: float, group: str = "") -> list[object]:
    out: list[object] = list(hv.on_link_up(name, now, LinkFacts(group or f"g-{name}")))
    return out + list(hv.on_message(name, Join(info(name)), now))


def disconnected(out: list[object], name: str) -> bool:
    return any(isinstance(e, Send) and e.peer == name and isinstance(e.msg, Disconnect)
               for e in out)


def fill_by_joins(hv: HyParView, names: list[str], now: float = 0.0) -> None:
    for i, name in enumerate(names):
        join(hv, name, now + 10.0 * i)  # spaced beyond the eviction interval


def test_neighbours_this_node_chose_are_never_evicted_by_joins() -> None:
    hv = core()
    # Two neighbours we asked ourselves (repairs from the passive view).
    for name in ("mine1", "mine2"):
        hv.passive[name] = f"sim://{name}"
    hv.handle_timer(hv.get_timer())  # keepalive repairs an empty view from passive
    for name in ("mine1", "mine2"):
        hv.on_link_up(name, 1.0, LinkFacts(f"g-{name}"))
        hv.on_message(name, NeighbourReply(True), 1.0)
    assert {"mine1", "mine2"} <= set(hv.active)
    fill_by_joins(hv, ["a", "b", "c"], now=20.0)
    for i in range(40):  # a long stream of joiners, each from its own address
        join(hv, f"sybil{i}", 100.0 + 10.0 * i)
        assert {"mine1", "mine2"} <= set(hv.active)


def test_certified_neighbours_are_never_evicted() -> None:
    hv = core(protected_outbound=0)
    hv.on_link_up("cert", 0.0, LinkFacts("g-cert", certified=True))
    hv.on_message("cert", Join(info("cert")), 0.0)
    fill_by_joins(hv, ["a", "b", "c", "d"], now=10.0)
    for i in range(40):
        join(hv, f"sybil{i}", 100.0 + 10.0 * i)
        assert "cert" in hv.active


def test_forced_joins_are_rate_limited_per_address_group_and_in_time() -> None:
    hv = core(protected_outbound=0, join_eviction_interval=2.0, join_group_interval=60.0)
    fill_by_joins(hv, ["a", "b", "c", "d", "e"])
    now = 100.0
    assert not disconnected(join(hv, "s1", now, group="10.0.0.1"), "s1")
    # The same address group again within the minute: no slot, no walk, told to go.
    out = join(hv, "s2", now + 10.0, group="10.0.0.1")
    assert disconnected(out, "s2") and "s2" not in hv.active
    assert not any(isinstance(e, Send) and isinstance(e.msg, ForwardJoin) for e in out)
    # Other groups: a burst of a view's size, then one per join_eviction_interval.
    admitted = [not disconnected(join(hv, f"x{i}", now + 20.0, group=f"h{i}"), f"x{i}")
                for i in range(8)]
    assert admitted == [True] * 5 + [False] * 3
    assert not disconnected(join(hv, "late", now + 22.0, group="h-late"), "late")


def test_a_high_priority_neighbour_request_into_a_full_view_is_rate_limited_too() -> None:
    hv = core(protected_outbound=0)
    fill_by_joins(hv, ["a", "b", "c", "d", "e"])
    replies = []
    for i in range(7):
        hv.on_link_up(f"n{i}", 100.0, LinkFacts(f"h{i}"))
        out = hv.on_message(f"n{i}", Neighbour(info(f"n{i}"), True), 100.0)
        replies += [e.msg.accepted for e in out
                    if isinstance(e, Send) and isinstance(e.msg, NeighbourReply)]
    assert replies == [True] * 5 + [False] * 2


def test_without_the_guard_every_join_evicts_as_in_the_paper() -> None:
    hv = core(admission_guard=False)
    fill_by_joins(hv, ["a", "b", "c", "d", "e"])
    for i in range(20):
        assert not disconnected(join(hv, f"s{i}", 100.0, group="same"), f"s{i}")
        assert f"s{i}" in hv.active


@pytest.mark.slow  # a seeded eclipse simulation
def test_rejoining_sybils_eclipse_far_fewer_nodes_with_the_guard() -> None:
    # The simulator's figure (docs/PERFORMANCE.md has the 1,000-node runs), small and seeded.
    options = EclipseOptions(nodes=150, seed=3, attack=40.0, sample=5.0)
    paper = run_eclipse(replace(options, guard=False))
    guarded = run_eclipse(options)
    assert paper.eclipsed_mean > 0.9
    assert guarded.eclipsed_mean < 0.5 * paper.eclipsed_mean
    # With the passive-view defences (tried table, repairs from it, long-lived
    # links kept): well under a tenth, where the active-view rules alone left ~30%.
    assert guarded.eclipsed_mean < 0.1
    assert guarded.isolated_last == 0
