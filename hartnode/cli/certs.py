"""``hartnode keys`` and ``hartnode cert``: the offline master key and the tier
certificates (issue, install, show, publish a revocation list, revoke)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hartnode.cli.base import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Parents,
    Subparsers,
    api_request,
    data_dir,
    print_json,
    require_init,
)


def add_parser(sub: Subparsers, parents: Parents) -> None:
    data, as_json = parents.data, parents.json
    keys = sub.add_parser("keys", help="the network's offline master key")
    keys.set_defaults(handler=cmd_keys)
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="KEYS_COMMAND")
    master = keys_sub.add_parser("master-init", parents=[as_json],
                                 help="create an offline master key file (never inside a "
                                 "node's data directory)")
    master.add_argument("path", help="new key file, e.g. /media/usb/hartnode-master.key")

    cert = sub.add_parser("cert", help="issue, install, show and revoke tier certificates")
    cert.set_defaults(handler=cmd_cert)
    cert_sub = cert.add_subparsers(dest="cert_command", required=True, metavar="CERT_COMMAND")
    issue = cert_sub.add_parser("issue", parents=[as_json],
                                help="certify a node (by the master, a central or a regional "
                                "key)")
    issue.add_argument("--issuer-key", required=True, help="master key file, or the issuing "
                       "node's node.key or data directory")
    issue.add_argument("--issuer-chain", help="the issuer's own chain file or data directory "
                       "(omit when the master issues)")
    issue.add_argument("--subject", required=True, help="node id (hex) to certify")
    issue.add_argument("--tier", required=True, choices=("central", "regional", "local"))
    issue.add_argument("--region", required=True, help='region name, or "*" (central only)')
    issue.add_argument("--valid-days", type=int, help="validity in days (default 365, cut "
                       "short to end with the issuer's own certificate)")
    issue.add_argument("--capability", action="append", default=[], help="repeatable")
    issue.add_argument("--path-len", type=int, help="default: the most the tier allows")
    issue.add_argument("--out", required=True, help="new chain file to write")
    issue.add_argument("--master-key", help="pinned master public key (hex) to check against")
    install = cert_sub.add_parser("install", parents=[data, as_json],
                                  help="verify a chain for this node and install it")
    install.add_argument("chain", help="chain file from `hartnode cert issue`")
    install.add_argument("--master-key", help="pinned master public key (default: "
                         "trust.master_key of the config)")
    install.add_argument("--revocations", help="revocation list file to check against")
    show = cert_sub.add_parser("show", parents=[data], help="describe and check a chain")
    show.add_argument("chain", nargs="?", help="chain file (default: the data directory's)")
    show.add_argument("--master-key", help="pinned master public key (default: config's)")
    show.add_argument("--revocations", help="revocation list file to check against")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    publish = cert_sub.add_parser("publish", parents=[data, as_json],
                                  help="hand a revocation list to the running daemon, which "
                                  "applies it and spreads it to every node")
    publish.add_argument("list", help="revocation list file from `hartnode cert revoke`")
    revoke = cert_sub.add_parser("revoke", parents=[as_json], help="sign the next revocation list")
    revoke.add_argument("--master-key-file", required=True, help="the master key file")
    revoke.add_argument("--list", required=True, help="revocation list file (created at seq 1)")
    revoke.add_argument("--serial", action="append", default=[], help="certificate serial")
    revoke.add_argument("--subject", action="append", default=[], help="node id to revoke")


def _pinned_master_key(args: argparse.Namespace) -> str | None:
    if args.master_key:
        return str(args.master_key)
    dd = data_dir(args)
    key = dd.load_config().trust.master_key if dd.exists() else ""
    return key or None


def cmd_keys(args: argparse.Namespace) -> int:
    from hartnode import cert_commands as commands

    out = commands.master_init(args.path)
    print_json(out.data) if args.json else print(out.text)
    return EXIT_OK


def cmd_cert(args: argparse.Namespace) -> int:
    from hartnode import cert_commands as commands

    if args.cert_command == "issue":
        out = commands.cert_issue(
            args.issuer_key, args.issuer_chain, args.subject, args.tier, args.region,
            args.valid_days, args.capability, args.path_len, args.out,
            master_public_key=args.master_key)
    elif args.cert_command == "install":
        master = _pinned_master_key(args)
        if master is None:
            raise CliError("no master key to verify the chain against",
                           "pass --master-key HEX or set trust.master_key in the config",
                           EXIT_USAGE)
        out = commands.cert_install(data_dir(args).path, args.chain, master, args.revocations)
    elif args.cert_command == "show":
        target = args.chain or data_dir(args).path
        out = commands.cert_show(target, _pinned_master_key(args), args.revocations)
        print_json(out.data) if args.json else print(out.text)
        return EXIT_FAILED if out.data.get("valid") is False else EXIT_OK
    elif args.cert_command == "publish":
        dd = data_dir(args)
        require_init(dd)
        try:
            data = Path(args.list).read_bytes()
        except OSError as e:
            raise CliError(f"cannot read {args.list}: {e}", "check the path", EXIT_USAGE) from e
        reply = api_request(dd, "/api/v1/revocations", raw=data)
        if args.json:
            print_json(reply)
            return EXIT_OK
        state = "applied and spreading" if reply["accepted"] else "not newer than the held list"
        print(f"revocation list seq {reply['seq']}: {state} (node holds seq {reply['held_seq']})")
        return EXIT_OK
    else:
        out = commands.cert_revoke(args.master_key_file, args.list, args.serial, args.subject)
    print_json(out.data) if args.json else print(out.text)
    return EXIT_OK
