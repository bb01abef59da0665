"""``hartnode kb``: verify, back up, restore, vacuum, migrate and rebuild the
node's databases (most need only the databases, so they work on a backup)."""

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
    catalog_for,
    data_dir,
    print_json,
    require_init,
)
from hartnode.cli.progress import ProgressBar
from hartnode.datadir import BACKUP_FILES, DataDir
from hartnode.ledger import maintenance


def add_parser(sub: Subparsers, parents: Parents) -> None:
    data, as_json = parents.data, parents.json
    kb = sub.add_parser("kb", help="maintain the ledger and views")
    kb.set_defaults(handler=cmd_kb)
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, metavar="KB_COMMAND")
    verify = kb_sub.add_parser("verify", parents=[data],
                               help="check hashes, signatures, chains, schema, views")
    verify.add_argument("--json", action="store_true", help="machine-readable report")
    backup = kb_sub.add_parser("backup", parents=[data, as_json],
                               help="consistent copy of both databases (daemon may run)")
    backup.add_argument("dest", help="new or empty directory to write the copy to")
    restore = kb_sub.add_parser("restore", parents=[data, as_json],
                                help="restore a `kb backup` copy into the data dir (daemon "
                                "stopped)")
    restore.add_argument("src", help="the directory `hartnode kb backup` wrote")
    restore.add_argument("--force", action="store_true", help="replace the node the data dir "
                         "holds (its key and ledger are lost)")
    kb_sub.add_parser("vacuum", parents=[data, as_json], help="VACUUM and ANALYZE (daemon stopped)")
    kb_sub.add_parser("migrate", parents=[data, as_json],
                      help="back up, migrate the schema, replay views (daemon stopped)")
    kb_sub.add_parser("rebuild", parents=[data, as_json],
                      help="empty the views and replay the ledger")


def cmd_kb(args: argparse.Namespace) -> int:
    dd = data_dir(args)
    if args.kb_command == "restore":
        return _kb_restore(dd, Path(args.src), force=args.force, as_json=args.json)
    require_init(dd, databases_only=True)
    catalog = catalog_for(dd)
    if args.kb_command == "verify":
        with ProgressBar("verify") as bar:
            report = maintenance.verify(dd.path, catalog, progress=bar)
        if args.json:
            print_json(report.as_json())
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
        with ProgressBar("backup") as bar:
            written = maintenance.backup(dd.path, Path(args.dest), BACKUP_FILES, progress=bar)
        if args.json:
            print_json({"dest": str(args.dest), "written": [str(p) for p in written]})
            return EXIT_OK
        print("\n".join(f"wrote {p}" for p in written))
        print(f"check it with: hartnode kb verify --data-dir {args.dest}\n"
              f"restore it with: hartnode kb restore {args.dest} --data-dir DIR\n"
              "it holds the node's private key: keep it as safe as the node")
        return EXIT_OK
    lock = dd.lock()  # vacuum, migrate, rebuild need the daemon stopped
    try:
        if args.kb_command == "vacuum":
            maintenance.vacuum(dd.path)
            if args.json:
                print_json({"vacuumed": ["ledger.sqlite", "state.sqlite"]})
            else:
                print("vacuumed and analysed ledger.sqlite and state.sqlite")
        elif args.kb_command == "rebuild":
            with ProgressBar("rebuild") as bar:
                n = maintenance.rebuild(dd.path, catalog, progress=bar)
            if args.json:
                print_json({"replayed": n})
            else:
                print(f"rebuilt the views from {n} events")
        else:
            with ProgressBar("migrate") as bar:
                rep = maintenance.migrate(dd.path, catalog, progress=bar)
            if args.json:
                print_json({"backup_dir": None if rep.backup_dir is None else str(rep.backup_dir),
                            "applied": rep.applied, "replayed": rep.replayed})
            elif rep.backup_dir is None:
                print("already at the current schema version; nothing to do")
            else:
                print(f"backup in {rep.backup_dir}; applied {rep.applied}; "
                      f"replayed {rep.replayed} events")
    finally:
        lock.release()
    return EXIT_OK


def _kb_restore(dd: DataDir, src: Path, *, force: bool, as_json: bool) -> int:
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
    if as_json and dd.exists():
        print_json({"restored": [str(p) for p in written],
                    "node_id": dd.load_identity().node_id, "data_dir": str(dd.path)})
        return EXIT_OK
    if not as_json:
        print("\n".join(f"restored {p}" for p in written))
    if dd.exists():
        print(f"node {dd.load_identity().node_id}\ncheck it with: hartnode kb verify "
              f"--data-dir {dd.path}\nstart it with: hartnode run --data-dir {dd.path}")
        return EXIT_OK
    raise CliError(f"the backup holds no {dd.key_path.name}: the databases are restored, but "
                   "the node cannot start without its key",
                   f"copy the node's key into {dd.key_path} (mode 0600)")
