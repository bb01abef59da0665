"""``hartnode ledger``: sign and append an event, print the newest events."""

from __future__ import annotations

import argparse
import json

from hartnode.cli.base import (
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
    data = parents.data
    ledger = sub.add_parser("ledger", help="append to and read the ledger")
    ledger.set_defaults(handler=cmd_ledger)
    l_sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="LEDGER_COMMAND")
    append = l_sub.add_parser("append", parents=[data], help="sign and append one event")
    append.add_argument("--kind", required=True, help="event kind, e.g. note.created")
    append.add_argument("--reach", default="network", choices=("local", "hierarchy", "network"))
    append.add_argument("--payload", required=True, help='JSON object, e.g. {"text": "hi"}')
    tail = l_sub.add_parser("tail", parents=[data], help="print the newest events")
    tail.add_argument("-n", type=int, default=10, help="how many (default 10)")
    tail.add_argument("--json", action="store_true", help="one JSON object per line")


def cmd_ledger(args: argparse.Namespace) -> int:
    from hartnode.ledger.node_ledger import NodeLedger

    dd = data_dir(args)
    require_init(dd)
    catalog = catalog_for(dd)
    if args.ledger_command == "append":
        try:
            payload = json.loads(args.payload)
        except ValueError as e:
            raise CliError(f"--payload is not JSON: {e}",
                           'quote it for the shell: --payload \'{"text": "hi"}\'',
                           EXIT_USAGE) from e
        if not isinstance(payload, dict):
            raise CliError("--payload must be a JSON object", 'e.g. {"text": "hi"}', EXIT_USAGE)
        if dd.is_locked():  # the daemon owns the feed: ask it, so its views see the event
            event = api_request(dd, "/api/v1/events",
                                 {"kind": args.kind, "reach": args.reach, "payload": payload})
        else:
            with NodeLedger(dd.path, dd.load_identity(), catalog) as nl:
                event = nl.append([Draft(kind=args.kind, payload=payload,
                                         reach=args.reach)])[0].as_json()
        print_json(event)
        return EXIT_OK
    with NodeLedger(dd.path, dd.load_identity(), catalog) as nl:
        events = nl.ledger.tail(max(args.n, 0))
    for ev in events:
        if args.json:
            print_json(ev.as_json())
        else:
            print(f"{ev.origin[:12]} #{ev.seq:<6} {ev.kind:<24} {ev.reach:<9} {ev.payload_json}")
    return EXIT_OK
