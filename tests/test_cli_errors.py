"""Bad input to the ``hartnode`` CLI, and a tampered ledger, as an operator meets them.

Every refusal must say what is wrong and what to do (``hartnode: error: …``
and ``hartnode: hint: …`` on stderr), exit with the documented code (README,
``cli/base.py``: 1 failed, 2 usage/config, 3 startup, 4 unreachable), and leave
the data directory as it was: the files are hashed before and after, and
``kb verify`` still passes.

The second half tampers with the ledger the way an attacker or a bad disk
would (the append-only triggers are dropped first) and checks that
``hartnode kb verify`` exits 1 and names the problem. The last part takes
``kb backup`` copies while a writer is busy.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw
import pytest
from conftest import Hartnode, Node, Result, init_node, snapshot

from hartnode import cli
from hartnode.catalog import build_catalog
from hartnode.datadir import DataDir
from hartnode.identity import NodeIdentity
from hartnode.ledger import maintenance
from hartnode.ledger.envelope import Event, sign_event
from hartnode.ledger.log import EVENT_COLUMNS, Draft, event_from_row, row_check
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.ledger.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from conftest import StartDaemon, StartLines, StartWriter

EXIT_FAILED, EXIT_USAGE, EXIT_STARTUP, EXIT_UNREACHABLE = 1, 2, 3, 4
TEMPLATE_EVENTS = 5


def assert_refused(result: Result, code: int, *needles: str, hint: str | None = "") -> None:
    """Exit ``code``; stderr has an error line holding every needle, and a hint line."""
    assert result.returncode == code, str(result)
    assert "hartnode: error: " in result.stderr, str(result)
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} missing\n{result}"
    if hint is not None:
        hints = [line for line in result.stderr.splitlines() if line.startswith("hartnode: hint: ")]
        assert any(hint in line for line in hints), f"no hint {hint!r}\n{result}"
    assert "Traceback" not in result.stderr, str(result)


def assert_verifies(node: Node) -> None:
    result = node.run("kb", "verify")
    assert result.returncode == 0, str(result)
    assert result.stdout.rstrip().endswith("OK"), str(result)


# -- a node with a few events, copied for each test ---------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    """An initialised data dir holding TEMPLATE_EVENTS notes: (path, node id, API port)."""
    base = tmp_path_factory.mktemp("template")
    (base / "home").mkdir()
    made = init_node(Hartnode(base / "home"), base / "node")
    dd = DataDir(made.path)
    with NodeLedger(made.path, dd.load_identity(), build_catalog()) as nl:
        nl.append([Draft(kind="note.created", payload={"text": f"note {i}"})
                   for i in range(TEMPLATE_EVENTS)])
    return made.path, made.node_id, made.api_port


@pytest.fixture
def filled(template: tuple[Path, str, int], tmp_path: Path, hartnode: Hartnode) -> Node:
    """A fresh copy of the template node (its API port is only used for `status`)."""
    path, node_id, port = template
    shutil.copytree(path, tmp_path / "filled")
    return Node(tmp_path / "filled", node_id, port, hartnode)


# -- missing data dir, config, environment, key --------------------------------


@pytest.mark.parametrize("args", [
    ("status",), ("kb", "verify"), ("kb", "backup", "BACKUP"),
    ("ledger", "append", "--kind", "note.created", "--payload", "{}"),
])
def test_commands_on_a_missing_data_dir_exit_2_with_an_init_hint(
        hartnode: Hartnode, tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "nowhere"
    args = tuple(str(tmp_path / "backup") if a == "BACKUP" else a for a in args)
    result = hartnode(*args, data_dir=missing)
    assert_refused(result, EXIT_USAGE, f"no hartnode node in {missing}", hint="run `hartnode init`")
    assert not missing.exists()
    assert not (tmp_path / "backup").exists()


def test_missing_data_dir_given_by_flag(hartnode: Hartnode, tmp_path: Path) -> None:
    result = hartnode("kb", "verify", "--data-dir", str(tmp_path / "flag"),
                      data_dir=tmp_path / "env")
    assert_refused(result, EXIT_USAGE, f"no hartnode node in {tmp_path / 'flag'}",
                   hint="run `hartnode init`")


API = '[api]\nlisten = "127.0.0.1:{port}"\n'
CONFIG_CASES = {  # the whole file ({port}: the test's API port), what the error must say
    "unknown key": (API + 'lisne = "127.0.0.1:1"\n',
                    "unknown key api.lisne; known keys in [api]: listen"),
    "unknown section": (API + '[apii]\nlisten = "127.0.0.1:1"\n', "unknown section [apii]"),
    "api.listen nonsense": ('[api]\nlisten = "nonsense"\n',
                            "api.listen: 'nonsense' is not HOST:PORT"),
    "tier emperor": (API + '[node]\ntier = "emperor"\n',
                     "node.tier: 'emperor' is not one of flat, local, regional, central"),
    "wrong type": (API + '[ledger]\ngroup_commit_max = "many"\n',
                   "ledger.group_commit_max: expected an integer"),
    "not TOML": (API + "[log\nlevel = \n", "hartnode.toml: not valid TOML"),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_bad_config_file_is_refused_naming_the_key(filled: Node, case: str) -> None:
    text, needle = CONFIG_CASES[case]
    (filled.path / "hartnode.toml").write_text(text.format(port=filled.api_port))
    before = snapshot(filled.path)
    status = filled.run("status")
    assert_refused(status, EXIT_USAGE, needle, hint="fix the config file")
    if case in ("unknown key", "tier emperor"):  # one code path for all; two suffice
        run = filled.run("run")
        assert_refused(run, EXIT_STARTUP, needle, hint="fix the config file")
    assert snapshot(filled.path) == before


@pytest.mark.parametrize(("name", "value", "needle"), [
    ("HARTNODE_API_LISTN", "127.0.0.1:1", "environment variable HARTNODE_API_LISTN names no "
     "config key; known: HARTNODE_NODE_TIER"),
    ("HARTNODE_NODE_TIER", "emperor", "node.tier: 'emperor' is not one of"),
    ("HARTNODE_LEDGER_GROUP_COMMIT_MAX", "lots", "ledger.group_commit_max: expected an integer"),
])
def test_bad_environment_variable_is_refused_naming_it(
        filled: Node, name: str, value: str, needle: str) -> None:
    before = snapshot(filled.path)
    assert_refused(filled.run("status", env={name: value}), EXIT_USAGE, needle,
                   hint="fix the config file or the HARTNODE_* variable")
    if name == "HARTNODE_API_LISTN":
        assert_refused(filled.run("run", env={name: value}), EXIT_STARTUP, needle)
    assert snapshot(filled.path) == before


def test_init_with_a_bad_value_creates_nothing(hartnode: Hartnode, tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = hartnode("init", "--tier", "emperor", data_dir=target)
    assert_refused(result, EXIT_USAGE, "node.tier: 'emperor' is not one of")
    assert not target.exists()


def test_init_never_overwrites_a_node(filled: Node) -> None:
    before = snapshot(filled.path)
    result = filled.run("init")
    assert_refused(result, EXIT_FAILED, f"{filled.path} is already initialised",
                   hint="use it as it is, or choose another --data-dir")
    assert snapshot(filled.path) == before


def test_node_key_readable_by_others_is_refused_with_a_chmod_hint(filled: Node) -> None:
    key = filled.path / "node.key"
    key.chmod(0o644)
    before = snapshot(filled.path)
    append = filled.run("ledger", "append", "--kind", "note.created", "--payload",
                        '{"text": "x"}')
    assert_refused(append, EXIT_FAILED, f"{key} is readable by others (mode 644)",
                   hint=f"run `chmod 600 {key}`")
    run = filled.run("run")
    assert_refused(run, EXIT_STARTUP, "is readable by others", f"chmod 600 {key}", hint=None)
    assert snapshot(filled.path) == before
    assert key.stat().st_mode & 0o777 == 0o644  # it told the operator; it did not chmod itself
    assert_verifies(filled)


def test_node_key_of_the_wrong_size_is_refused(filled: Node) -> None:
    key = filled.path / "node.key"
    key.write_bytes(key.read_bytes()[:31])
    result = filled.run("ledger", "append", "--kind", "note.created", "--payload",
                        '{"text": "x"}')
    assert_refused(result, EXIT_FAILED, "holds 31 bytes, not a 32-byte Ed25519 seed",
                   hint="restore the key from your backup")
    assert_verifies(filled)


def test_status_without_a_daemon_exits_4(node: Node) -> None:
    result = node.run("status", "--json")
    assert_refused(result, EXIT_UNREACHABLE,
                   f"no hartnode daemon answers at http://127.0.0.1:{node.api_port}/",
                   hint="start it with `hartnode run`")
    assert result.stdout == ""


# -- ledger append with bad input -------------------------------------------

APPEND_CASES = {
    "unknown kind": (["--kind", "note.nope", "--payload", '{"text": "x"}'],
                     "unknown event kind 'note.nope'; known kinds: compute.config.set, ",
                     "see `hartnode ledger append --help`"),
    "kind syntax": (["--kind", "Not A Kind", "--payload", '{"text": "x"}'],
                    "unknown event kind 'Not A Kind'", "see `hartnode ledger append --help`"),
    "extra field": (["--kind", "note.created", "--payload", '{"txt": "x"}'],
                    "note.created: payload.txt: unexpected field", "the payload must match"),
    "missing field": (["--kind", "note.created", "--payload", "{}"],
                      "note.created: payload.text: missing required field",
                      "the payload must match"),
    "wrong type": (["--kind", "note.created", "--payload", '{"text": 5}'],
                   "note.created: payload.text: expected a string, got integer",
                   "the payload must match"),
    "empty text": (["--kind", "note.created", "--payload", '{"text": ""}'],
                   "note.created: payload.text: expected 1 to 10000 characters, got 0",
                   "the payload must match"),
    "invalid JSON": (["--kind", "note.created", "--payload", "{text: hi}"],
                     "--payload is not JSON", "quote it for the shell"),
    "not an object": (["--kind", "note.created", "--payload", '["text"]'],
                      "--payload must be a JSON object", 'e.g. {"text": "hi"}'),
    "lone surrogate": (["--kind", "note.created", "--payload", '{"text": "\\ud800"}'],
                       "surrogate", "the payload must match"),
}


@pytest.mark.parametrize("case", APPEND_CASES)
def test_ledger_append_with_bad_input_exits_2_and_stores_nothing(filled: Node, case: str) -> None:
    args, needle, hint = APPEND_CASES[case]
    before = snapshot(filled.path)
    result = filled.run("ledger", "append", *args)
    assert_refused(result, EXIT_USAGE, needle, hint=hint)
    assert result.stdout == ""
    assert snapshot(filled.path) == before


def test_ledger_append_with_a_bad_reach_is_a_usage_error(filled: Node) -> None:
    result = filled.run("ledger", "append", "--kind", "note.created", "--reach", "galaxy",
                        "--payload", '{"text": "x"}')
    assert result.returncode == EXIT_USAGE, str(result)
    assert "argument --reach: invalid choice: 'galaxy'" in result.stderr


def test_ledger_append_through_the_daemon_refuses_bad_input_alike(
        node: Node, start_daemon: StartDaemon) -> None:
    """Same input, same exit code, whether the daemon runs or not (README: bad payload → 2)."""
    start_daemon(node)
    for case in ("unknown kind", "extra field", "wrong type", "invalid JSON"):
        args, needle, _ = APPEND_CASES[case]
        assert_refused(node.run("ledger", "append", *args), EXIT_USAGE, needle)
    head = json.loads(node.run("status", "--json").stdout)["ledger"]
    assert head["events"] == 0


def test_ledger_append_through_the_daemon_refuses_a_lone_surrogate(
        node: Node, start_daemon: StartDaemon) -> None:
    daemon = start_daemon(node)
    args, _, _ = APPEND_CASES["lone surrogate"]
    result = node.run("ledger", "append", *args)
    assert result.returncode == EXIT_USAGE, str(result)
    assert "surrogate" in result.stderr, str(result)
    assert "Traceback" not in daemon.log()


# -- unusable databases ----------------------------------------------------------


def _foreign_database(path: Path) -> None:
    path.unlink()
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT);"
                 "INSERT INTO photos (name) VALUES ('holiday.jpg')")
    conn.close()


def _random_bytes(path: Path) -> None:
    path.write_bytes(bytes((i * 7919 + 13) % 251 for i in range(40960)))


def _schema_9(path: Path) -> None:
    conn = apsw.Connection(str(path))
    conn.execute("UPDATE meta SET schema_version = '9.0.0' WHERE id = 1")
    conn.close()


DATABASE_CASES = {
    "corrupt": (_random_bytes, "ledger.sqlite is not an SQLite database",
                "restore it from a backup"),
    "foreign": (_foreign_database, "ledger.sqlite is an SQLite database of another program",
                "point --data-dir at a hartnode data directory"),
    "schema 9.0.0": (_schema_9, f"has schema version 9.0.0, this hartnode knows up to "
                                f"{SCHEMA_VERSION}",
                     "upgrade hartnode, or restore a backup made by this version"),
}


@pytest.mark.parametrize("case", [
    "corrupt",
    "foreign",
    "schema 9.0.0",
])
def test_unusable_ledger_is_refused_and_left_untouched(filled: Node, case: str) -> None:
    damage, needle, hint = DATABASE_CASES[case]
    damage(filled.path / "ledger.sqlite")
    before = snapshot(filled.path)
    for args, code in ((("ledger", "append", "--kind", "note.created", "--payload",
                         '{"text": "x"}'), EXIT_FAILED),
                       (("run",), EXIT_STARTUP)):
        result = filled.run(*args)
        assert_refused(result, code, needle, hint=hint if code != EXIT_STARTUP else None)
        assert snapshot(filled.path) == before, f"{args} changed the files"
    verify = filled.run("kb", "verify")
    assert verify.returncode == EXIT_FAILED, str(verify)
    assert f"PROBLEM: ledger: {filled.path / 'ledger.sqlite'}" in verify.stdout
    assert needle in verify.stdout and "FAILED: 1 problems" in verify.stdout
    assert snapshot(filled.path) == before


def test_foreign_database_is_refused_by_read_only_commands(filled: Node) -> None:
    """The part of the foreign-database case that holds today: verify only reads."""
    _foreign_database(filled.path / "ledger.sqlite")
    before = snapshot(filled.path)
    verify = filled.run("kb", "verify")
    assert verify.returncode == EXIT_FAILED, str(verify)
    assert "is an SQLite database of another program (application_id 0x0)" in verify.stdout
    assert snapshot(filled.path) == before


# -- kb verify finds tampering ----------------------------------------------------


def _open_raw(node: Node) -> apsw.Connection:
    """The ledger as an attacker opens it: plain apsw, append-only triggers dropped."""
    conn = apsw.Connection(str(node.path / "ledger.sqlite"))
    conn.execute("DROP TRIGGER IF EXISTS events_append_only_update;"
                 "DROP TRIGGER IF EXISTS events_append_only_delete")
    return conn


def _row(conn: apsw.Connection, event_id: int) -> dict[str, Any]:
    cursor = conn.execute("SELECT * FROM events WHERE id = ?", (event_id,))
    names = [d[0] for d in cursor.getdescription()]
    return dict(zip(names, cursor.fetchall()[0], strict=True))


def _insert(conn: apsw.Connection, row: dict[str, Any]) -> None:
    names = ", ".join(row)
    conn.execute(f"INSERT INTO events ({names}) VALUES ({', '.join('?' * len(row))})",
                 tuple(row.values()))


def _event_row(event_id: int, event: Event, received_ms: int) -> dict[str, Any]:
    """The columns of a validly signed, correctly bound row (what an insider could write)."""
    return {
        "id": event_id, "ts_ms": event.ts_ms, "actor": event.actor, "kind": event.kind,
        "scope": event.scope, "payload_json": event.payload_json,
        "provenance_json": event.provenance_json, "hash_blake3": event.hash,
        "origin": event.origin, "seq": event.seq,
        "prev_hash": None if event.prev is None else bytes.fromhex(event.prev),
        "reach": event.reach, "sig": event.sig, "received_ms": received_ms, "v": event.v,
        "row_check": row_check(event_id, received_ms, event.hash),
    }


def _flip(value: Any, column: str) -> Any:
    """``value`` with one bit flipped, chosen so that no UNIQUE constraint trips."""
    if isinstance(value, bytes):
        return bytes([value[0] ^ 0x01]) + value[1:]
    if isinstance(value, str):
        i = len(value) // 2
        return value[:i] + chr(ord(value[i]) ^ 0x01) + value[i + 1:]
    bit = {"id": 6, "seq": 4}.get(column, 0)  # 3 -> 67 and 3 -> 19: free slots
    return value ^ (1 << bit)


FLIP_EXPECTS = {
    "id": "row_check mismatch", "ts_ms": "hash mismatch", "actor": "hash mismatch",
    "kind": "hash mismatch", "scope": "hash mismatch", "payload_json": "hash mismatch",
    "provenance_json": "hash mismatch", "hash_blake3": "row_check mismatch",
    "origin": "hash mismatch", "seq": "hash mismatch", "prev_hash": "hash mismatch",
    "reach": "hash mismatch", "sig": "bad signature", "received_ms": "row_check mismatch",
    "v": "hash mismatch", "row_check": "row_check mismatch",
}


def _verify_in_process(node: Node, capsys: pytest.CaptureFixture[str]) -> Result:
    """``hartnode kb verify`` through the console script's own entry point, in this
    process: the same code as the subprocess without 0.3 s of interpreter start."""
    try:
        code = cli.main(["kb", "verify", "--data-dir", str(node.path)])
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return Result(("kb", "verify"), code, out, err)


def assert_verify_fails(node: Node, *needles: str,
                        capsys: pytest.CaptureFixture[str] | None = None) -> str:
    before = snapshot(node.path)
    result = node.run("kb", "verify") if capsys is None else _verify_in_process(node, capsys)
    assert result.returncode == EXIT_FAILED, str(result)
    assert "FAILED: " in result.stdout, str(result)
    for needle in needles:
        assert needle in result.stdout, f"{needle!r} missing\n{result}"
    assert snapshot(node.path) == before  # verify only reads
    return result.stdout


@pytest.mark.parametrize("column", FLIP_EXPECTS)
def test_verify_finds_a_flipped_bit_in_any_column(
        filled: Node, column: str, capsys: pytest.CaptureFixture[str]) -> None:
    conn = _open_raw(filled)
    value = _row(conn, 3)[column]
    conn.execute(f"UPDATE events SET {column} = ? WHERE id = 3", (_flip(value, column),))
    conn.close()
    assert_verify_fails(filled, "PROBLEM: event id ", FLIP_EXPECTS[column], capsys=capsys)


def test_the_untampered_template_verifies(filled: Node) -> None:
    assert_verifies(filled)


def test_verify_finds_a_deleted_event(filled: Node) -> None:
    conn = _open_raw(filled)
    conn.execute("DELETE FROM events WHERE id = 3")
    conn.close()
    assert_verify_fails(filled, "event ids 3..3 are missing (rows deleted)",
                        "seq 4 follows seq 2 (events missing or out of order)")


def test_verify_finds_the_last_event_deleted(filled: Node) -> None:
    conn = _open_raw(filled)
    conn.execute("DELETE FROM events WHERE id = ?", (TEMPLATE_EVENTS,))
    conn.close()
    assert_verify_fails(filled, f"events after id {TEMPLATE_EVENTS - 1} up to {TEMPLATE_EVENTS} "
                        "are missing (rows deleted at the end)")


@pytest.mark.parametrize("rebind", [False, True], ids=["as-is", "row_check-recomputed"])
def test_verify_finds_two_events_swapped(filled: Node, rebind: bool) -> None:
    conn = _open_raw(filled)
    two, three = _row(conn, 2), _row(conn, 3)
    conn.execute("DELETE FROM events WHERE id IN (2, 3)")
    two["id"], three["id"] = 3, 2
    if rebind:  # row_check is no secret: a careful forger recomputes it
        for row in (two, three):
            row["row_check"] = row_check(row["id"], row["received_ms"], row["hash_blake3"])
    _insert(conn, three)
    _insert(conn, two)
    conn.close()
    needles = ["seq 3 follows seq 1 (events missing or out of order)"]
    if not rebind:
        needles.append("row_check mismatch (local columns altered or rows swapped)")
    assert_verify_fails(filled, *needles)


def test_verify_finds_a_forged_signature(filled: Node) -> None:
    conn = _open_raw(filled)
    row = _row(conn, 3)
    forger = NodeIdentity.generate()  # a valid Ed25519 signature, by the wrong key
    conn.execute("UPDATE events SET sig = ? WHERE id = 3", (forger.sign(row["hash_blake3"]),))
    conn.close()
    out = assert_verify_fails(filled, f"event id 3 ({filled.node_id[:12]} seq 3): bad signature")
    assert out.count("PROBLEM:") == 1


def test_verify_finds_a_fork_spliced_into_the_feed(filled: Node) -> None:
    """Two validly signed chains of one origin, diverging at seq 3: the stored feed
    keeps A1..A3 and continues with B4, B5, each correctly signed and row-bound."""
    identity = DataDir(filled.path).load_identity()
    conn = _open_raw(filled)
    a2 = event_from_row(conn.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE id = 2")
                        .fetchall()[0])
    prev, chain_b = a2.hash_hex, []
    for seq in (3, 4, 5):
        event = sign_event(identity, seq=seq, prev=prev, ts_ms=a2.ts_ms + seq, actor="node",
                           kind="note.created", scope="system", reach="network",
                           payload={"text": f"fork B {seq}"}, provenance={})
        chain_b.append(event)
        prev = event.hash_hex
    conn.execute("DELETE FROM events WHERE id IN (4, 5)")
    for event in chain_b[1:]:
        _insert(conn, _event_row(event.seq, event, a2.ts_ms + 100))
    conn.close()
    out = assert_verify_fails(
        filled, f"event id 4: {filled.node_id[:12]} seq 4 does not link to the stored previous "
        "event (a fork or a swap)")
    assert "hash mismatch" not in out and "bad signature" not in out  # every row is valid alone


def test_verify_names_a_wrong_schema_version(filled: Node) -> None:
    _schema_9(filled.path / "ledger.sqlite")
    assert_verify_fails(filled, "has schema version 9.0.0")


# -- kb backup while writing --------------------------------------------------------

POSTER = """
import json, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
n = 0
while True:
    body = {"kind": "note.created", "reach": "network", "payload": {"text": f"post {n}"}}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        print(json.loads(resp.read())["hash"], flush=True)
    n += 1
"""


def _hashes(path: Path) -> list[str]:
    """The ledger's event hashes in id order (read-only; the daemon may be running)."""
    conn = apsw.Connection(str(path / "ledger.sqlite"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return [bytes(h).hex() for (h,) in conn.execute(
            "SELECT hash_blake3 FROM events ORDER BY id")]
    finally:
        conn.close()


def assert_consistent_backup(dest: Path, live: Path, acknowledged: list[str]) -> None:
    """The copy verifies, holds every event acknowledged before it was taken, and is a
    prefix of the live ledger: a snapshot of one moment, not a mix of two."""
    report = maintenance.verify(dest, build_catalog())
    assert report.ok, report.problems
    copied = _hashes(dest)
    assert set(acknowledged) <= set(copied)
    assert copied == _hashes(live)[:len(copied)]
    # The databases without WAL side files, and what the node needs besides them.
    assert sorted(p.name for p in dest.iterdir()) == [
        "api.token", "hartnode.toml", "ledger.sqlite", "node.key", "state.sqlite"]


def test_backup_while_the_daemon_runs_and_writes(
        node: Node, start_daemon: StartDaemon, start_lines: StartLines, tmp_path: Path) -> None:
    start_daemon(node)
    poster = start_lines([sys.executable, "-c", POSTER, f"{node.api_url}/api/v1/events",
                          node.token()])
    before = poster.lines.read(5, 20.0)  # the daemon is writing
    dest = tmp_path / "backup"
    result = node.run("kb", "backup", str(dest))
    assert result.returncode == 0, str(result)
    assert f"check it with: hartnode kb verify --data-dir {dest}" in result.stdout
    poster.lines.read(1, 20.0)  # and goes on writing
    poster.kill()
    assert_consistent_backup(dest, node.path, before)


def test_backup_while_a_writer_commits_big_batches(
        node: Node, start_writer: StartWriter, tmp_path: Path) -> None:
    writer = start_writer(node.path, seed=7, max_batch=60)
    before = writer.lines.read(50, 20.0)
    dest = tmp_path / "backup"
    result = node.run("kb", "backup", str(dest))
    assert result.returncode == 0, str(result)
    writer.kill()
    assert_consistent_backup(dest, node.path, before)


def test_kb_verify_accepts_the_backup_directory(filled: Node, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    assert filled.run("kb", "backup", str(dest)).returncode == 0
    result = filled.run("kb", "verify", "--data-dir", str(dest))
    assert result.returncode == 0, str(result)
    assert f"checked {TEMPLATE_EVENTS} events" in result.stdout


def test_backup_refuses_a_non_empty_destination(filled: Node, tmp_path: Path) -> None:
    dest = tmp_path / "occupied"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    result = filled.run("kb", "backup", str(dest))
    assert_refused(result, EXIT_FAILED, f"{dest} is not empty",
                   hint="choose a new or empty directory")
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]


def test_a_failed_backup_leaves_no_partial_copy(filled: Node, tmp_path: Path) -> None:
    _random_bytes(filled.path / "ledger.sqlite")
    dest = tmp_path / "backup"
    result = filled.run("kb", "backup", str(dest))
    assert_refused(result, EXIT_FAILED, "ledger.sqlite is not an SQLite database")
    assert not dest.exists() or not any(dest.iterdir()), sorted(dest.iterdir())


def test_verify_while_a_writer_appends_finds_nothing_wrong(
        filled: Node, start_writer: StartWriter) -> None:
    # Enough events that checking their signatures takes a while: the race's window.
    with NodeLedger(filled.path, DataDir(filled.path).load_identity(), build_catalog()) as nl:
        for batch in range(4):
            nl.append([Draft(kind="note.created", payload={"text": f"bulk {batch}.{i}"})
                       for i in range(1000)])
    writer = start_writer(filled.path, seed=3, max_batch=1)
    writer.lines.read(1, 20.0)  # it is committing, one event per transaction
    for _ in range(2):
        result = filled.run("kb", "verify")
        assert result.returncode == 0, str(result)
    writer.kill()
