"""The ``hartnode`` command line.

    hartnode init | run | status [--json] | id [--json] | version [--json] | -V
             | kb verify|backup DEST|restore SRC [--force]|vacuum|migrate|rebuild
             | ledger append --kind K --reach R --payload JSON | ledger tail [--json] [-n N]
             | keys master-init PATH | cert issue|install|show|revoke

Exit codes (a stable interface, documented in the README):
    0 success · 1 a check or operation failed (e.g. ``kb verify`` found problems)
    2 usage or configuration error · 3 the daemon could not start
    4 the daemon is not reachable (``status``)
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import platform
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from hartnode import __version__
from hartnode import config as config_mod
from hartnode.apps.app_cli import AppCli, AppCommandError
from hartnode.apps.goals import commands as goals_cli
from hartnode.apps.goals.gate import GateRefused
from hartnode.apps.goals.lifecycle import LifecycleError
from hartnode.apps.recipes import commands as recipes_cli
from hartnode.apps.recipes.queries import QueryError
from hartnode.catalog import Catalog, build_catalog
from hartnode.cert_commands import CommandError
from hartnode.datadir import BACKUP_FILES, DataDir, DataDirError, resolve
from hartnode.errors import HintedError, find_in_group
from hartnode.ledger import maintenance
from hartnode.ledger.envelope import EnvelopeError
from hartnode.ledger.kinds import PayloadError, UnknownKindError
from hartnode.ledger.log import Draft
from hartnode.ledger.store import StoreError

if TYPE_CHECKING:
    from hartnode.node import StartupError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STARTUP, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
# Apps that bring their own subcommands (``hartnode.apps.app_cli``).
APP_CLIS = {"recipes": recipes_cli, "goals": goals_cli}

# init flags → config keys; help comes from the config field's doc.
INIT_FLAGS: dict[str, tuple[str, str]] = {
    "--listen": ("network", "listen"),
    "--api": ("api", "listen"),
    "--seed": ("network", "seeds"),
    "--network": ("network", "name"),
    "--tier": ("node", "tier"),
    "--region": ("node", "region"),
}


class CliError(HintedError):
    """An error for the operator: message, what to do, exit code."""

    def __init__(self, message: str, hint: str = "", code: int = EXIT_FAILED) -> None:
        super().__init__(message, hint)
        self.code = code


def _field_doc(section: str, key: str) -> str:
    for f in dataclasses.fields(config_mod.sections()[section]):
        if f.name == key:
            return str(f.metadata["doc"])
    raise KeyError(key)


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error format: ``hartnode: error:`` and a
    ``hartnode: hint:`` line, naming the closest command on a typo."""

    def error(self, message: str) -> NoReturn:
        hint = f"see `{self.prog} --help`"
        typo = re.search(r"invalid choice: '([^']*)'", message)
        choices = [name for action in self._actions
                   if isinstance(action, argparse._SubParsersAction)
                   for name in action.choices]
        if typo and choices:
            close = difflib.get_close_matches(typo.group(1), choices, n=1)
            message = f"unknown command {typo.group(1)!r} for `{self.prog}`"
            if close:
                hint = f"did you mean `{self.prog} {close[0]}`? (see `{self.prog} --help`)"
        _fail(message, hint, EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="hartnode", description="The hartnode daemon and its maintenance commands.")
    p.add_argument("-V", "--version", action="version", version=f"hartnode {__version__}")
    # SUPPRESS on both: a --data-dir before the command is not reset by the
    # subcommand's default, and one after it wins.
    data_help = ("data directory (default: $HARTNODE_DATA_DIR, else $XDG_DATA_HOME/hartnode, "
                 "else ~/.local/share/hartnode)")
    p.add_argument("--data-dir", default=argparse.SUPPRESS, help=data_help)
    data = _Parser(add_help=False)
    data.add_argument("--data-dir", default=argparse.SUPPRESS, help=data_help)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    version = sub.add_parser("version", help="print the versions of hartnode, Python, SQLite")
    version.add_argument("--json", action="store_true", help="one JSON object")
    ident = sub.add_parser("id", parents=[data], help="this node's id, tier and addresses "
                           "(offline: no daemon needed)")
    ident.add_argument("--json", action="store_true", help="one JSON object")

    init = sub.add_parser("init", parents=[data], help="create a node: key, token, config")
    for flag, (section, key) in INIT_FLAGS.items():
        kwargs: dict[str, Any] = {"help": _field_doc(section, key), "dest": f"{section}_{key}"}
        if flag == "--seed":
            kwargs.update(action="append", metavar="URL")
        init.add_argument(flag, **kwargs)

    sub.add_parser("run", parents=[data], help="run the daemon (initialises a missing data dir)")
    status = sub.add_parser("status", parents=[data], help="ask the running daemon how it is")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    peers = sub.add_parser("peers", parents=[data], help="list the peers the daemon knows")
    peers.add_argument("--json", action="store_true", help="one JSON array")

    kb = sub.add_parser("kb", help="maintain the ledger and views")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, metavar="KB_COMMAND")
    verify = kb_sub.add_parser("verify", parents=[data],
                               help="check hashes, signatures, chains, schema, views")
    verify.add_argument("--json", action="store_true", help="machine-readable report")
    backup = kb_sub.add_parser("backup", parents=[data],
                               help="consistent copy of both databases (daemon may run)")
    backup.add_argument("dest", help="new or empty directory to write the copy to")
    restore = kb_sub.add_parser("restore", parents=[data],
                                help="restore a `kb backup` copy into the data dir (daemon "
                                "stopped)")
    restore.add_argument("src", help="the directory `hartnode kb backup` wrote")
    restore.add_argument("--force", action="store_true", help="replace the node the data dir "
                         "holds (its key and ledger are lost)")
    kb_sub.add_parser("vacuum", parents=[data], help="VACUUM and ANALYZE (daemon stopped)")
    kb_sub.add_parser("migrate", parents=[data],
                      help="back up, migrate the schema, replay views (daemon stopped)")
    kb_sub.add_parser("rebuild", parents=[data], help="empty the views and replay the ledger")

    keys = sub.add_parser("keys", help="the network's offline master key")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="KEYS_COMMAND")
    master = keys_sub.add_parser("master-init", help="create an offline master key file "
                                 "(never inside a node's data directory)")
    master.add_argument("path", help="new key file, e.g. /media/usb/hartnode-master.key")

    cert = sub.add_parser("cert", help="issue, install, show and revoke tier certificates")
    cert_sub = cert.add_subparsers(dest="cert_command", required=True, metavar="CERT_COMMAND")
    issue = cert_sub.add_parser("issue", help="certify a node (by the master, a central or a "
                                "regional key)")
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
    install = cert_sub.add_parser("install", parents=[data],
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
    publish = cert_sub.add_parser("publish", parents=[data],
                                  help="hand a revocation list to the running daemon, which "
                                  "applies it and spreads it to every node")
    publish.add_argument("list", help="revocation list file from `hartnode cert revoke`")
    revoke = cert_sub.add_parser("revoke", help="sign the next revocation list")
    revoke.add_argument("--master-key-file", required=True, help="the master key file")
    revoke.add_argument("--list", required=True, help="revocation list file (created at seq 1)")
    revoke.add_argument("--serial", action="append", default=[], help="certificate serial")
    revoke.add_argument("--subject", action="append", default=[], help="node id to revoke")

    ledger = sub.add_parser("ledger", help="append to and read the ledger")
    l_sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="LEDGER_COMMAND")
    append = l_sub.add_parser("append", parents=[data], help="sign and append one event")
    append.add_argument("--kind", required=True, help="event kind, e.g. note.created")
    append.add_argument("--reach", default="network", choices=("local", "hierarchy", "network"))
    append.add_argument("--payload", required=True, help='JSON object, e.g. {"text": "hi"}')
    tail = l_sub.add_parser("tail", parents=[data], help="print the newest events")
    tail.add_argument("-n", type=int, default=10, help="how many (default 10)")
    tail.add_argument("--json", action="store_true", help="one JSON object per line")

    trust = sub.add_parser("trust", parents=[data],
                           help="integrity of peers: scores, quarantines, challenges, manifests")
    trust.add_argument("--json", action="store_true", help="one JSON object")
    t_sub = trust.add_subparsers(dest="trust_command", required=False, metavar="TRUST_COMMAND")
    challenge = t_sub.add_parser("challenge", parents=[data],
                                 help="challenge one peer now and print the verdict")
    challenge.add_argument("node_id", help="the peer's node id (64 hex digits)")
    challenge.add_argument("--json", action="store_true", help="one JSON object")
    manifest = t_sub.add_parser("manifest", help="release manifests (files as a Merkle root)")
    m_sub = manifest.add_subparsers(dest="manifest_command", required=True, metavar="COMMAND")
    build = m_sub.add_parser("build", help="print the manifest of an installed package as JSON")
    build.add_argument("dir", type=Path, help="the package directory, e.g. .../site-packages/"
                       "hartnode (paths start with its name)")
    build.add_argument("--version", dest="release_version", default=None,
                       help="release version (default: this hartnode's)")
    as_json = _Parser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON")
    compute = sub.add_parser("compute", help="compute lending: GPU, policy, jobs, escrows")
    c_sub = compute.add_subparsers(dest="compute_command", required=True,
                                   metavar="COMPUTE_COMMAND")
    c_sub.add_parser("status", parents=[data, as_json], help="GPU facts, policy, escrow counts")
    pol = c_sub.add_parser("policy", parents=[data, as_json],
                           help="the effective policy and where each value comes from")
    pol_sub = pol.add_subparsers(dest="policy_command", metavar="set")
    pol_set = pol_sub.add_parser("set", parents=[data], help="set one value (a signed local "
                                 "event; HARTNODE_COMPUTE_<KEY> still wins)")
    pol_set.add_argument("key")
    pol_set.add_argument("value")
    c_sub.add_parser("jobs", parents=[data, as_json], help="job kinds and recent jobs")
    c_sub.add_parser("escrow", parents=[data, as_json], help="recent escrows")
    sub.add_parser("wallet", parents=[data, as_json], help="this node's Spark wallet")
    for app in APP_CLIS.values():
        app.add_parsers(sub, data, as_json)
    return p


def _data_dir(args: argparse.Namespace) -> DataDir:
    """The data directory, with its config and ``HARTNODE_*`` variables checked:
    a typo in either is reported by every command, not only by ``run``."""
    dd = DataDir(resolve(getattr(args, "data_dir", None)))
    dd.load_config()
    return dd


def _catalog(dd: DataDir) -> Catalog:
    """The catalog with this node's pinned master key: whose Spark grants count
    in the compute views must be the same for the daemon and every command."""
    key = dd.load_config().trust.master_key
    return build_catalog(bytes.fromhex(key) if key else None)


def _require_init(dd: DataDir, *, databases_only: bool = False) -> None:
    """Refuse a directory that holds no node. ``databases_only``: the ``kb``
    commands need only the databases, so they also work on a backup copy."""
    if dd.exists() or (databases_only and (dd.path / "ledger.sqlite").exists()):
        return
    raise CliError(f"no hartnode node in {dd.path}",
                   "run `hartnode init` first, or pass --data-dir", EXIT_USAGE)


def cmd_init(args: argparse.Namespace) -> int:
    dd = _data_dir(args)
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

    NodeLedger(dd.path, identity, _catalog(dd), create=True).close()
    print(f"initialised node {identity.node_id}\n  data dir: {dd.path}\n"
          f"  config:   {dd.config_path}\nstart it with: hartnode run --data-dir {dd.path}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    import trio

    from hartnode import logs
    from hartnode.node import StartupError, run_node

    dd = _data_dir(args)
    dd.check_usable(create=True)
    if not dd.exists():  # refuses a ledger without its key; never rewrites the config
        dd.init(config_mod.Config())
    cfg = dd.load_config()
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


def _api_request(dd: DataDir, path: str, body: Any = None, *, raw: bytes | None = None) -> Any:
    """Call the running daemon's API (POST when ``body`` or ``raw`` is given).

    Raises:
        CliError: EXIT_UNREACHABLE when no daemon answers; the API's error otherwise.
    """
    cfg = dd.load_config()
    host, port = config_mod.parse_hostport(cfg.api.listen, "api.listen")
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    url = f"http://{host}:{port}{path}"
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    req.add_header("Authorization", f"Bearer {dd.load_token()}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read())
            raise CliError(str(detail.get("error")), str(detail.get("hint", "")),
                           EXIT_USAGE if e.code == 400 else EXIT_FAILED) from e
        except ValueError:
            raise CliError(f"the daemon answered HTTP {e.code}", "see its log") from e
    except (urllib.error.URLError, OSError) as e:
        raise CliError(f"no hartnode daemon answers at {url} ({e})",
                       "start it with `hartnode run` or `systemctl start hartnode`",
                       EXIT_UNREACHABLE) from e


def cmd_status(args: argparse.Namespace) -> int:
    dd = _data_dir(args)
    _require_init(dd)
    info = _api_request(dd, "/api/v1/node")
    if args.json:
        print(json.dumps(info, sort_keys=True))
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


def cmd_version(args: argparse.Namespace) -> int:
    import apsw

    info = {"hartnode": __version__, "python": platform.python_version(),
            "sqlite": apsw.sqlitelibversion(), "apsw": apsw.apswversion()}
    if args.json:
        print(json.dumps(info, sort_keys=True))
    else:
        print(f"hartnode {info['hartnode']}\nPython   {info['python']} "
              f"({platform.python_implementation()})\nSQLite   {info['sqlite']} "
              f"(apsw {info['apsw']})")
    return EXIT_OK


def _standing(dd: DataDir, cfg: config_mod.Config, node_id: str) -> dict[str, Any]:
    """What the installed chain proves against the pinned master key, and the
    standing the daemon would take: the same calls as ``node.build_gossip`` and
    ``node.hierarchy_settings``, offline."""
    from hartnode.attestation.certificate import (
        CertificateError,
        effective_tier,
        parse_chain_file,
    )
    from hartnode.attestation.revocation import RevocationError, parse_revocation_file
    from hartnode.datadir import CHAIN_FILE
    from hartnode.node import REVOCATIONS_FILE, tier_standing

    master = bytes.fromhex(cfg.trust.master_key) if cfg.trust.master_key else None
    chain_file, revocations_file = dd.path / CHAIN_FILE, dd.path / REVOCATIONS_FILE
    problems: list[str] = []
    chain: tuple[tuple[bytes, bytes], ...] = ()
    if chain_file.exists():
        try:
            chain = tuple(link.to_wire() for link in parse_chain_file(chain_file.read_bytes()))
        except (CertificateError, OSError) as e:
            problems.append(f"{chain_file} is unreadable ({e}): `hartnode run` refuses it")
    revocations = None
    if master is not None and revocations_file.exists():
        try:
            revocations = parse_revocation_file(revocations_file.read_bytes(),
                                                master_public_key=master).revocations
        except (RevocationError, OSError) as e:
            problems.append(f"{revocations_file} is unusable ({e}): `hartnode run` refuses it")
    proven, proven_region, error = "flat", "", ""
    if master is not None and chain:
        verified, chain_error = effective_tier(
            chain, master_public_key=master, now_ms=time.time_ns() // 1_000_000,
            revocations=revocations, presenter_node_id=node_id)
        proven, proven_region = verified.tier, verified.region
        error = chain_error.reason if chain_error else ""
    tier, region, warnings = tier_standing(
        cfg.node.tier, chain_installed=chain_file.exists(), master_pinned=master is not None,
        proven=proven, proven_region=proven_region, error=error)
    return {"tier": tier, "region": region, "proven_tier": proven,
            "claimed_tier": cfg.node.tier, "warnings": problems + warnings}


def cmd_id(args: argparse.Namespace) -> int:
    from hartnode.gossip.service import advertised_addrs
    from hartnode.identity import short_id

    dd = _data_dir(args)
    _require_init(dd)
    cfg = dd.load_config()
    node_id = dd.load_identity().node_id
    host, port = config_mod.parse_hostport(cfg.network.listen, "network.listen")
    info: dict[str, Any] = {
        "node_id": node_id, "short_id": short_id(node_id), "network": cfg.network.name,
        **_standing(dd, cfg, node_id), "listen": cfg.network.listen,
        "advertise": list(advertised_addrs(cfg.network.advertise, host, port)),
        "api": cfg.api.listen, "data_dir": str(dd.path)}
    if args.json:
        print(json.dumps(info, sort_keys=True))
        return EXIT_OK
    region = f" / {info['region']}" if info["region"] else ""
    print(f"node      {node_id}\nshort id  {info['short_id']}\nnetwork   {info['network']}\n"
          f"tier      {info['tier']}{region} (proven: {info['proven_tier']}, "
          f"claimed: {info['claimed_tier']})\nlisten    {info['listen']}\n"
          f"advertise {' '.join(info['advertise']) or '(none: dialled by no one, behind NAT)'}"
          f"\napi       {info['api']}\ndata dir  {info['data_dir']}")
    for text in info["warnings"]:
        print(f"warning   {text}")
    return EXIT_OK


def cmd_peers(args: argparse.Namespace) -> int:
    dd = _data_dir(args)
    _require_init(dd)
    rows = _api_request(dd, "/api/v1/peers")
    if args.json:
        print(json.dumps(rows, sort_keys=True))
        return EXIT_OK
    print(f"{'node':<14}{'status':<8}{'tier':<10}{'region':<12}{'nbr':<5}address")
    for r in rows:
        addr = r["addrs"][0] if r["addrs"] else "(behind NAT)"
        print(f"{r['node_id'][:12]:<14}{r['status']:<8}{r['tier']:<10}{r['region'] or '-':<12}"
              f"{'yes' if r['neighbour'] else '':<5}{addr}")
    print(f"{len(rows)} peers")
    return EXIT_OK


def cmd_kb(args: argparse.Namespace) -> int:
    dd = _data_dir(args)
    if args.kb_command == "restore":
        return _kb_restore(dd, Path(args.src), force=args.force)
    _require_init(dd, databases_only=True)
    catalog = _catalog(dd)
    if args.kb_command == "verify":
        report = maintenance.verify(dd.path, catalog)
        if args.json:
            print(json.dumps(report.as_json(), sort_keys=True))
        else:
            print(f"checked {report.events} events from {report.origins} origins, "
                  f"{report.view_rows} view rows (watermark {report.watermark}), "
                  f"{report.equivocations} forks on record, {report.markers} withheld markers,"
                  f" in {report.seconds:.2f} s")
            if report.unsigned_markers:
                print(f"note: {report.unsigned_markers} markers stored before schema 1.2.0 carry"
                      " no origin signature; they are kept, never served on")
            for problem in report.problems:
                print(f"PROBLEM: {problem}")
            if report.problem_count > len(report.problems):
                print(f"... and {report.problem_count - len(report.problems)} more")
            print("OK" if report.ok else f"FAILED: {report.problem_count} problems")
        return EXIT_OK if report.ok else EXIT_FAILED
    if args.kb_command == "backup":
        written = maintenance.backup(dd.path, Path(args.dest), BACKUP_FILES)
        print("\n".join(f"wrote {p}" for p in written))
        print(f"check it with: hartnode kb verify --data-dir {args.dest}\n"
              f"restore it with: hartnode kb restore {args.dest} --data-dir DIR\n"
              "it holds the node's private key: keep it as safe as the node")
        return EXIT_OK
    lock = dd.lock()  # vacuum, migrate, rebuild need the daemon stopped
    try:
        if args.kb_command == "vacuum":
            maintenance.vacuum(dd.path)
            print("vacuumed and analysed ledger.sqlite and state.sqlite")
        elif args.kb_command == "rebuild":
            n = maintenance.rebuild(dd.path, catalog)
            print(f"rebuilt the views from {n} events")
        else:
            rep = maintenance.migrate(dd.path, catalog)
            if rep.backup_dir is None:
                print("already at the current schema version; nothing to do")
            else:
                print(f"backup in {rep.backup_dir}; applied {rep.applied}; "
                      f"replayed {rep.replayed} events")
    finally:
        lock.release()
    return EXIT_OK


def _kb_restore(dd: DataDir, src: Path, *, force: bool) -> int:
    if not src.is_dir():
        raise CliError(f"{src} is not a directory", "pass the directory `hartnode kb backup "
                       "DEST` wrote", EXIT_USAGE)
    dd.check_usable(create=True)
    try:
        dd.path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise CliError(f"cannot create {dd.path}: {e.strerror or e}", "check the path and "
                       "its permissions") from e
    lock = dd.lock()  # refuses while a daemon runs on it
    try:
        written = maintenance.restore(src, dd.path, BACKUP_FILES, force=force)
    except OSError as e:
        raise CliError(f"cannot restore into {dd.path}: {e}",
                       "check free space and permissions; then run the restore again") from e
    finally:
        lock.release()
    print("\n".join(f"restored {p}" for p in written))
    if dd.exists():
        print(f"node {dd.load_identity().node_id}\ncheck it with: hartnode kb verify "
              f"--data-dir {dd.path}\nstart it with: hartnode run --data-dir {dd.path}")
        return EXIT_OK
    raise CliError(f"the backup holds no {dd.key_path.name}: the databases are restored, but "
                   "the node cannot start without its key",
                   f"copy the node's key into {dd.key_path} (mode 0600)")


def cmd_ledger(args: argparse.Namespace) -> int:
    from hartnode.ledger.node_ledger import NodeLedger

    dd = _data_dir(args)
    _require_init(dd)
    catalog = _catalog(dd)
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
            event = _api_request(dd, "/api/v1/events",
                                 {"kind": args.kind, "reach": args.reach, "payload": payload})
        else:
            with NodeLedger(dd.path, dd.load_identity(), catalog) as nl:
                event = nl.append([Draft(kind=args.kind, payload=payload,
                                         reach=args.reach)])[0].as_json()
        print(json.dumps(event, sort_keys=True))
        return EXIT_OK
    with NodeLedger(dd.path, dd.load_identity(), catalog) as nl:
        events = nl.ledger.tail(max(args.n, 0))
    for ev in events:
        if args.json:
            print(json.dumps(ev.as_json(), sort_keys=True))
        else:
            print(f"{ev.origin[:12]} #{ev.seq:<6} {ev.kind:<24} {ev.reach:<9} {ev.payload_json}")
    return EXIT_OK


def cmd_compute(args: argparse.Namespace) -> int:
    """``hartnode compute ...`` and ``hartnode wallet``, read from the views."""
    from hartnode.compute import commands, policy
    from hartnode.ledger.node_ledger import NodeLedger

    dd = _data_dir(args)
    _require_init(dd)
    cfg = dd.load_config()
    catalog = _catalog(dd)
    which = "wallet" if args.command == "wallet" else args.compute_command
    if which == "policy" and getattr(args, "policy_command", None) == "set":
        try:
            policy.check_value(args.key, args.value)
        except policy.PolicyError as e:
            raise CliError(str(e), "see `hartnode compute policy` for the keys", EXIT_USAGE) from e
        body = {"kind": "compute.config.set", "reach": "local",
                "payload": {"key": args.key, "value": args.value}}
        if dd.is_locked():  # the daemon owns the feed: ask it
            _api_request(dd, "/api/v1/events", body)
        else:
            with NodeLedger(dd.path, dd.load_identity(), catalog) as nl:
                nl.append([Draft(kind=body["kind"], payload=body["payload"],  # type: ignore[arg-type]
                                 reach="local")])
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
        print(json.dumps(out, sort_keys=True))
    else:
        for key, value in out.items():
            print(f"{key}: {json.dumps(value, sort_keys=True)}")
    return EXIT_OK


def _pinned_master_key(args: argparse.Namespace) -> str | None:
    if args.master_key:
        return str(args.master_key)
    dd = _data_dir(args)
    key = dd.load_config().trust.master_key if dd.exists() else ""
    return key or None


def cmd_keys(args: argparse.Namespace) -> int:
    from hartnode import cert_commands as commands

    out = commands.master_init(args.path)
    print(out.text)
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
        out = commands.cert_install(_data_dir(args).path, args.chain, master, args.revocations)
    elif args.cert_command == "show":
        target = args.chain or _data_dir(args).path
        out = commands.cert_show(target, _pinned_master_key(args), args.revocations)
        print(json.dumps(out.data, sort_keys=True) if args.json else out.text)
        return EXIT_FAILED if out.data.get("valid") is False else EXIT_OK
    elif args.cert_command == "publish":
        dd = _data_dir(args)
        _require_init(dd)
        try:
            data = Path(args.list).read_bytes()
        except OSError as e:
            raise CliError(f"cannot read {args.list}: {e}", "check the path", EXIT_USAGE) from e
        reply = _api_request(dd, "/api/v1/revocations", raw=data)
        state = "applied and spreading" if reply["accepted"] else "not newer than the held list"
        print(f"revocation list seq {reply['seq']}: {state} (node holds seq {reply['held_seq']})")
        return EXIT_OK
    else:
        out = commands.cert_revoke(args.master_key_file, args.list, args.serial, args.subject)
    print(out.text)
    return EXIT_OK


def cmd_trust(args: argparse.Namespace) -> int:
    if args.trust_command == "manifest":
        return _manifest_build(args)
    dd = _data_dir(args)
    _require_init(dd)
    if args.trust_command == "challenge":
        out = _api_request(dd, "/api/v1/trust/challenge", {"node_id": args.node_id})
        if args.json:
            print(json.dumps(out, sort_keys=True))
        else:
            print(f"{out['node_id'][:12]}  {out['verdict']}  ({out['reason']}); "
                  f"integrity_status {out['integrity_status']}")
        return EXIT_OK
    view = _api_request(dd, "/api/v1/trust")
    if args.json:
        print(json.dumps(view, sort_keys=True))
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
    print(json.dumps(manifest.to_json(), indent=1, sort_keys=True))
    return EXIT_OK


def cmd_app(args: argparse.Namespace) -> int:
    """An app's own subcommands (``APP_CLIS``)."""
    dd = _data_dir(args)
    _require_init(dd)
    ctx = AppCli(dd, _catalog(dd), lambda path, body: _api_request(dd, path, body))
    try:
        return int(APP_CLIS[args.command].run(args, ctx))
    except AppCommandError as e:
        raise CliError(e.message, e.hint, EXIT_USAGE if e.usage else EXIT_FAILED) from e
    except (QueryError, LifecycleError) as e:  # names the field, or the step not allowed
        raise CliError(str(e), f"see `hartnode {args.command} --help`", EXIT_USAGE) from e
    except GateRefused as e:
        raise CliError(e.message, e.hint, EXIT_FAILED) from e


COMMANDS = {"version": cmd_version, "id": cmd_id, "init": cmd_init, "run": cmd_run,
            "status": cmd_status, "peers": cmd_peers,
            "kb": cmd_kb, "trust": cmd_trust,
            "keys": cmd_keys, "cert": cmd_cert, "ledger": cmd_ledger,
            "compute": cmd_compute, "wallet": cmd_compute,
            **{name: cmd_app for name in APP_CLIS}}


def _fail(message: str, hint: str, code: int) -> NoReturn:
    print(f"hartnode: error: {message}", file=sys.stderr)
    if hint:
        print(f"hartnode: hint: {hint}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CliError as e:
        _fail(e.message, e.hint, e.code)
    except CommandError as e:
        _fail(e.message, e.hint, EXIT_USAGE if e.usage else EXIT_FAILED)
    except config_mod.ConfigError as e:
        code = EXIT_STARTUP if args.command == "run" else EXIT_USAGE
        _fail(str(e), "fix the config file or the HARTNODE_* variable it names", code)
    except (DataDirError, StoreError) as e:
        code = EXIT_STARTUP if args.command == "run" else EXIT_FAILED
        _fail(e.message, e.hint, code)
    except (UnknownKindError, PayloadError, EnvelopeError) as e:
        _fail(str(e), "see `hartnode ledger append --help`; the payload must match the "
              "kind's schema", EXIT_USAGE)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `hartnode peers --json | head`: the reader left; not an error
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
