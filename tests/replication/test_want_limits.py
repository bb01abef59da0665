"""Wants are rate-limited per peer in the replication core (issue #8.6).

A peer could ask without limit: 3,000 Wants of 200 KiB made 628 MiB of
replies. Now each peer gets ``wants_per_round`` wants and
``want_bytes_per_round`` reply bytes per anti-entropy round; the rest wait
for the next round, in order, and a peer with ``max_deferred_wants``
already waiting is flooding: its link is closed ("want_flood", counted).
"""

from __future__ import annotations

import pytest

from hartnode.protocol import RemoteProtocolError
from hartnode.replication.core import (
    MAX_BATCH_BYTES,
    Replicator,
    Serve,
    Want,
    want_budget,
)

from .helpers import next_round

A = "a" * 64


def want(seq: int) -> Want:
    return Want(bytes.fromhex(A), seq, 10)


def serves(effects: list[object]) -> list[int]:
    return [e.from_seq for e in effects if isinstance(e, Serve)]


def test_wants_beyond_the_count_share_wait_for_the_next_round() -> None:
    core = Replicator(wants_per_round=3, want_bytes_per_round=10**9, max_deferred_wants=10)
    core.on_link_up("p", {})
    got = [serves(core.on_message("p", want(i), {})) for i in range(1, 6)]
    assert got == [[1], [2], [3], [], []]
    assert core.wants_deferred == 2
    assert serves(next_round(core, {})) == [4, 5]  # next round, in the order asked
    assert serves(core.on_message("p", want(6), {})) == [6]  # 2 of 3 used: one left
    assert serves(core.on_message("p", want(7), {})) == []


def test_wants_beyond_the_byte_share_wait_for_the_next_round() -> None:
    core = Replicator(wants_per_round=100, want_bytes_per_round=1_000, max_deferred_wants=10)
    core.on_link_up("p", {})
    assert serves(core.on_message("p", want(1), {})) == [1]
    core.on_served("p", 600)
    assert serves(core.on_message("p", want(2), {})) == [2]
    core.on_served("p", 600)  # 1,200 of 1,000: the share is spent
    assert serves(core.on_message("p", want(3), {})) == []
    core.on_link_up("q", {})
    assert serves(core.on_message("q", want(1), {})) == [1]  # another peer's share is its own
    assert serves(next_round(core, {})) == [3]


def test_a_peer_that_keeps_flooding_is_dropped_with_a_counted_reason() -> None:
    core = Replicator(wants_per_round=2, want_bytes_per_round=10**9, max_deferred_wants=4)
    core.on_link_up("p", {})
    for i in range(1, 7):  # 2 served, 4 waiting
        core.on_message("p", want(i), {})
    with pytest.raises(RemoteProtocolError) as err:
        core.on_message("p", want(7), {})
    assert err.value.reason == "want_flood" and core.want_floods == 1


def test_3000_wants_get_at_most_their_share_of_reply_bytes_per_round() -> None:
    # The flood: 3,000 wants of (up to) a 200 KiB reply each, on the full profile.
    budget = want_budget(65_536.0, 10.0)
    core = Replicator(want_bytes_per_round=budget)
    core.on_link_up("p", {})
    sent_bytes = served = 0
    with pytest.raises(RemoteProtocolError):
        for i in range(1, 3001):
            for _ in serves(core.on_message("p", want(i), {})):
                core.on_served("p", 200 << 10)
                sent_bytes += 200 << 10
                served += 1
    assert budget == 1_310_720 and served == 7  # 7 x 200 KiB >= 1.25 MiB, then they wait
    assert sent_bytes < budget + MAX_BATCH_BYTES
    assert core.want_floods == 1
