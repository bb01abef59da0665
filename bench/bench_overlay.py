"""Overlay benchmark: HyParView + Plumtree in SimNet against the DESIGN §3 goals.

    .venv/bin/python bench/bench_overlay.py            # everything (about 5 minutes)
    .venv/bin/python bench/bench_overlay.py --quick    # 1,000 nodes only (about 30 s)

Every figure is printed beside its goal and beside the flooding baseline
(eager gossip, fanout 5 over the same HyParView overlay) measured in the same
run with the same seed. Goals:

- N = 1,000 and 10,000, 100 broadcasts on a settled overlay: delivery 100 %,
  RMR <= 0.1, last delivery hop <= 1.5 x log2 N;
- kill 50 % of the nodes at once: the survivors' active views stay one
  connected graph and broadcasts reach >= 99 % of survivors within 5 rounds;
- the 10,000-node run of 100 broadcasts takes <= 120 s of wall time;
- steady state at the ``full`` profile with one broadcast per second
  network-wide: <= 2 KB/s per node, membership, keepalive and IHAVE included.

Wall times depend on the machine (and on what else runs on it).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from hartnode.gossip.overlay_config import full
from hartnode.gossip.peer_record import announce_interval
from hartnode.testing.sim_scenarios import (
    ANNOUNCE_BASE_S,
    ScenarioOptions,
    ScenarioResult,
    run_scenario,
)

Section = Callable[[], tuple[list[str], dict[str, object], bool]]
RECORD_BYTES = 320  # a flat node's signed peer record with two addresses, on the wire
ROUNDS_GOAL = 5  # broadcast rounds after the kill by which >= 99 % must be reached


def _row(label: str, value: str, goal: str, baseline: str, ok: bool | None) -> str:
    verdict = "" if ok is None else ("PASS" if ok else "FAIL")
    return f"  {label:<34} {value:>14}   goal {goal:<16} flood {baseline:>12}   {verdict}"


def _pct(x: float) -> str:
    return f"{x:.3%}"


def settled_runs(n: int, seed: int) -> tuple[ScenarioResult, ScenarioResult]:
    """100 broadcasts, one per second, on a settled overlay of ``n`` nodes: Plumtree, flooding.

    At N = 1,000 (the steady-state figure's run) every node also refreshes its
    peer record at the interval the service stretches to; at 10,000 they are
    left out so the wall-time goal times the 100 broadcasts it names.
    """
    options = ScenarioOptions(nodes=n, broadcasts=100, seed=seed, profile="full",
                              record_size=RECORD_BYTES if n <= 1000 else 0)
    return run_scenario(options), run_scenario(replace(options, flood_baseline=True))


def settled_section(
    n: int, seed: int, tree: ScenarioResult, flood: ScenarioResult
) -> tuple[list[str], dict[str, object], bool]:
    """Delivery, RMR, last delivery hop and wall time of ``settled_runs``."""
    hop_goal = 1.5 * math.log2(n)
    checks = {
        "delivery": tree.reliability_min == 1.0,
        "rmr": tree.rmr <= 0.1,
        "hops": tree.max_hops <= hop_goal,
        "exactly_once": tree.duplicate_deliveries == 0,
    }
    lines = [
        f"N = {n:,}, 100 broadcasts (one per second), seed {seed}",
        _row(
            "delivery (min over broadcasts)",
            _pct(tree.reliability_min),
            "100%",
            _pct(flood.reliability_min),
            checks["delivery"],
        ),
        _row("RMR", f"{tree.rmr:.4f}", "<= 0.1", f"{flood.rmr:.4f}", checks["rmr"]),
        _row(
            "last delivery hop (max)",
            str(tree.max_hops),
            f"<= {hop_goal:.1f}",
            str(flood.max_hops),
            checks["hops"],
        ),
        _row(
            "last delivery hop (mean)",
            f"{tree.mean_max_hops:.2f}",
            "",
            f"{flood.mean_max_hops:.2f}",
            None,
        ),
        _row(
            "duplicate deliveries",
            str(tree.duplicate_deliveries),
            "0",
            str(flood.duplicate_deliveries),
            checks["exactly_once"],
        ),
        _row(
            "connected overlay after last join",
            f"{tree.connected_after} s",
            "",
            f"{flood.connected_after} s",
            None,
        ),
        _row(
            "messages per node per second",
            f"{tree.msgs_per_node_s:.2f}",
            "",
            f"{flood.msgs_per_node_s:.2f}",
            None,
        ),
        _row(
            "wall time (join+settle+100 bcasts)",
            f"{tree.wall_s:.1f} s",
            "<= 120 s" if n >= 10_000 else "",
            f"{flood.wall_s:.1f} s",
            tree.wall_s <= 120.0 if n >= 10_000 else None,
        ),
        _row(
            "  of which the 100 broadcasts",
            f"{tree.broadcast_wall_s:.1f} s",
            "",
            f"{flood.broadcast_wall_s:.1f} s",
            None,
        ),
    ]
    if n >= 10_000:
        checks["wall"] = tree.wall_s <= 120.0
    figures: dict[str, object] = {"plumtree": tree.as_dict(), "flood": flood.as_dict()}
    return lines, figures, all(checks.values())


def _first_good_round(result: ScenarioResult) -> int | None:
    """1-based round from which every later broadcast reached >= 99 % of survivors."""
    rel = result.per_broadcast_reliability
    for i in range(len(rel)):
        if all(r >= 0.99 for r in rel[i:]):
            return i + 1
    return None


def kill_section(n: int, seed: int, silent: bool) -> tuple[list[str], dict[str, object], bool]:
    """Kill half of ``n`` nodes at once, then 20 broadcasts, one per second."""
    options = ScenarioOptions(
        nodes=n, broadcasts=20, seed=seed, kill_fraction=0.5, silent_kill=silent
    )
    tree = run_scenario(options)
    flood = run_scenario(replace(options, flood_baseline=True))
    good, flood_good = _first_good_round(tree), _first_good_round(flood)
    connected = tree.components == 1 and tree.isolated == 0
    how = "silently (power loss)" if silent else "(process kill: links reset)"
    lines = [
        f"N = {n:,}, kill 50% at once {how}, then 20 broadcasts",
        _row(
            "survivors connected (end)",
            f"{tree.components} comp.",
            "1 component",
            f"{flood.components} comp.",
            connected,
        ),
        _row(
            "components at rounds 1..5",
            ",".join(map(str, tree.components_per_round[:5])),
            "",
            ",".join(map(str, flood.components_per_round[:5])),
            None,
        ),
        _row(
            "reliability rounds 1..5",
            "/".join(f"{r:.3f}" for r in tree.per_broadcast_reliability[:5]),
            "",
            "",
            None,
        ),
        _row(
            "  flooding rounds 1..5",
            "",
            "",
            "/".join(f"{r:.3f}" for r in flood.per_broadcast_reliability[:5]),
            None,
        ),
        _row(
            ">= 99% of survivors from round",
            str(good),
            f"<= {ROUNDS_GOAL}",
            str(flood_good),
            None if silent else (good is not None and good <= ROUNDS_GOAL),
        ),
        _row("RMR after the kill", f"{tree.rmr:.4f}", "", f"{flood.rmr:.4f}", None),
        _row("last delivery hop (max)", str(tree.max_hops), "", str(flood.max_hops), None),
    ]
    ok = silent or (connected and good is not None and good <= ROUNDS_GOAL)
    return lines, {"plumtree": tree.as_dict(), "flood": flood.as_dict()}, ok


def bandwidth_section(
    tree: ScenarioResult, flood: ScenarioResult
) -> tuple[list[str], dict[str, object], bool]:
    """Bytes per node per second of a ``settled_runs`` pair (profile ``full``)."""
    o = tree.options
    ok = tree.bytes_per_node_s <= 2048
    interval = announce_interval(ANNOUNCE_BASE_S, o.nodes - 1, o.record_size,
                                 full().record_budget)
    lines = [
        f"Steady state, profile {o.profile}, N = {o.nodes:,}, one {o.payload_size} B broadcast "
        "per second (the same runs as above)",
        f"  plus every node's {o.record_size} B peer record, refreshed every {interval:.0f} s "
        f"(stretched from {ANNOUNCE_BASE_S:.0f} s to the {full().record_budget:.0f} B/s "
        "record budget)",
        _row(
            "bytes per node per second (mean)",
            f"{tree.bytes_per_node_s:.0f} B",
            "<= 2048 B",
            f"{flood.bytes_per_node_s:.0f} B",
            ok,
        ),
        _row(
            "bytes per node per second (max)",
            f"{tree.max_node_bytes_per_s:.0f} B",
            "",
            f"{flood.max_node_bytes_per_s:.0f} B",
            None,
        ),
    ]
    for kind in sorted(set(tree.bytes_by_kind) | set(flood.bytes_by_kind)):
        lines.append(
            _row(
                f"  of which {kind}",
                f"{tree.bytes_by_kind.get(kind, 0.0):.0f} B",
                "",
                f"{flood.bytes_by_kind.get(kind, 0.0):.0f} B",
                None,
            )
        )
    lines.append(
        _row(
            "messages per node per second",
            f"{tree.msgs_per_node_s:.2f}",
            "",
            f"{flood.msgs_per_node_s:.2f}",
            None,
        )
    )
    return lines, {"plumtree": tree.as_dict(), "flood": flood.as_dict()}, ok


def _settled(
    n: int, seed: int, runs: dict[int, tuple[ScenarioResult, ScenarioResult]]
) -> tuple[list[str], dict[str, object], bool]:
    if n not in runs:
        runs[n] = settled_runs(n, seed)
    return settled_section(n, seed, *runs[n])


def main(argv: list[str] | None = None) -> int:
    """Run every section, print the tables; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="1,000 nodes only")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    sizes = [1000] if args.quick else [1000, 10_000]
    runs = {n: settled_runs(n, args.seed) for n in sizes[:1]}
    sections: list[tuple[str, Section]] = []
    for n in sizes:
        sections.append((f"settled {n}", partial(_settled, n, args.seed, runs)))
    sections.append(("bandwidth", lambda: bandwidth_section(*runs[sizes[0]])))
    for n in sizes:
        sections.append((f"kill {n}", partial(kill_section, n, args.seed, False)))
    sections.append(("kill 1000 silent", partial(kill_section, 1000, args.seed, True)))
    all_ok = True
    figures: dict[str, object] = {}
    for name, run in sections:
        lines, data, ok = run()
        print("\n".join(lines), flush=True)
        print(flush=True)
        figures[name] = data
        all_ok &= ok
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True, default=str))
    print("all goals met" if all_ok else "some goals missed (see FAIL above)")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
