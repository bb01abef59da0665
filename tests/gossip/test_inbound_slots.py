"""Inbound slot accounting and address grouping, as pure functions (issue #8.4)."""

from __future__ import annotations

import pytest

from hartnode.gossip.inbound_slots import (
    RATE_BUCKETS_MAX,
    InboundSlots,
    SlotLimits,
    WarnThrottle,
    address_key,
)


@pytest.mark.parametrize(("host", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # same /64, same group
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:198.51.100.4", "198.51.100.4"),  # IPv4 on a dual-stack socket
    ("fe80::1%eth0", "fe80::/64"),
    ("not-an-ip", "not-an-ip"),
])
def test_address_key_groups_ipv4_by_address_and_ipv6_by_64(host: str, key: str) -> None:
    assert address_key(host) == key


def _slots(max_connections: int = 8, per_address: int = 2, reserved: float = 0.25) -> InboundSlots:
    return InboundSlots(SlotLimits(max_connections, 0.5, per_address, reserved))


def test_pending_handshakes_are_bounded_per_address_and_in_total() -> None:
    slots = _slots()
    assert [slots.admit("a", 0.0) for _ in range(3)] == [None, None, "address_limit"]
    got = [slots.admit("b", 0.0), slots.admit("b", 0.0), slots.admit("c", 0.0)]
    assert got == [None, None, "pending_limit"]
    slots.handshake_failed("a")  # a closed socket frees its slot at once
    assert slots.admit("c", 0.0) is None
    assert (slots.pending, dict(slots.pending_by_key)) == (4, {"a": 1, "b": 2, "c": 1})


def test_the_last_slots_are_kept_for_priority_peers() -> None:
    slots = _slots(max_connections=8, per_address=8, reserved=0.25)  # 2 reserved
    for _ in range(6):
        assert slots.admit("a", 0.0) is None
        assert slots.handshake_done("a", priority=False) is None
        assert slots.pending == 0
    assert slots.admit("a", 0.0) is None
    assert slots.handshake_done("a", priority=False) == "reserved_slots"  # its slot freed
    assert slots.admit("a", 0.0) is None
    assert slots.handshake_done("a", priority=True) is None
    assert slots.admit("a", 0.0) is None
    assert slots.handshake_done("a", priority=True) is None
    assert slots.admit("a", 0.0) == "connection_limit"
    slots.link_ended("a")
    assert slots.held == 7


def test_tiny_listeners_keep_one_pending_slot_and_one_open_slot() -> None:
    limits = SlotLimits(1, 0.5, 4, 0.5)
    assert (limits.max_pending, limits.reserved) == (1, 0)


def test_warn_throttle_says_how_many_lines_it_held_back() -> None:
    throttle = WarnThrottle(60.0)
    assert throttle.allow("in", 0.0) == 0
    assert throttle.allow("in", 30.0) is None
    assert throttle.allow("out", 30.0) == 0  # keys are independent
    assert throttle.allow("in", 59.0) is None
    assert throttle.allow("in", 60.0) == 2


def test_one_address_holds_at_most_its_share_of_established_links() -> None:
    slots = InboundSlots(SlotLimits(64, 0.5, 4, 0.125, max_links_per_address=2))
    for _ in range(2):
        assert slots.admit("a", 0.0) is None
        assert slots.handshake_done("a", priority=False) is None
    assert slots.admit("a", 0.0) is None
    assert slots.handshake_done("a", priority=False) == "address_links"  # a third host link
    assert slots.admit("b", 0.0) is None
    assert slots.handshake_done("b", priority=False) is None  # another host is not affected
    assert slots.admit("a", 0.0) is None
    assert slots.handshake_done("a", priority=True) is None  # a parent or certified peer is
    slots.link_ended("a")
    slots.link_ended("a")
    assert slots.admit("a", 0.0) is None
    assert slots.handshake_done("a", priority=False) is None  # a link that ended frees the share
    assert (slots.established, dict(slots.links_by_key)) == (3, {"a": 2, "b": 1})


def test_an_address_starts_handshakes_at_most_at_its_pace() -> None:
    limits = SlotLimits(64, 0.5, 4, 0.125, handshake_rate_per_address=2.0,
                        handshake_burst_per_address=3)
    slots = InboundSlots(limits)

    def attempt(key: str, now: float) -> str | None:
        refusal = slots.admit(key, now)
        if refusal is None:
            slots.handshake_failed(key)  # it hangs up at once, as a connect/close loop does
        return refusal

    assert [attempt("a", 0.0) for _ in range(4)] == [None, None, None, "address_rate"]
    assert attempt("b", 0.0) is None  # another address has its own pace
    assert attempt("a", 0.25) == "address_rate"  # half a token
    assert attempt("a", 0.5) is None  # 2 a second: one more every 0.5 s
    assert attempt("a", 0.5) == "address_rate"
    assert [attempt("a", 10.0) for _ in range(4)] == [None, None, None, "address_rate"]


def test_paced_addresses_are_forgotten_once_their_bucket_is_full_again() -> None:
    slots = InboundSlots(SlotLimits(64, 0.5, 4, 0.125, handshake_rate_per_address=1.0,
                                    handshake_burst_per_address=2))
    for i in range(RATE_BUCKETS_MAX):
        assert slots.admit(f"10.0.{i // 256}.{i % 256}", 0.0) is None
        slots.handshake_failed(f"10.0.{i // 256}.{i % 256}")
    assert len(slots.pace_by_key) == RATE_BUCKETS_MAX
    assert slots.admit("192.0.2.1", 5.0) is None  # all refilled by now: the table is swept
    assert set(slots.pace_by_key) == {"192.0.2.1"}
