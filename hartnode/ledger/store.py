"""The only module that opens APSW connections (DESIGN §2).

Both databases use WAL. The ledger uses ``synchronous=FULL`` so a returned
commit survives power loss; the views use ``NORMAL`` because they can always
be rebuilt from the ledger (DESIGN §1). apsw's best-practice settings are
applied to every connection (busy timeout, foreign keys, no double-quoted
string literals, periodic optimize).

Opening refuses, with a ``StoreError`` that says what to do: a file that is
not SQLite, an SQLite file of another program, a schema version this code
does not know, and a database left dirty by an interrupted migration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import apsw.bestpractice

from hartnode.errors import HintedError
from hartnode.ledger.schema import (
    APPLICATION_ID_LEDGER,
    APPLICATION_ID_STATE,
    LEDGER_MIGRATIONS,
    STATE_MIGRATIONS,
    Migration,
)

LEDGER_FILE = "ledger.sqlite"
STATE_FILE = "state.sqlite"
BUSY_TIMEOUT_MS = 10_000

_BEST_PRACTICE = (
    apsw.bestpractice.connection_busy_timeout,
    apsw.bestpractice.connection_wal,
    apsw.bestpractice.connection_enable_foreign_keys,
    apsw.bestpractice.connection_dqs,
    apsw.bestpractice.connection_recursive_triggers,
)


class StoreError(HintedError):
    """A database cannot be used; ``hint`` says what the operator should do."""


@dataclass(frozen=True)
class DatabaseKind:
    name: str
    file: str
    application_id: int
    migrations: tuple[Migration, ...]
    synchronous: str
    wal_autocheckpoint_pages: int = 4096


LEDGER = DatabaseKind("ledger", LEDGER_FILE, APPLICATION_ID_LEDGER, LEDGER_MIGRATIONS, "FULL")
STATE = DatabaseKind("state", STATE_FILE, APPLICATION_ID_STATE, STATE_MIGRATIONS, "NORMAL")


@dataclass(frozen=True)
class Meta:
    schema_version: str
    dirty: bool


def _connect(path: Path, *, readonly: bool) -> apsw.Connection:
    """Open without changing the file: settings that write (WAL) come later,
    in ``_configure``, once the file is known to be ours."""
    rw = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    flags = apsw.SQLITE_OPEN_READONLY if readonly else rw
    conn = apsw.Connection(str(path), flags=flags)
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    return conn


def _configure(conn: apsw.Connection, kind: DatabaseKind, *, readonly: bool) -> None:
    for setting in _BEST_PRACTICE:
        if readonly and setting is apsw.bestpractice.connection_wal:
            continue
        setting(conn)
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    if not readonly:
        conn.execute(f"PRAGMA synchronous={kind.synchronous}")
        # Checkpoint the WAL every ~16 MB instead of SQLite's ~4 MB: a checkpoint
        # rides on whichever commit crosses the mark, and in bench_ledger a
        # larger mark cut that tax (28% -> 34% of raw signing at 1M events).
        conn.execute(f"PRAGMA wal_autocheckpoint={kind.wal_autocheckpoint_pages}")


def query(conn: apsw.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """All rows of ``sql``, typed loosely: callers know their columns' types."""
    return conn.execute(sql, params).fetchall()


def scalar(conn: apsw.Connection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row of ``sql`` (None when there is no row)."""
    rows = conn.execute(sql, params).fetchall()
    return rows[0][0] if rows else None


def _pragma_int(conn: apsw.Connection, name: str) -> int:
    return int(scalar(conn, f"PRAGMA {name}"))


def open_database(
    data_dir: Path, kind: DatabaseKind, *, create: bool = False, readonly: bool = False,
    maintenance: bool = False,
) -> apsw.Connection:
    """Open ``kind``'s database in ``data_dir``, creating it when ``create``.

    Args:
        maintenance: accept an older schema version or a dirty database, for
            the ``kb`` commands that inspect or repair them (migrate, verify).

    Raises:
        StoreError: missing, not SQLite, another program's, unknown or old
            schema version, or left dirty by an interrupted migration.
    """
    path = data_dir / kind.file
    if not path.exists() and not create:
        raise StoreError(
            f"{path} does not exist", "run `hartnode init` (or `hartnode run`, which initialises)"
        )
    try:
        conn = _connect(path, readonly=readonly)
        app_id = _pragma_int(conn, "application_id")
        tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchall()[0][0]
    except apsw.NotADBError as e:
        raise StoreError(
            f"{path} is not an SQLite database ({e})",
            "restore it from a backup (`hartnode kb backup` makes them) or move it away",
        ) from e
    except apsw.CorruptError as e:
        raise StoreError(
            f"{path} is corrupt ({e})", "restore it from a backup or move it away"
        ) from e
    except apsw.CantOpenError as e:
        raise StoreError(f"cannot open {path} ({e})", "check the path and its permissions") from e
    if app_id == 0 and tables == 0:
        if readonly:
            conn.close()
            raise StoreError(f"{path} is empty", "run `hartnode init` first")
        _configure(conn, kind, readonly=readonly)
        _migrate(conn, kind, from_index=0)
    elif app_id != kind.application_id:
        conn.close()
        raise StoreError(
            f"{path} is an SQLite database of another program (application_id {app_id:#x})",
            f"point --data-dir at a hartnode data directory, or move {path.name} away",
        )
    else:
        _configure(conn, kind, readonly=readonly)
    meta = read_meta(conn)
    known = [m.version for m in kind.migrations]
    if meta.dirty and not maintenance:
        conn.close()
        raise StoreError(
            f"{path}: a migration to {meta.schema_version} was interrupted (meta.dirty=1)",
            "run `hartnode kb migrate` again; it resumes from its backup",
        )
    if meta.schema_version not in known:
        conn.close()
        raise StoreError(
            f"{path} has schema version {meta.schema_version}, this hartnode knows up to "
            f"{known[-1]}",
            "upgrade hartnode, or restore a backup made by this version",
        )
    if meta.schema_version != known[-1] and not maintenance:
        conn.close()
        raise StoreError(
            f"{path} has schema version {meta.schema_version}, this hartnode needs {known[-1]}",
            "stop the daemon and run `hartnode kb migrate`",
        )
    return conn


def read_meta(conn: apsw.Connection) -> Meta:
    """The one ``meta`` row. Raises StoreError when it is missing or malformed."""
    try:
        rows = conn.execute("SELECT schema_version, dirty FROM meta WHERE id = 1").fetchall()
    except apsw.SQLError as e:
        raise StoreError(f"no meta table ({e})", "restore from a backup") from e
    if len(rows) != 1 or not isinstance(rows[0][0], str):
        raise StoreError("the meta row is missing or malformed", "restore from a backup")
    return Meta(schema_version=rows[0][0], dirty=bool(rows[0][1]))


def pending_migrations(conn: apsw.Connection, kind: DatabaseKind) -> list[Migration]:
    """The migrations ``conn`` still needs, in order."""
    version = read_meta(conn).schema_version
    known = [m.version for m in kind.migrations]
    return list(kind.migrations[known.index(version) + 1 :])


def _migrate(conn: apsw.Connection, kind: DatabaseKind, *, from_index: int) -> None:
    """Apply ``kind.migrations[from_index:]``, each in its own transaction.

    A crash mid-step rolls that step back (DDL is transactional in SQLite);
    ``kb migrate`` keeps ``meta.dirty`` at 1 around the whole run, view
    replay included (seed §4), see ``set_dirty``.
    """
    for i, migration in enumerate(kind.migrations[from_index:], start=from_index):
        with conn:
            if i == 0:
                conn.execute(migration.sql)
                conn.execute(f"PRAGMA application_id={kind.application_id}")
                conn.execute(
                    "INSERT INTO meta(id, schema_version, dirty) VALUES (1, ?, 0)",
                    (migration.version,),
                )
            else:
                conn.execute(migration.sql)
                conn.execute(
                    "UPDATE meta SET schema_version = ?, ts = CURRENT_TIMESTAMP WHERE id = 1",
                    (migration.version,),
                )


def migrate(conn: apsw.Connection, kind: DatabaseKind) -> list[str]:
    """Bring ``conn`` to the latest schema; returns the versions applied."""
    pending = pending_migrations(conn, kind)
    if pending:
        _migrate(conn, kind, from_index=len(kind.migrations) - len(pending))
    return [m.version for m in pending]


def set_dirty(conn: apsw.Connection, dirty: bool) -> None:
    with conn:
        conn.execute("UPDATE meta SET dirty = ?, ts = CURRENT_TIMESTAMP WHERE id = 1",
                     (int(dirty),))


def fsync_dir(path: Path) -> None:
    """fsync a directory so a file created in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
