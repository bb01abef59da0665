"""``hartnode peers`` (what the daemon knows of each peer, with its link's
traffic and round trip) and ``hartnode join URL`` / ``connect URL`` (join the
overlay through a node now, by the daemon's bootstrap path)."""

from __future__ import annotations

import argparse
import time

from hartnode.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    Parents,
    Subparsers,
    api_request,
    data_dir,
    print_json,
    require_init,
)
from hartnode.cli.format import ago, size


def add_parser(sub: Subparsers, parents: Parents) -> None:
    peers = sub.add_parser("peers", parents=[parents.data, parents.json],
                           help="list the peers the daemon knows: status, last seen, round "
                           "trip, traffic")
    peers.set_defaults(handler=cmd_peers)
    join = sub.add_parser("join", aliases=["connect"], parents=[parents.data, parents.json],
                          help="join the overlay through the node at URL now (the running "
                          "daemon dials it; add it to network.seeds to keep it)")
    join.add_argument("url", help="the node's peer URL, e.g. ws://203.0.113.5:6778/hart")
    join.set_defaults(handler=cmd_join)


def cmd_peers(args: argparse.Namespace) -> int:
    dd = data_dir(args)
    require_init(dd)
    rows = api_request(dd, "/api/v1/peers")
    if args.json:
        print_json(rows)
        return EXIT_OK
    now_ms = time.time_ns() // 1_000_000
    print(f"{'node':<14}{'status':<8}{'tier':<10}{'region':<12}{'nbr':<5}{'seen':>6}"
          f"{'rtt':>8}{'in':>8}{'out':>8}  address")
    for r in rows:
        addr = r["addrs"][0] if r["addrs"] else "(behind NAT)"
        link = r.get("link") or {}
        rtt = "-" if link.get("rtt_ms") is None else f"{link['rtt_ms']:.0f}ms"
        traffic_in = size(link["bytes_in"]) if link else "-"
        traffic_out = size(link["bytes_out"]) if link else "-"
        print(f"{r['node_id'][:12]:<14}{r['status']:<8}{r['tier']:<10}{r['region'] or '-':<12}"
              f"{'yes' if r['neighbour'] else '':<5}{ago(r['last_seen_ms'], now_ms):>6}"
              f"{rtt:>8}{traffic_in:>8}{traffic_out:>8}  {addr}")
    print(f"{len(rows)} peers")
    return EXIT_OK


def cmd_join(args: argparse.Namespace) -> int:
    dd = data_dir(args)
    require_init(dd)
    # The daemon dials within its handshake timeout (10 s): wait past it for the answer.
    out = api_request(dd, "/api/v1/peers/join", {"url": args.url}, timeout=30)
    if args.json:
        print_json(out)
    elif out["joined"] and out["neighbour"]:
        print(f"joined through {out['node_id'][:12]} at {out['url']}: now a neighbour")
    elif out["joined"]:
        print(f"linked to {out['node_id'][:12]} at {out['url']}, not a neighbour yet (its view "
              "may be full: the peers it sent are tried next); see `hartnode peers`")
    if not out["joined"]:
        raise CliError(f"could not reach {args.url}: {out['reason']}",
                       "check the URL (ws://HOST:PORT/hart), that the node runs, and that "
                       "both use the same network.name / network.key", EXIT_FAILED)
    return EXIT_OK
