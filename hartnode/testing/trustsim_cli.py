"""``python -m hartnode.testing.sim trust``: integrity challenges at scale (``trustsim``).

Example (issue 10: 1,000 nodes, 5 % modified, 10 % slow honest, 24 hours)::

    python -m hartnode.testing.sim trust --nodes 1000 --hours 24 --seed 1

Exit status 0 when the goal was met (every modified node isolated within
``--goal-hours``, no honest node quarantined), 1 otherwise.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hartnode.gossip.overlay_config import PROFILES
from hartnode.testing import options_cli
from hartnode.testing.trustsim import TrustOptions, TrustResult, run_trust

_HELP = {
    "nodes": "number of nodes",
    "hours": "simulated hours",
    "seed": "seed of every random choice (same seed, same run)",
    "profile": "bandwidth profile (sets the challenge interval and timeout)",
    "modified_fraction": "fraction of nodes running a modified install",
    "modified_files": "files a modified install changed",
    "slow_fraction": "fraction of nodes that are honest but slow",
    "slow_delay_min": "least seconds a slow node adds to every message, each way",
    "slow_delay_max": "most seconds a slow node adds to every message, each way",
    "loss": "probability that a message is lost",
    "degree": "links each node adds to the random neighbour graph",
    "region_size": "nodes per regional",
    "sync_delay": "seconds an attestation or decision takes between a local and its regional",
    "alert_delay": "seconds an integrity alert takes to reach every node",
    "goal_hours": "hours within which every modified node must be isolated",
}


def build_parser() -> argparse.ArgumentParser:
    return options_cli.build_parser(TrustOptions, _HELP,
                                    prog="python -m hartnode.testing.sim trust",
                                    description=__doc__ or "",
                                    choices={"profile": sorted(PROFILES)},
                                    formatter_class=argparse.RawDescriptionHelpFormatter)


def main(argv: Sequence[str] | None = None) -> int:
    def status(result: TrustResult) -> int:
        return 0 if result.goal_met else 1

    return options_cli.run_cli(build_parser(), TrustOptions, run_trust, argv, status)
