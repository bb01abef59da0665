"""The replication core's one timer shape (issue #9.4, aioquic's ``get_timer`` /
``handle_timer``): the core arms its rounds itself, from ``now`` and an rng
passed in; the daemon's shell and the simulator only sleep until
``get_timer()`` and call ``handle_timer(now)``."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
import trio.testing

from hartnode.catalog import build_catalog
from hartnode.gossip.overlay_config import full
from hartnode.gossip.peer_record import PeerTable
from hartnode.gossip.service import GossipService, GossipSettings
from hartnode.identity import NodeIdentity
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.protocol import Send, TimerCore
from hartnode.replication.core import (
    Heads,
    HeadsDigest,
    HeadsView,
    ReplicationEffect,
    Replicator,
    Want,
)
from hartnode.replication.service import ReplicationService
from hartnode.testing.repsim_scenarios import RepOptions, run_replication

T = TypeVar("T")
PEER = "e" * 64
A = "a" * 64


def digests(effects: Sequence[ReplicationEffect]) -> list[str]:
    return [e.peer for e in effects if isinstance(e, Send) and isinstance(e.msg, HeadsDigest)]


def test_the_core_arms_its_rounds_from_now_and_its_rng() -> None:
    core = Replicator(round_interval=10.0, rng=random.Random(7))
    assert isinstance(core, TimerCore)
    assert core.get_timer() is None  # nothing armed before start
    assert core.handle_timer(1e9) == []
    core.start(100.0)
    first = core.get_timer()
    assert first == 100.0 + random.Random(7).uniform(0.0, 10.0)  # the phase, from the rng
    core.on_link_up(PEER, {})
    assert core.handle_timer(first - 0.001) == []  # not yet due: nothing, timer unmoved
    assert core.get_timer() == first
    assert digests(core.handle_timer(first)) == [PEER]
    assert core.get_timer() == first + 10.0


def test_without_an_rng_the_first_round_is_one_interval_on_and_at_wins() -> None:
    core = Replicator(round_interval=4.0)
    core.start(3.0)
    assert core.get_timer() == 7.0
    core.start(3.0, at=5.5)  # a restarted simulated node keeps its phase
    assert core.get_timer() == 5.5
    with pytest.raises(ValueError):
        Replicator(round_interval=0.0)


def test_want_deadlines_run_on_the_timer() -> None:
    """An unanswered want is dropped after ``want_rounds`` rounds of the timer."""
    core = Replicator(round_interval=10.0, want_rounds=2, batch=10)
    core.start(0.0)
    core.on_link_up(PEER, {})
    out = core.on_message(PEER, Heads((bytes.fromhex(A),), (30,)), {})
    assert [type(e.msg) for e in out if isinstance(e, Send)] == [Want]
    assert digests(core.handle_timer(10.0)) == []  # one silent round: still waiting
    assert core.wants_dropped == 0
    assert digests(core.handle_timer(20.0)) == [PEER]  # two: lost, start over
    assert core.wants_dropped == 1


class _InlineAccess(StoreAccess):
    """The store in the trio thread: no worker thread for the autojump clock to
    jump past, so every virtual time is exact."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)


class _Recorder:
    """Wraps a core's timer shape and its round, recording what the shell calls."""

    def __init__(self, core: Replicator) -> None:
        self.starts: list[float] = []
        self.handled: list[float] = []
        self.rounds_outside_timer = 0
        self._in_timer = False
        start, handle, round_ = core.start, core.handle_timer, core._round

        def rec_start(now: float, *, at: float | None = None) -> None:
            self.starts.append(now)
            start(now, at=at)

        def rec_handle(now: float, heads: HeadsView | None = None) -> list[ReplicationEffect]:
            self.handled.append(now)
            self._in_timer = True
            try:
                return handle(now, heads)
            finally:
                self._in_timer = False

        def rec_round(heads: HeadsView | None = None) -> list[ReplicationEffect]:
            if not self._in_timer:
                self.rounds_outside_timer += 1
            return round_(heads)

        core.start = rec_start  # type: ignore[method-assign]
        core.handle_timer = rec_handle  # type: ignore[method-assign]
        core._round = rec_round  # type: ignore[method-assign]


async def test_the_daemon_shell_drives_rounds_only_through_the_timer(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    identity = NodeIdentity.from_seed(b"timer".ljust(32, b"."))
    ledger = NodeLedger(tmp_path, identity, build_catalog(), create=True)
    try:
        settings = GossipSettings(network_key=b"T" * 32, listen=("127.0.0.1", 0), advertise=(),
                                  seeds=(), overlay=full())
        gossip = GossipService(identity, settings, PeerTable(identity.node_id, ttl_ms=600_000),
                               rng=random.Random(1))
        service = ReplicationService(gossip, ledger, _InlineAccess(), round_interval=10.0)
        rec = _Recorder(service.core)
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            [t0] = rec.starts
            await trio.sleep(5.0)
            await service._send.send(("up", PEER, None))  # messages between rounds
            await trio.sleep(30.5)
            # Exactly at the core's deadlines, on the virtual clock; each one
            # interval after the last, as the core armed it.
            assert rec.handled == [t0 + 10.0, t0 + 20.0, t0 + 30.0]
            assert rec.rounds_outside_timer == 0
            assert service.core.get_timer() == t0 + 40.0
            nursery.cancel_scope.cancel()
    finally:
        ledger.close()


def test_the_simulator_drives_rounds_only_through_the_timer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every round the simulator runs (churn: cores replaced on restart, late
    joiners) is a ``handle_timer`` called at exactly that core's ``get_timer()``."""
    calls: list[tuple[float, float | None]] = []
    inside = [False]
    outside = [0]
    handle, round_ = Replicator.handle_timer, Replicator._round

    def rec_handle(self: Replicator, now: float,
                   heads: HeadsView | None = None) -> list[ReplicationEffect]:
        calls.append((now, self.get_timer()))
        inside[0] = True
        try:
            return handle(self, now, heads)
        finally:
            inside[0] = False

    def rec_round(self: Replicator, heads: HeadsView | None = None) -> list[ReplicationEffect]:
        outside[0] += not inside[0]
        return round_(self, heads)

    monkeypatch.setattr(Replicator, "handle_timer", rec_handle)
    monkeypatch.setattr(Replicator, "_round", rec_round)
    result = run_replication(RepOptions(scenario="churn", nodes=20, seed=3, late_joiners=2,
                                        warmup=5.0, fault=25.0, limit=60.0))
    assert result.missing == 0 and result.extra == 0
    assert len(calls) > 20 * 3  # every node ran rounds
    late = [(now, due) for now, due in calls if now != due]
    assert late == []  # woken exactly at the core's timer
    assert outside[0] == 0
