"""``hartnode trust``: the integrity of peers (scores, quarantines), challenging
one peer now, and release manifests."""

from __future__ import annotations

import argparse
import json
import time
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
    data = parents.data
    trust = sub.add_parser("trust", parents=[data],
                           help="integrity of peers: scores, quarantines, challenges, manifests")
    trust.add_argument("--json", action="store_true", help="one JSON object")
    trust.set_defaults(handler=cmd_trust)
    t_sub = trust.add_subparsers(dest="trust_command", required=False, metavar="TRUST_COMMAND")
    challenge = t_sub.add_parser("challenge", parents=[data],
                                 help="challenge one peer now and print the verdict")
    challenge.add_argument("node_id", help="the peer's node id (64 hex digits)")
    challenge.add_argument("--json", action="store_true", help="one JSON object")
    manifest = t_sub.add_parser("manifest", help="release manifests (files as a Merkle root)")
    m_sub = manifest.add_subparsers(dest="manifest_command", required=True, metavar="COMMAND")
    build = m_sub.add_parser("build", parents=[parents.json],
                             help="print the manifest of an installed package as JSON "
                             "(--json: on one line)")
    build.add_argument("dir", type=Path, help="the package directory, e.g. .../site-packages/"
                       "hartnode (paths start with its name)")
    build.add_argument("--version", dest="release_version", default=None,
                       help="release version (default: this hartnode's)")


def cmd_trust(args: argparse.Namespace) -> int:
    if args.trust_command == "manifest":
        return _manifest_build(args)
    dd = data_dir(args)
    require_init(dd)
    if args.trust_command == "challenge":
        out = api_request(dd, "/api/v1/trust/challenge", {"node_id": args.node_id})
        if args.json:
            print_json(out)
        else:
            print(f"{out['node_id'][:12]}  {out['verdict']}  ({out['reason']}); "
                  f"integrity_status {out['integrity_status']}")
        return EXIT_OK
    view = api_request(dd, "/api/v1/trust")
    if args.json:
        print_json(view)
        return EXIT_OK
    print(f"code hash {view['code_hash']} ({'a' if view.get('release') else 'NOT a'} "
          "trusted published release)")
    print(f"{'node':<14}{'status':<13}{'score':<8}{'pass':>6}{'fail':>6}{'offline':>8}"
          f"{'unknown':>8}  quarantine until")
    for r in view["peers"]:
        o = r.get("outcomes") or {}
        score = "-" if r.get("score") is None else f"{r['score']:.3f}"
        until = r.get("quarantine_until_ms")
        shown = "-" if until is None else time.strftime("%Y-%m-%d %H:%M:%S",
                                                          time.localtime(until / 1000))
        print(f"{r['node_id'][:12]:<14}{r['integrity_status']:<13}{score:<8}"
              f"{o.get('pass', 0):>6}{o.get('fail', 0):>6}{o.get('offline', 0):>8}"
              f"{o.get('unknown', 0):>8}  {shown}")
    print(f"{len(view['peers'])} peers judged")
    return EXIT_OK


def _manifest_build(args: argparse.Namespace) -> int:
    from hartnode import __version__
    from hartnode.attestation.manifest import ManifestError, build_manifest

    folder = args.dir.resolve()
    if not folder.is_dir():
        raise CliError(f"{args.dir} is not a directory", "pass the installed package's folder",
                       EXIT_USAGE)
    try:
        manifest = build_manifest(folder, args.release_version or __version__,
                                  prefix=folder.name + "/")
    except ManifestError as e:
        raise CliError(f"cannot build a manifest of {folder}: {e}", "", EXIT_FAILED) from e
    if args.json:
        print_json(manifest.to_json())
    else:
        print(json.dumps(manifest.to_json(), indent=1, sort_keys=True))
    return EXIT_OK
