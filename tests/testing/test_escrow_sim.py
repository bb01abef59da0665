"""The escrow simulator: conservation, single settlement and equal views under loss and crashes."""

from __future__ import annotations

import json

import pytest

from hartnode.testing import sim
from hartnode.testing.escrowsim import EscrowOptions, run_escrow


@pytest.mark.parametrize("seed", [1, 2])
def test_lossy_crashing_network_with_a_cheater_conserves_spark(seed: int) -> None:
    result = run_escrow(EscrowOptions(nodes=60, jobs=600, observers=4, seed=seed, loss=0.2,
                                      duplicate=0.2, crash_rate=0.01, cheat_after=15,
                                      providers=6))
    assert result.conserved and result.views_equal
    assert result.double_settled == 0
    assert result.crashes > 0 and result.disputed_for_borrower > 0
    assert result.cheater_caught_after is not None


def test_cli_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim.main(["escrow", "--nodes", "30", "--jobs", "100", "--providers", "4",
                     "--observers", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    fields = json.loads(lines[0])
    assert {"conserved", "double_settled", "cheater_caught_after"} <= fields.keys()


def test_replicas_are_chosen_by_the_daemons_replicator_calls(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's figures are those of the daemon's rule: it asks the same
    ``Replicator.plan`` (as ``ComputeService.submit`` does) for every job."""
    from hartnode.compute.replication import Replicator

    calls: list[int] = []
    plan = Replicator.plan

    def counted(self: Replicator, *args: object, **kw: object) -> list[str]:
        calls.append(1)
        return plan(self, *args, **kw)  # type: ignore[arg-type]
    monkeypatch.setattr(Replicator, "plan", counted)
    result = run_escrow(EscrowOptions(nodes=30, jobs=100, observers=2, providers=4))
    assert len(calls) == 100 and result.replicated_jobs > 0
