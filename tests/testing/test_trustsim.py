"""The integrity-challenge scenario on a virtual clock: modified nodes isolated, not slow ones."""

from __future__ import annotations

import json

import pytest

from hartnode.testing.trustsim import TrustOptions, run_trust
from hartnode.testing.trustsim_cli import main


@pytest.mark.slow  # a full seeded scenario: 100 nodes over 10 simulated hours (~10 s)
def test_modified_nodes_are_isolated_and_no_honest_node_is_quarantined() -> None:
    options = TrustOptions(nodes=100, hours=10.0, seed=3, modified_fraction=0.1,
                           slow_fraction=0.2, region_size=50)
    result = run_trust(options)
    assert (result.modified, result.slow) == (10, 20)
    assert result.isolated == result.modified
    assert max(result.isolated_h) <= options.goal_hours
    assert result.honest_quarantined == 0
    assert result.verdicts["fail"] == result.alerts > 0
    assert 130 <= result.challenges_per_node_day <= 160  # ~144 a day on the full profile
    assert result.goal_met


def test_the_same_seed_gives_the_same_run() -> None:
    options = TrustOptions(nodes=30, hours=2.0, seed=9, modified_fraction=0.1)
    a, b = run_trust(options).as_dict(), run_trust(options).as_dict()
    a.pop("wall_s"), b.pop("wall_s")
    assert a == b


def test_the_command_line_reports_the_goal(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--nodes", "20", "--hours", "1", "--modified-fraction", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["goal_met"] is True and out["honest_quarantined"] == 0
    assert main(["--nodes", "2"]) == 2  # a usage error
