"""Choosing a parent, sans-I/O: candidates, order, failover and backoff at exact times."""

from __future__ import annotations

import blake3
import pytest

from hartnode.hierarchy.parent_choice import Candidate, Dial, Offer, ParentChoice, Wait

ME = "0" * 63 + "1"
R = [f"{i:x}" * 64 for i in range(2, 8)]  # regionals' ids
URL = {r: f"ws://127.0.0.1:{7000 + i}/hart" for i, r in enumerate(R)}


def offer(node_id: str, tier: str = "regional", region: str = "eu", *, alive: bool = True,
          addrs: tuple[str, ...] | None = None) -> Offer:
    return Offer(node_id, tier, region, (URL.get(node_id, "ws://h:1/hart"),)
                 if addrs is None else addrs, alive)


def local(*configured: str) -> ParentChoice:
    return ParentChoice(ME, "local", "eu", configured, retry_min=1.0, retry_max=8.0,
                        stable_after=30.0)


def dialled(action: Dial | Wait | None) -> Candidate:
    assert isinstance(action, Dial), action
    return action.candidate


def test_only_verified_alive_dialable_peers_of_the_tier_above_and_our_region() -> None:
    choice = local()
    offers = [offer(R[0]), offer(R[1], region="us"), offer(R[2], tier="central", region="*"),
              offer(R[3], tier="local"), offer(R[4], alive=False), offer(R[5], addrs=()),
              offer(ME), offer("f" * 64, tier="flat", region="")]
    assert [c.node_id for c in choice.candidates(offers)] == [R[0]]


def test_configured_urls_come_first_in_order_then_records_by_rendezvous_hash() -> None:
    choice = local("ws://10.0.0.1:6778/hart", "ws://10.0.0.2:6778/hart")
    got = choice.candidates([offer(r) for r in R[:4]])
    assert [c.url for c in got[:2]] == ["ws://10.0.0.1:6778/hart", "ws://10.0.0.2:6778/hart"]
    assert all(c.configured and c.node_id is None for c in got[:2])
    ranked = sorted(R[:4], key=lambda r: blake3.blake3(bytes.fromhex(ME + r)).digest())
    assert [c.node_id for c in got[2:]] == ranked
    # Another child ranks the same regionals differently: children spread out.
    other = ParentChoice("0" * 63 + "9", "local", "eu")
    assert [c.node_id for c in other.candidates([offer(r) for r in R[:4]])] != ranked


def test_a_configured_url_once_dialled_is_not_offered_again_from_its_record() -> None:
    choice = local(URL[R[0]])
    first = dialled(choice.next([offer(R[0]), offer(R[1])], 0.0))
    choice.on_dialled(first, R[0])
    assert [c.node_id for c in choice.candidates([offer(R[0]), offer(R[1])])] == [R[0], R[1]]


def test_failures_back_off_exponentially_to_the_cap_and_the_next_candidate_goes_first() -> None:
    choice = local()
    offers = [offer(R[0]), offer(R[1])]
    order = [c.node_id for c in choice.candidates(offers)]
    a = dialled(choice.next(offers, 0.0))
    assert a.node_id == order[0]
    choice.on_failed(a, 0.0, "connect_failed")
    b = dialled(choice.next(offers, 0.0))  # at once: the other one
    assert b.node_id == order[1]
    choice.on_failed(b, 0.0, "connect_failed")
    assert choice.next(offers, 0.5) == Wait(1.0)  # both held back: wait for the first
    times = []
    now = 0.0
    for _ in range(6):  # the first candidate alone keeps failing
        action = choice.next([offers[order.index(a.node_id)]], now)
        if isinstance(action, Wait):
            now = action.until
            action = choice.next([offers[order.index(a.node_id)]], now)
        times.append(now)
        choice.on_failed(dialled(action), now, "connect_failed")
    assert times == [1.0, 3.0, 7.0, 15.0, 23.0, 31.0]  # waits 1, 2, 4, 8, then the 8 s cap
    assert choice.backoff(0.0)[a.key]["failures"] == 7


def test_a_lost_parent_fails_over_at_once_and_is_retried_later() -> None:
    choice = local(URL[R[0]], URL[R[1]])
    offers = [offer(R[0]), offer(R[1])]
    c = dialled(choice.next(offers, 0.0))
    assert c.url == URL[R[0]]
    choice.on_parent(c, R[0], 0.0)
    assert choice.next(offers, 5.0) == Wait(float("inf"))
    choice.on_lost(5.0)  # after 5 s: not stable, counts as a failure
    d = dialled(choice.next(offers, 5.0))
    assert d.url == URL[R[1]]
    choice.on_failed(d, 5.0, "connect_failed")
    assert choice.next(offers, 5.0) == Wait(6.0)
    assert dialled(choice.next(offers, 6.0)).url == URL[R[0]]


def test_a_parent_that_served_long_enough_starts_its_backoff_afresh() -> None:
    choice = local(URL[R[0]])
    offers = [offer(R[0])]
    c = dialled(choice.next(offers, 0.0))
    for t in (0.0, 1.0, 3.0):  # three failed attempts first
        choice.on_failed(c, t, "rejected")
    choice.on_parent(c, R[0], 100.0)
    choice.on_lost(200.0)  # served 100 s > stable_after
    assert choice.next(offers, 200.0) == Wait(201.0)


def test_a_flapping_parent_keeps_growing_its_backoff() -> None:
    choice = local(URL[R[0]])
    offers = [offer(R[0])]
    now = 0.0
    waits = []
    for _ in range(4):
        action = choice.next(offers, now)
        if isinstance(action, Wait):
            waits.append(action.until - now)
            now = action.until
            action = choice.next(offers, now)
        choice.on_parent(dialled(action), R[0], now)
        choice.on_lost(now + 0.1)  # lost at once, every time
        now += 0.1
    assert waits == [1.0, 2.0, 4.0]


def test_with_no_candidate_the_node_looks_again_after_growing_waits() -> None:
    choice = local()
    now, waits = 0.0, []
    for _ in range(5):
        action = choice.next([], now)
        assert isinstance(action, Wait)
        assert choice.next([], now) == action  # asking again early changes nothing
        waits.append(action.until - now)
        now = action.until
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert isinstance(choice.next([offer(R[0])], now), Dial)


@pytest.mark.parametrize(("tier", "region", "parent"), [
    ("local", "eu", ("regional", "eu")), ("regional", "eu", ("central", "*")),
])
def test_each_tier_looks_one_up(tier: str, region: str, parent: tuple[str, str]) -> None:
    choice = ParentChoice(ME, tier, region)
    assert choice.accepts(*parent) and not choice.accepts("local", region)


@pytest.mark.parametrize("tier", ["central", "flat"])
def test_central_and_flat_nodes_have_no_parent(tier: str) -> None:
    choice = ParentChoice(ME, tier, "*" if tier == "central" else "")
    assert choice.next([offer(R[0], tier="central", region="*")], 0.0) is None
