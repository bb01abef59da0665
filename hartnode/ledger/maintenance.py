"""``hartnode kb``: verify, backup, vacuum, migrate, rebuild (seed §4, DESIGN §1).

``verify`` and ``backup`` work while the daemon runs (WAL readers never
block the writer); ``vacuum``, ``migrate`` and ``rebuild`` need the daemon
stopped and take its lock.

What ``verify`` proves about the ledger, and how:
- every row: ``row_check`` binds its id and received_ms to its hash (a flipped
  bit in a local column, or two rows swapped); the envelope rebuilt from its
  columns hashes to ``hash_blake3`` (a flipped bit in any signed column); the
  signature over that hash verifies against ``origin`` (a forged signature);
- ids run 1..N without a hole (a deleted row anywhere but at the very end);
- each origin's events, read in id order, have seq 1, 2, 3… and each ``prev``
  is the previous event's hash (a deleted or swapped event, a fork);
- ``meta``: the schema version is the current one and no migration is half done;
- the views: their watermark is within the ledger and every ``source_event``
  is at or below it (views referring to events that do not exist).
Signatures are checked on a thread pool: libsodium releases the GIL, so the
second core halves the time.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
import blake3

from hartnode.files import replace_private, write_private
from hartnode.identity import verify_signature
from hartnode.ledger import store
from hartnode.ledger.envelope import EnvelopeError, envelope_text
from hartnode.ledger.log import EVENT_COLUMNS, Ledger, Withheld, check_withheld, row_check
from hartnode.ledger.registries import Registries
from hartnode.ledger.schema import SCHEMA_VERSION, STATE_SCHEMA_VERSION
from hartnode.ledger.views import ViewRegistry, ViewUpdater

VERIFY_CHUNK = 4096
MAX_LISTED_PROBLEMS = 50
#: ``progress(what, done, total)``: how far a long operation is, in its own
#: unit (``events``, or bytes of a database file being copied); the CLI draws
#: it as a bar on a terminal. ``done`` may fall short of ``total`` when rows
#: were appended or freed pages dropped meanwhile.
Progress = Callable[[str, int, int], None]
#: SQLite VM steps between two looks at a copy's size during VACUUM INTO.
BACKUP_PROGRESS_STEPS = 100_000


@dataclass
class VerifyReport:
    events: int = 0
    origins: int = 0
    equivocations: int = 0
    markers: int = 0  # withheld markers checked against their origins' signatures
    unsigned_markers: int = 0  # markers stored before schema 1.2.0, without a signature
    view_rows: int = 0
    watermark: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(text)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "events": self.events, "origins": self.origins,
            "equivocations": self.equivocations, "markers": self.markers,
            "unsigned_markers": self.unsigned_markers, "view_rows": self.view_rows,
            "watermark": self.watermark, "problem_count": self.problem_count,
            "problems": self.problems, "seconds": round(self.seconds, 3),
        }


def _check_rows(rows: Sequence[Sequence[Any]]) -> list[str]:
    """Per-row checks that need no other row: row_check, hash, signature."""
    problems = []
    for row in rows:
        (event_id, origin, seq, prev_hash, ts_ms, actor, kind, scope, reach, payload_json,
         provenance_json, digest, sig, v, received_ms, check) = row
        where = f"event id {event_id} ({str(origin)[:12]} seq {seq})"
        try:
            if bytes(check) != row_check(event_id, received_ms, bytes(digest)):
                problems.append(f"{where}: row_check mismatch (local columns altered or rows "
                                "swapped)")
                continue
            text = envelope_text(
                origin=origin, seq=seq, prev=None if prev_hash is None else bytes(prev_hash).hex(),
                ts_ms=ts_ms, actor=actor, kind=kind, scope=scope, reach=reach,
                payload_json=payload_json, provenance_json=provenance_json, v=v,
            )
            computed = blake3.blake3(text.encode("utf-8")).digest()
        except (TypeError, ValueError, AttributeError, UnicodeEncodeError) as e:
            problems.append(f"{where}: malformed column ({e})")
            continue
        if computed != bytes(digest):
            problems.append(f"{where}: hash mismatch (a signed column was altered)")
            continue
        try:
            key = bytes.fromhex(origin)
        except (TypeError, ValueError):
            problems.append(f"{where}: origin is not hex")
            continue
        if not verify_signature(key, computed, bytes(sig)):
            problems.append(f"{where}: bad signature")
    return problems


def verify(data_dir: Path, catalog: Registries, *, workers: int | None = None,
           progress: Progress | None = None) -> VerifyReport:
    """Check the ledger and views in ``data_dir``; never writes.

    Safe while the daemon writes: the views are read first, then the whole
    ledger pass runs in one read transaction (one WAL snapshot), so events
    appended meanwhile are neither half seen nor mistaken for deletions, and
    the ledger snapshot is never older than the views'.
    """
    started = time.perf_counter()
    report = VerifyReport()
    try:
        state_conn = store.open_database(data_dir, store.STATE, readonly=True, maintenance=True)
    except store.StoreError as e:
        report.problem(f"state: {e}")
        state_conn = None
    if state_conn is not None:
        try:
            with state_conn:  # one read snapshot
                _verify_meta(state_conn, "state", STATE_SCHEMA_VERSION, report)
                _verify_views(state_conn, catalog.views, report)
        finally:
            state_conn.close()
    try:
        ledger_conn = store.open_database(data_dir, store.LEDGER, readonly=True, maintenance=True)
    except store.StoreError as e:
        report.problem(f"ledger: {e}")
        return report
    try:
        with ledger_conn:  # one read snapshot for the whole pass
            _verify_meta(ledger_conn, "ledger", SCHEMA_VERSION, report)
            _verify_events(ledger_conn, report, workers or min(2, os.cpu_count() or 1), progress)
            _verify_equivocations(ledger_conn, catalog, report)
            _verify_markers(ledger_conn, report)
    finally:
        ledger_conn.close()
    if report.watermark > report.events:
        report.problem(f"views: watermark {report.watermark} is past the ledger's last event "
                       f"{report.events}")
    report.seconds = time.perf_counter() - started
    return report


def _verify_meta(conn: apsw.Connection, name: str, expected: str, report: VerifyReport) -> None:
    meta = store.read_meta(conn)
    if meta.schema_version != expected:
        report.problem(f"{name}: schema version {meta.schema_version}, expected {expected} "
                       "(run `hartnode kb migrate`)")
    if meta.dirty:
        report.problem(f"{name}: meta.dirty=1, a migration was interrupted "
                       "(run `hartnode kb migrate`)")


def _verify_events(conn: apsw.Connection, report: VerifyReport, workers: int,
                   progress: Progress | None) -> None:
    heads: dict[str, tuple[int, bytes]] = {}
    # Markers for events this node may not see fill their places in the chains.
    withheld = {(origin, seq): bytes(digest) for origin, seq, digest in store.query(
        conn, "SELECT origin, seq, hash_blake3 FROM withheld")}
    expected_id = 1
    last_id = 0
    total = int(store.scalar(conn, "SELECT COUNT(*) FROM events"))
    pending: list[Future[list[str]]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            rows = store.query(
                conn, f"SELECT {EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (last_id, VERIFY_CHUNK),
            )
            if not rows:
                break
            pending.append(pool.submit(_check_rows, rows))
            for row in rows:
                event_id, origin, seq, prev_hash, digest = row[0], row[1], row[2], row[3], row[11]
                if event_id != expected_id:
                    report.problem(f"event ids {expected_id}..{event_id - 1} are missing "
                                   "(rows deleted)")
                expected_id = event_id + 1
                last_seq, last_hash = heads.get(origin, (0, b""))
                marker = withheld.get((origin, seq))
                if marker is not None and seq <= last_seq:
                    # Held first as a marker, the event itself came later (hierarchy sync).
                    if bytes(digest) != marker:
                        report.problem(f"event id {event_id}: {str(origin)[:12]} seq {seq} is "
                                       "not the event its withheld marker names")
                    continue
                while last_seq + 1 < seq and (origin, last_seq + 1) in withheld:
                    last_seq += 1
                    last_hash = withheld[(origin, last_seq)]
                if seq != last_seq + 1:
                    report.problem(f"event id {event_id}: {str(origin)[:12]} seq {seq} follows "
                                   f"seq {last_seq} (events missing or out of order)")
                elif seq > 1 and (prev_hash is None or bytes(prev_hash) != last_hash):
                    report.problem(f"event id {event_id}: {str(origin)[:12]} seq {seq} does not "
                                   "link to the stored previous event (a fork or a swap)")
                elif seq == 1 and prev_hash is not None:
                    report.problem(f"event id {event_id}: seq 1 has a prev hash")
                heads[origin] = (seq, bytes(digest))
            last_id = rows[-1][0]
            report.events += len(rows)
            # Keep at most 2 chunks per worker in flight: bounded memory, full cores.
            while len(pending) > 2 * workers:
                for text in pending.pop(0).result():
                    report.problem(text)
            if progress is not None:
                progress("events", report.events, total)
        for fut in pending:
            for text in fut.result():
                report.problem(text)
    report.origins = len(heads)
    top = store.scalar(conn, "SELECT seq FROM sqlite_sequence WHERE name = 'events'")
    if top is not None and top > last_id:
        report.problem(f"events after id {last_id} up to {top} are missing "
                       "(rows deleted at the end)")


def _verify_markers(conn: apsw.Connection, report: VerifyReport) -> None:
    """Every withheld marker must carry its origin's signature (DESIGN §8)."""
    for origin, seq, digest, prev, reach, sig in conn.execute(
            "SELECT origin, seq, hash_blake3, prev_hash, reach, sig FROM withheld"):
        report.markers += 1
        if sig is None:  # stored before 1.2.0: counted, never served on
            report.unsigned_markers += 1
            continue
        marker = Withheld(origin, seq, bytes(digest), None if prev is None else bytes(prev).hex(),
                          reach, bytes(sig))
        problem = check_withheld(marker)
        if problem is not None:
            report.problem(f"withheld marker {str(origin)[:12]} seq {seq}: {problem} "
                           "(not signed by its origin)")


def _verify_equivocations(conn: apsw.Connection, catalog: Registries, report: VerifyReport) -> None:
    # Reuse Ledger's decoder: evidence must itself be two valid signed events.
    reader = Ledger(conn, None, catalog.kinds)
    try:
        pairs = reader.equivocations()
    except EnvelopeError as e:
        report.problem(f"equivocation evidence does not verify: {e}")
        return
    for a, b in pairs:
        if (a.origin, a.seq) != (b.origin, b.seq) or a.hash == b.hash:
            report.problem(f"equivocation evidence for {a.origin[:12]} seq {a.seq} is not a fork")
    report.equivocations = len(pairs)


def _verify_views(conn: apsw.Connection, views: ViewRegistry, report: VerifyReport) -> None:
    watermark = int(store.scalar(
        conn, "SELECT events_high_watermark FROM snapshots ORDER BY id DESC LIMIT 1") or 0)
    report.watermark = watermark  # compared with the ledger once that pass is done
    existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='table'")}
    for table in views.tables:
        if table not in existing:
            continue  # created on first open by the daemon; nothing to check yet
        count, bad = store.query(
            conn, f'SELECT count(*), sum(source_event < 1 OR source_event > ?) FROM "{table}"',
            (watermark,),
        )[0]
        report.view_rows += count
        if bad:
            report.problem(f"views: {bad} rows of {table} refer to events that are not in the "
                           "ledger or not yet applied (run `hartnode kb rebuild`)")


def _unusable_dest(dest: Path, e: OSError) -> store.StoreError:
    return store.StoreError(f"cannot write the backup to {dest}: {e.strerror or e}",
                            "choose a new or empty directory on a writable disk")


def backup(data_dir: Path, dest: Path, files: Sequence[str] = (), *,
           progress: Progress | None = None) -> list[Path]:
    """Consistent copies of both databases, and of ``files`` (names in the data
    dir; missing ones are skipped), into the new directory ``dest``.

    The views are copied first: the ledger copy is then at least as new, so
    the copy's watermark never points past its ledger. ``dest`` is made with
    mode 0700 and every file in it 0600: it holds the node's key.

    Raises:
        store.StoreError: ``dest`` is not empty, not a directory, not
            writable, or a database cannot be read.
    """
    try:
        if dest.exists() and not dest.is_dir():
            raise store.StoreError(f"{dest} is not a directory",
                                   "choose a new or empty directory for the backup")
        if dest.exists() and any(dest.iterdir()):
            raise store.StoreError(f"{dest} is not empty", "choose a new or empty directory")
        created = not dest.exists()
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
        if created:
            os.chmod(dest, 0o700)  # mkdir's mode is cut by the umask
    except OSError as e:
        raise _unusable_dest(dest, e) from e
    written: list[Path] = []
    try:
        for kind in (store.STATE, store.LEDGER):
            conn = store.open_database(data_dir, kind, readonly=True, maintenance=True)
            try:
                # An empty 0600 file first: VACUUM INTO fills it, keeping its mode.
                write_private(dest / kind.file, b"")
                if progress is not None:
                    _watch_copy(conn, dest / kind.file, progress)
                conn.execute("VACUUM INTO ?", (str(dest / kind.file),))
            finally:
                conn.close()
            if progress is not None:
                size = (dest / kind.file).stat().st_size
                progress(kind.file, size, size)
            written.append(dest / kind.file)
            fd = os.open(dest / kind.file, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for name in files:
            if not (data_dir / name).is_file():
                continue
            write_private(dest / name, data_dir / name)
            written.append(dest / name)
        store.fsync_dir(dest)
    except BaseException as e:
        # No half copy: a retry into the same place must work. DEST was empty,
        # so whatever is there now (a finished or a half-written file) is ours.
        for path in dest.iterdir() if dest.is_dir() else ():
            path.unlink(missing_ok=True)
        if created:
            dest.rmdir()
        if isinstance(e, OSError):
            raise _unusable_dest(dest, e) from e
        raise
    return written


def restore(src: Path, data_dir: Path, files: Sequence[str], *, force: bool = False
            ) -> list[Path]:
    """Copy a ``backup`` at ``src`` into ``data_dir`` (the daemon stopped: the
    caller holds its lock). Every file is written 0600 through a temp file and
    renamed into place; the databases' old -wal and -shm files are removed
    first, so SQLite cannot replay them onto the restored copy.

    Raises:
        store.StoreError: ``src`` holds no backup, or ``data_dir`` is not
            empty and ``force`` is not given.
    """
    databases = [kind.file for kind in (store.LEDGER, store.STATE)]
    missing = [name for name in databases if not (src / name).is_file()]
    if missing:
        raise store.StoreError(f"{src} is not a hartnode backup ({', '.join(missing)} missing)",
                               "pass the directory `hartnode kb backup DEST` wrote")
    present = sorted(p.name for p in data_dir.iterdir() if p.name != "daemon.lock")
    if present and not force:
        node = any(name in present for name in (*databases, *files))
        raise store.StoreError(
            f"{data_dir} {'already holds a node' if node else 'is not empty'} "
            f"({', '.join(present[:5])}{', ...' if len(present) > 5 else ''})",
            "restore into a new or empty data directory, or pass --force to replace what "
            "is there (a node's current key and ledger are lost)")
    for name in databases:  # a stale WAL would be replayed onto the restored copy
        for side in ("-wal", "-shm"):
            (data_dir / f"{name}{side}").unlink(missing_ok=True)
    written: list[Path] = []
    for name in (*databases, *files):
        if not (src / name).is_file():
            continue  # e.g. no chain: a file of the data dir's is kept, never deleted
        replace_private(data_dir / name, src / name)
        written.append(data_dir / name)
    return written


def vacuum(data_dir: Path) -> None:
    """VACUUM and ANALYZE both databases (daemon stopped)."""
    for kind in (store.LEDGER, store.STATE):
        conn = store.open_database(data_dir, kind)
        try:
            conn.execute("VACUUM")
            conn.execute("ANALYZE")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()


@dataclass
class MigrateReport:
    applied: dict[str, list[str]]
    backup_dir: Path | None
    replayed: int


def _watch_copy(conn: apsw.Connection, copy: Path, progress: Progress) -> None:
    """Report a VACUUM INTO's progress as the copy's size against the source's:
    SQLite's progress handler runs every ``BACKUP_PROGRESS_STEPS`` VM steps."""
    total = int(store.scalar(conn, "PRAGMA page_count")) * int(
        store.scalar(conn, "PRAGMA page_size"))

    def look() -> bool:
        with contextlib.suppress(OSError):  # a failed look is no reason to stop the copy
            progress(copy.name, min(copy.stat().st_size, total), total)
        return False  # go on

    conn.set_progress_handler(look, BACKUP_PROGRESS_STEPS)


def rebuild(data_dir: Path, catalog: Registries, comment: str = "kb rebuild", *,
            progress: Progress | None = None) -> int:
    """Empty the views and replay the whole ledger; returns events replayed."""
    ledger_conn = store.open_database(data_dir, store.LEDGER, maintenance=True)
    state_conn = store.open_database(data_dir, store.STATE, maintenance=True)
    try:
        ledger = Ledger(ledger_conn, None, catalog.kinds)
        views = ViewUpdater(state_conn, ledger, catalog.views)
        total = int(store.scalar(ledger_conn, "SELECT COUNT(*) FROM events"))
        return views.rebuild(comment, progress=None if progress is None else (
            lambda done: progress("events", done, total)))
    finally:
        state_conn.close()
        ledger_conn.close()


def migrate(data_dir: Path, catalog: Registries, *,
            progress: Progress | None = None) -> MigrateReport:
    """Back up, migrate both schemas, replay the views (daemon stopped).

    ``meta.dirty`` is 1 on both databases from before the first step until
    the views are replayed, so an interrupted run is refused at startup and
    resumed by running ``kb migrate`` again.
    """
    conns = {kind.name: store.open_database(data_dir, kind, maintenance=True)
             for kind in (store.LEDGER, store.STATE)}
    try:
        kinds = {store.LEDGER.name: store.LEDGER, store.STATE.name: store.STATE}
        pending = {name: store.pending_migrations(conn, kinds[name])
                   for name, conn in conns.items()}
        dirty = any(store.read_meta(conn).dirty for conn in conns.values())
        if not dirty and not any(pending.values()):
            return MigrateReport({name: [] for name in conns}, None, 0)
        backup_dir = data_dir / "backups" / time.strftime("pre-migrate-%Y%m%dT%H%M%S")
    finally:
        for conn in conns.values():
            conn.close()
    backup(data_dir, backup_dir, progress=progress)
    conns = {kind.name: store.open_database(data_dir, kind, maintenance=True)
             for kind in (store.LEDGER, store.STATE)}
    try:
        for conn in conns.values():
            store.set_dirty(conn, True)
        applied = {name: store.migrate(conn, kinds[name]) for name, conn in conns.items()}
    finally:
        for conn in conns.values():
            conn.close()
    replayed = rebuild(data_dir, catalog, comment="kb migrate", progress=progress)
    for kind in (store.LEDGER, store.STATE):
        conn = store.open_database(data_dir, kind, maintenance=True)
        try:
            store.set_dirty(conn, False)
        finally:
            conn.close()
    return MigrateReport(applied, backup_dir, replayed)
