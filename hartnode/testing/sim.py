"""``python -m hartnode.testing.sim``: run one seeded overlay scenario and print its figures.

Example (DESIGN §2: 10,000 nodes on one laptop, reproducible from the seed)::

    python -m hartnode.testing.sim --nodes 10000 --broadcasts 100 --seed 1
    python -m hartnode.testing.sim --nodes 1000 --kill-fraction 0.5 --seed 7
    python -m hartnode.testing.sim --nodes 1000 --flood-baseline

The flags mirror ``ScenarioOptions``; ``--json`` prints the result as JSON.
``python -m hartnode.testing.sim replication --help`` runs the ledger
replication scenarios instead (``repsim_cli``), ``... sim eclipse --help``
the sybil re-join attack on membership (``sim_eclipse``), ``... trust --help``
the integrity-challenge scenario (``trustsim_cli``), ``... sim escrow --help``
the Spark escrow scenario (``escrowsim``).
Exit status 0 always when the run finished; the figures are for a human or a
benchmark to judge (see ``bench/bench_overlay.py`` for goals).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hartnode.gossip.overlay_config import PROFILES
from hartnode.testing import options_cli
from hartnode.testing.sim_scenarios import ScenarioOptions, run_scenario

_HELP = {
    "nodes": "number of nodes",
    "broadcasts": "broadcasts sent after the overlay settled",
    "seed": "seed of every random choice (same seed, same run)",
    "profile": "bandwidth profile: " + ", ".join(PROFILES),
    "loss": "probability that a message is lost",
    "duplicate": "probability that a message arrives twice",
    "kill_fraction": "fraction of nodes killed at once before the broadcasts",
    "silent_kill": "killed nodes' peers are not told (only keepalive notices)",
    "flood_baseline": "flood with --fanout instead of Plumtree (the baseline)",
    "fanout": "flooding fanout",
    "nat_fraction": "fraction of nodes without a dialable address",
    "slow_fraction": "fraction of nodes that delay every message by --slow-delay",
    "slow_delay": "extra seconds per message at a slow node",
    "payload_size": "bytes per broadcast payload",
    "interval": "virtual seconds between broadcasts",
    "join_rate": "joins per virtual second",
    "settle": "virtual seconds to wait after the overlay is connected",
    "drain": "virtual seconds to run after the last broadcast",
    "shaping": "apply the profile's per-link token bucket",
    "record_size": "bytes of a peer record each node re-announces at the stretched interval "
                   "(0: no records)",
}


def build_parser() -> argparse.ArgumentParser:
    """Flags derived from ``ScenarioOptions`` (one declaration per option)."""
    return options_cli.build_parser(ScenarioOptions, _HELP, prog="python -m hartnode.testing.sim",
                                    description=__doc__ or "",
                                    choices={"profile": sorted(PROFILES)})


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, run the scenario, print its figures; return the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "escrow":
        from hartnode.testing import escrowsim

        return escrowsim.main(argv[1:])
    if argv and argv[0] == "eclipse":
        from hartnode.testing import sim_eclipse

        return sim_eclipse.main(argv[1:])
    if argv and argv[0] == "replication":
        from hartnode.testing import repsim_cli  # the ledger is not loaded for overlay runs

        return repsim_cli.main(argv[1:])
    if argv and argv[0] == "trust":
        from hartnode.testing import trustsim_cli

        return trustsim_cli.main(argv[1:])
    return options_cli.run_cli(build_parser(), ScenarioOptions, run_scenario, argv)


if __name__ == "__main__":
    sys.exit(main())
