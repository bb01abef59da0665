"""``python -m hartnode.testing.sim replication``: run one seeded replication scenario.

Examples (issue #4; every run is reproducible from its seed)::

    python -m hartnode.testing.sim replication --scenario partition-heal --nodes 1000
    python -m hartnode.testing.sim replication --scenario forged --nodes 100 --seed 3
    python -m hartnode.testing.sim replication --scenario lossy --loss 0.1 --json

The flags mirror ``RepOptions``. Exit status 0 when the run converged with
nothing unverified stored, 1 when it did not (the figures say why), 2 on bad
flags.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hartnode.gossip.overlay_config import PROFILES
from hartnode.testing import options_cli
from hartnode.testing.repsim_scenarios import SCENARIOS, RepOptions, run_replication

_HELP = {
    "scenario": "what goes wrong: " + ", ".join(SCENARIOS),
    "nodes": "number of nodes",
    "seed": "seed of every random choice (same seed, same run)",
    "profile": "bandwidth profile: " + ", ".join(PROFILES),
    "write_rate": "events written per virtual second, network-wide",
    "warmup": "virtual seconds of writing before the fault",
    "fault": "virtual seconds the fault lasts (writing goes on)",
    "limit": "virtual seconds to wait for convergence after the fault",
    "sync_interval": "seconds between anti-entropy rounds (network.sync_interval)",
    "loss": "lossy: probability that a message is lost",
    "churn_interval": "churn: virtual seconds between two crashes",
    "forge_interval": "forged: virtual seconds between two forged pushes",
    "join_rate": "joins per virtual second while the overlay forms",
    "settle": "virtual seconds after the overlay is connected, before writing",
    "late_joiners": "nodes that join with empty ledgers when the fault ends",
}


def build_parser() -> argparse.ArgumentParser:
    """Flags derived from ``RepOptions`` (one declaration per option)."""
    return options_cli.build_parser(
        RepOptions, _HELP, prog="python -m hartnode.testing.sim replication",
        description=__doc__ or "", choices={"scenario": SCENARIOS, "profile": sorted(PROFILES)},
        formatter_class=argparse.RawDescriptionHelpFormatter)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, run the scenario, print its figures; return the exit status."""
    return options_cli.run_cli(
        build_parser(), RepOptions, run_replication, argv,
        lambda r: 0 if r.converged_after is not None and r.unverified_stored == 0 else 1)
