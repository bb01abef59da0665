"""``hartnode compute`` and ``hartnode wallet``: compute lending read from the
views, and ``compute policy set`` as a signed local event."""

from __future__ import annotations

import argparse
import json

from hartnode.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Parents,
    Subparsers,
    api_request,
    catalog_for,
    data_dir,
    print_json,
    require_init,
)
from hartnode.ledger.log import Draft


def add_parser(sub: Subparsers, parents: Parents) -> None:
    data, as_json = parents.data, parents.json
    compute = sub.add_parser("compute", help="compute lending: GPU, policy, jobs, escrows")
    compute.set_defaults(handler=cmd_compute)
    c_sub = compute.add_subparsers(dest="compute_command", required=True,
                                   metavar="COMPUTE_COMMAND")
    c_sub.add_parser("status", parents=[data, as_json], help="GPU facts, policy, escrow counts")
    pol = c_sub.add_parser("policy", parents=[data, as_json],
                           help="the effective policy and where each value comes from")
    pol_sub = pol.add_subparsers(dest="policy_command", metavar="set")
    pol_set = pol_sub.add_parser("set", parents=[data, as_json],
                                 help="set one value (a signed local event; "
                                 "HARTNODE_COMPUTE_<KEY> still wins)")
    pol_set.add_argument("key")
    pol_set.add_argument("value")
    c_sub.add_parser("jobs", parents=[data, as_json], help="job kinds and recent jobs")
    c_sub.add_parser("escrow", parents=[data, as_json], help="recent escrows")
    wallet = sub.add_parser("wallet", parents=[data, as_json], help="this node's Spark wallet")
    wallet.set_defaults(handler=cmd_compute)


def cmd_compute(args: argparse.Namespace) -> int:
    """``hartnode compute ...`` and ``hartnode wallet``, read from the views."""
    from hartnode.compute import commands, policy
    from hartnode.ledger.node_ledger import NodeLedger

    dd = data_dir(args)
    require_init(dd)
    cfg = dd.load_config()
    catalog = catalog_for(dd)
    which = "wallet" if args.command == "wallet" else args.compute_command
    if which == "policy" and getattr(args, "policy_command", None) == "set":
        try:
            policy.check_value(args.key, args.value)
        except policy.PolicyError as e:
            raise CliError(str(e), "see `hartnode compute policy` for the keys", EXIT_USAGE) from e
        body = {"kind": "compute.config.set", "reach": "local",
                "payload": {"key": args.key, "value": args.value}}
        if dd.is_locked():  # the daemon owns the feed: ask it
            api_request(dd, "/api/v1/events", body)
        else:
            with NodeLedger(dd.path, dd.load_identity(), catalog) as nl:
                nl.append([Draft(kind=body["kind"], payload=body["payload"],  # type: ignore[arg-type]
                                 reach="local")])
        if args.json:
            print_json({"key": f"compute.{args.key}", "value": args.value,
                        "source": "node_compute_config"})
        else:
            print(f"compute.{args.key} = {args.value} (node_compute_config)")
        return EXIT_OK
    file_layer = policy.file_layer(cfg.compute, only_changed=True)
    with NodeLedger(dd.path, dd.load_identity(), catalog) as nl:
        try:
            # A running daemon keeps its views caught up itself.
            out = commands.view(which, nl, catalog, file_layer, catch_up=not dd.is_locked())
        except policy.PolicyError as e:
            raise CliError(str(e), "fix it with `hartnode compute policy set`, the config file "
                           "or the HARTNODE_COMPUTE_* variable it names", EXIT_FAILED) from e
    if args.json:
        print_json(out)
    else:
        for key, value in out.items():
            print(f"{key}: {json.dumps(value, sort_keys=True)}")
    return EXIT_OK
