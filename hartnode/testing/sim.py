"""``python -m hartnode.testing.sim``: run one seeded overlay scenario and print its figures.

Example (DESIGN §2: 10,000 nodes on one laptop, reproducible from the seed)::

    python -m hartnode.testing.sim --nodes 10000 --broadcasts 100 --seed 1
    python -m hartnode.testing.sim --nodes 1000 --kill-fraction 0.5 --seed 7
    python -m hartnode.testing.sim --nodes 1000 --flood-baseline

The flags mirror ``ScenarioOptions``; ``--json`` prints the result as JSON.
``python -m hartnode.testing.sim replication --help`` runs the ledger
replication scenarios instead (``repsim_cli``).
Exit status 0 always when the run finished; the figures are for a human or a
benchmark to judge (see ``bench/bench_overlay.py`` for goals).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import fields

from hartnode.gossip.overlay_config import PROFILES
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
    parser = argparse.ArgumentParser(prog="python -m hartnode.testing.sim", description=__doc__)
    defaults = ScenarioOptions()
    for f in fields(ScenarioOptions):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        help_text = _HELP[f.name]
        if isinstance(default, bool):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=help_text
            )
        elif f.name == "profile":
            parser.add_argument(flag, choices=sorted(PROFILES), default=default, help=help_text)
        else:
            parser.add_argument(
                flag, type=type(default), default=default, help=f"{help_text} ({default})"
            )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, run the scenario, print its figures; return the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "replication":
        from hartnode.testing import repsim_cli  # the ledger is not loaded for overlay runs

        return repsim_cli.main(argv[1:])
    args = vars(build_parser().parse_args(argv))
    as_json = args.pop("json")
    try:
        options = ScenarioOptions(**args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run_scenario(options)
    if as_json:
        print(json.dumps(result.as_dict(), indent=2, sort_keys=True))
    else:
        print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
