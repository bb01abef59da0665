"""``hartnode init``, ``run`` and ``status``: create a node, run the daemon, and
ask the running daemon how it is."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hartnode import config as config_mod
from hartnode.cli.base import (
    EXIT_OK,
    EXIT_STARTUP,
    EXIT_USAGE,
    CliError,
    Parents,
    Subparsers,
    api_request,
    catalog_for,
    data_dir,
    field_doc,
    log_level,
    print_json,
    require_init,
)
from hartnode.errors import HintedError, find_in_group

if TYPE_CHECKING:
    from hartnode.node import StartupError

# init flags → config keys; help comes from the config field's doc.
INIT_FLAGS: dict[str, tuple[str, str]] = {
    "--listen": ("network", "listen"),
    "--api": ("api", "listen"),
    "--seed": ("network", "seeds"),
    "--network": ("network", "name"),
    "--tier": ("node", "tier"),
    "--region": ("node", "region"),
}


def add_parser(sub: Subparsers, parents: Parents) -> None:
    data = parents.data
    init = sub.add_parser("init", parents=[data, parents.json],
                          help="create a node: key, token, config")
    for flag, (section, key) in INIT_FLAGS.items():
        kwargs: dict[str, Any] = {"help": field_doc(section, key), "dest": f"{section}_{key}"}
        if flag == "--seed":
            kwargs.update(action="append", metavar="URL")
        init.add_argument(flag, **kwargs)
    init.set_defaults(handler=cmd_init)

    run = sub.add_parser("run", parents=[data], help="run the daemon (initialises a missing "
                         "data dir)")
    run.set_defaults(handler=cmd_run)
    status = sub.add_parser("status", parents=[data], help="ask the running daemon how it is")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)


def cmd_init(args: argparse.Namespace) -> int:
    dd = data_dir(args)
    cfg = config_mod.Config()
    for section, key in INIT_FLAGS.values():
        value = getattr(args, f"{section}_{key}")
        if value is not None:
            value = tuple(value) if isinstance(value, list) else value
            cfg = replace(cfg, **{section: replace(getattr(cfg, section), **{key: value})})
    config_mod.validate(cfg)
    given = [flag for flag, (section, key) in INIT_FLAGS.items()
             if getattr(args, f"{section}_{key}") is not None]
    if given and dd.config_path.exists() and not dd.exists():
        # The operator's file is never overwritten; the flags must not be lost silently.
        raise CliError(f"{dd.config_path} exists, so {', '.join(given)} would be ignored",
                       "put the settings in that file and run `hartnode init` without "
                       "flags, or move the file away", EXIT_USAGE)
    identity = dd.init(cfg)
    from hartnode.ledger.node_ledger import NodeLedger

    NodeLedger(dd.path, identity, catalog_for(dd), create=True).close()
    if args.json:
        print_json({"node_id": identity.node_id, "data_dir": str(dd.path),
                    "config": str(dd.config_path)})
        return EXIT_OK
    print(f"initialised node {identity.node_id}\n  data dir: {dd.path}\n"
          f"  config:   {dd.config_path}\nstart it with: hartnode run --data-dir {dd.path}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    import trio

    from hartnode import logs
    from hartnode.node import StartupError, run_node

    dd = data_dir(args)
    dd.check_usable(create=True)
    if not dd.exists():  # refuses a ledger without its key; never rewrites the config
        dd.init(config_mod.Config())
    cfg = dd.load_config()
    cfg = replace(cfg, log=replace(cfg.log, level=log_level(args, cfg.log.level)))
    logs.setup(cfg.log.level, cfg.log.format)
    try:
        trio.run(run_node, dd, cfg)
    except StartupError as e:
        raise _startup_error(e) from e
    except BaseExceptionGroup as eg:
        startup = find_in_group(eg, StartupError)
        if startup is None:
            raise
        raise _startup_error(startup) from eg
    return EXIT_OK


def _startup_error(e: StartupError) -> CliError:
    cause = e.__cause__
    if isinstance(cause, HintedError):  # keep its hint on its own line
        return CliError(f"hartnode could not start: {cause.message}", cause.hint, EXIT_STARTUP)
    return CliError(f"hartnode could not start: {e}", code=EXIT_STARTUP)


def cmd_status(args: argparse.Namespace) -> int:
    dd = data_dir(args)
    require_init(dd)
    info = api_request(dd, "/api/v1/node")
    if args.json:
        print_json(info)
    else:
        head = info["ledger"]
        claimed = info.get("claimed_tier", info["tier"])
        print(f"node     {info['node_id']}\nversion  {info['version']}\n"
              f"tier     {info['tier']}{' / ' + info['region'] if info.get('region') else ''}"
              f"{' (proven by the certificate chain)' if info['tier'] != 'flat' else ''}\n"
              f"uptime   {info['uptime_s']:.0f} s\npeers    {info['peers']}\n"
              f"ledger   own seq {head['seq']}, {head['events']} events from "
              f"{head['origins']} origins")
        if claimed != info["tier"]:
            print(f"warning  node.tier claims {claimed}, but the installed certificate chain "
                  f"does not prove it: peers treat this node as {info['tier']} "
                  "(see `hartnode cert show` and the daemon's log)")
        hier = info.get("hierarchy")
        if hier and hier["tier"] != "flat":
            counts = {"pending": 0, "in_flight": 0, "acked": 0}
            for by_dir in hier["sync_queue"].values():
                for row in by_dir.values():
                    for k in counts:
                        counts[k] += row[k]
            print(f"parent   {hier['parent'] or '(none)'}\nchildren {len(hier['children'])}\n"
                  f"sync     {counts['pending']} pending, {counts['in_flight']} in flight, "
                  f"{counts['acked']} acknowledged")
    return EXIT_OK
