"""Seeded simulations of ledger replication (issue #4): the real ``Replicator`` on SimNet.

Each scenario runs at a small N and checks its invariants: identical sets
of honest event hashes everywhere (nothing missing, nothing extra), zero
unverified events stored (every stored event re-verified from its bytes),
and the scenario's own (forged events never stored or passed on, forged
pushes relayed by no honest node; a fork held as proven by every node; no
pull left hanging after a lost message).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from unittest import mock

import pytest

from hartnode.gossip import wire
from hartnode.ledger import envelope
from hartnode.replication.core import (
    Batch,
    FeedEvent,
    FeedWithheld,
    Heads,
    HeadsDigest,
    HeadsRequest,
    NewEvents,
    Want,
)
from hartnode.replication.fork_evidence import ForkEvidence
from hartnode.testing import sim
from hartnode.testing.mem_ledger import Verifier
from hartnode.testing.repsim import replication_size
from hartnode.testing.repsim_scenarios import GOAL_S, RepOptions, RepResult, run_replication

SMALL = RepOptions(nodes=60, fault=40.0, limit=60.0, settle=10.0)


def assert_converged(r: RepResult) -> None:
    assert r.converged_after is not None, r.summary()
    assert (r.missing, r.extra) == (0, 0), r.summary()
    assert r.unverified_stored == 0, r.summary()
    assert r.events_written > 100, r.summary()  # the scenario wrote something to replicate


@pytest.mark.slow  # a full seeded scenario
def test_partition_heal_converges_within_the_goal() -> None:
    r = run_replication(replace(SMALL, scenario="partition-heal", nodes=100, fault=60.0))
    assert r.components_at_end == 2, r.summary()  # the halves really were apart
    assert_converged(r)
    assert r.converged_after is not None and r.converged_after <= GOAL_S, r.summary()


@pytest.mark.slow  # a full seeded scenario
def test_churn_converges_with_restarted_nodes_caught_up() -> None:
    r = run_replication(replace(SMALL, scenario="churn"))
    assert r.components_at_end > 1, r.summary()  # nodes were still coming back at the end
    assert r.alive == r.honest == SMALL.nodes
    assert_converged(r)


@pytest.mark.slow  # a full seeded scenario
def test_forged_events_are_never_stored_nor_passed_on_by_honest_nodes() -> None:
    r = run_replication(replace(SMALL, scenario="forged"))
    assert r.forged_offered > 50, r.summary()
    assert r.forged_push_reach > 1 / SMALL.nodes, r.summary()  # its neighbours were offered them
    assert r.forged_push_beyond == 0, r.summary()  # ... and relayed them to nobody
    assert (r.forged_stored, r.forged_forwarded) == (0, 0), r.summary()
    assert r.push_reach > 0.99, r.summary()  # honest pushes, judged valid, go everywhere
    assert_converged(r)


@pytest.mark.slow  # a full seeded scenario
def test_lossy_links_converge_and_no_pull_is_left_hanging() -> None:
    r = run_replication(replace(SMALL, scenario="lossy", loss=0.05))
    assert_converged(r)
    assert r.wants_dropped > 0, r.summary()  # wants were lost, and given up
    assert r.stuck_pulls == 0, r.summary()


@pytest.mark.slow  # a full seeded scenario
def test_a_fork_is_held_as_proven_by_every_node_late_joiners_included() -> None:
    # The late joiners can only learn it from the proofs handed over on link-up.
    r = run_replication(replace(SMALL, scenario="forking", late_joiners=3))
    assert r.fork_offered_both > 0, r.summary()
    assert r.fork_offered_both_undetected == 0, r.summary()
    assert r.fork_detected == r.honest == SMALL.nodes - 1 + 3, r.summary()  # the proof spread
    assert r.fork_known_by_all_after is not None, r.summary()
    assert r.fork_stored_after_detection == 0, r.summary()
    # One alert per node that held the forker's feed: the late joiners never did,
    # so the core's EvidenceGate (issue #8.8, the daemon's) has them record the
    # proof without an alert of their own.
    assert r.fraud_alerts == r.fork_detected - 3, r.summary()
    assert_converged(r)  # the honest feeds, alerts included, still converge


@pytest.mark.slow  # a full seeded scenario
def test_the_checks_catch_nodes_that_skip_signature_checks() -> None:
    """Break verification on purpose: the forged events get stored and the audit says so."""
    verify = Verifier._verify

    def lax(self: Verifier, env: bytes, sig: bytes) -> object:
        with mock.patch.object(envelope, "verify_signature", return_value=True):
            return verify(self, env, sig)

    with mock.patch.object(Verifier, "_verify", lax):
        r = run_replication(replace(SMALL, scenario="forged", nodes=30, fault=20.0))
    assert r.forged_stored > 0, r.summary()
    assert r.unverified_stored > 0, r.summary()


@pytest.mark.slow  # a full seeded scenario
def test_same_seed_same_run_across_processes_and_hash_seeds() -> None:
    outputs = []
    argv = ["replication", "--scenario", "forking", "--nodes", "30", "--fault", "30",
            "--settle", "5", "--seed", "4", "--json"]
    for hash_seed in ("1", "2"):
        proc = subprocess.run(
            [sys.executable, "-m", "hartnode.testing.sim", *argv],
            env=dict(os.environ, PYTHONHASHSEED=hash_seed), capture_output=True, text=True,
            timeout=120, check=True)
        figures = json.loads(proc.stdout)
        figures.pop("wall_s")
        outputs.append(figures)
    assert outputs[0] == outputs[1]
    assert outputs[0]["fork_detected"] > 0  # a run with something in it to compare
    other = run_replication(RepOptions(scenario="forking", nodes=30, fault=30.0, settle=5.0,
                                       seed=5))  # another seed: the comparison can fail
    assert (other.events_written, other.msgs_per_node_s) != (
        outputs[0]["events_written"], outputs[0]["msgs_per_node_s"])


def test_cli_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["replication", "--nodes", "20", "--fault", "20", "--settle", "5"]
    assert sim.main(argv) == 0
    text = capsys.readouterr().out
    for label in ("converged", "unverified stored", "per node per second", "wall time"):
        assert label in text
    assert sim.main(["replication", "--nodes", "2"]) == 2


E = FeedEvent(b"{" + b"x" * 300 + b"}", bytes(64))
W = FeedWithheld(bytes(32), 70000, bytes(32), bytes(32), "hierarchy", bytes(64))


@pytest.mark.parametrize("msg", [
    HeadsDigest((b"",) * 8 + (bytes(8),) * 8),
    HeadsRequest(tuple(range(16))),
    Heads((bytes(32),) * 20, tuple(range(0, 2**20, 2**20 // 20))),
    Heads((bytes(32),) * 3, (1, 200, 70000), (bytes(16),) * 3),
    ForkEvidence(E, FeedEvent(b"{}", bytes(64))),
    Want(bytes(32), 300, 1000),
    Batch(bytes(32), (E,) * 17 + (FeedEvent(b"{}", bytes(64)),), (W, replace(W, prev=b""))),
    Batch(bytes(32), (), ()),
    NewEvents((E,) * 3),
])
def test_replication_size_is_the_encoded_size(msg: object) -> None:
    assert replication_size(msg) == len(wire.encode(msg))
