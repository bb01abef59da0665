"""``hartnode ledger``: sign and append an event, print the newest events."""

from __future__ import annotations

import argparse
import json
import sys
import time

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
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft, Ledger

#: Seconds between two looks for new events while following: a person reads
#: along, and one indexed query per poll costs nothing to the daemon.
FOLLOW_POLL_S = 0.5
FOLLOW_BATCH = 500  # events printed per query; a backlog is read without sleeping


def add_parser(sub: Subparsers, parents: Parents) -> None:
    data = parents.data
    ledger = sub.add_parser("ledger", help="append to and read the ledger")
    ledger.set_defaults(handler=cmd_ledger)
    l_sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="LEDGER_COMMAND")
    append = l_sub.add_parser("append", parents=[data, parents.json],
                              help="sign and append one event (printed as JSON, --json or not)")
    append.add_argument("--kind", required=True, help="event kind, e.g. note.created")
    append.add_argument("--reach", default="network", choices=("local", "hierarchy", "network"))
    append.add_argument("--payload", required=True, help='JSON object, e.g. {"text": "hi"}')
    tail = l_sub.add_parser("tail", parents=[data], help="print the newest events")
    tail.add_argument("-n", type=int, default=10, help="how many (default 10)")
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.add_argument("-f", "--follow", action="store_true", help="then print each new event "
                      "as it is stored, until Ctrl-C")


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
        try:
            _tail(nl.ledger, args)
        except KeyboardInterrupt:
            if not args.follow:
                raise
            # Ctrl-C is how one stops following: not an error.
        sys.stdout.flush()
    return EXIT_OK


def _tail(ledger: Ledger, args: argparse.Namespace) -> None:
    rows = ledger.tail_with_ids(max(args.n, 0))
    last = rows[-1][0] if rows else ledger.max_id()
    for _, ev in rows:
        _print_event(ev, as_json=args.json)
    while args.follow:  # the daemon appends on its own connection: poll for what it wrote
        sys.stdout.flush()
        batch = ledger.read_after(last, FOLLOW_BATCH)
        for event_id, ev in batch:
            _print_event(ev, as_json=args.json)
            last = event_id
        if len(batch) < FOLLOW_BATCH:
            time.sleep(FOLLOW_POLL_S)


def _print_event(ev: Event, *, as_json: bool) -> None:
    if as_json:
        print_json(ev.as_json())
    else:
        print(f"{ev.origin[:12]} #{ev.seq:<6} {ev.kind:<24} {ev.reach:<9} {ev.payload_json}")
