"""An operator's node against real processes (issue #8, points 9, 10, 11, 12, 13).

- A data dir restored without ``node.key`` is refused, not made a new node,
  and its config is never rewritten; ``kb backup`` takes everything a node
  needs and ``kb restore`` brings it back with its id, seq and peers.
- ``status`` shows the tier the chain proves, the config's claim as a warning.
- Paths that are not what they should be give an error, a hint and the
  documented exit code, never a traceback; files are created 0600.
- The daemon's API refuses a foreign Host and deep bodies; its ready line
  says where peers can connect.
"""

from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import Hartnode, Node, Result, StartDaemon, free_port, init_node, wait_until

from hartnode.datadir import DataDir

EXIT_FAILED, EXIT_USAGE, EXIT_STARTUP = 1, 2, 3
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def assert_refused(result: Result, code: int, *needles: str) -> None:
    assert result.returncode == code, str(result)
    assert "hartnode: error: " in result.stderr, str(result)
    assert "hartnode: hint: " in result.stderr, str(result)
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} missing\n{result}"
    assert "Traceback" not in result.stderr, str(result)


def append(node: Node, text: str) -> None:
    result = node.run("ledger", "append", "--kind", "note.created", "--payload",
                      json.dumps({"text": text}))
    assert result.returncode == 0, str(result)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- point 9: identity, backup, restore ----------------------------------------------------


def test_run_refuses_a_ledger_without_its_key_and_never_rewrites_the_config(
        node: Node) -> None:
    append(node, "the old node's first event")
    config = node.path / "hartnode.toml"
    config.write_text(config.read_text() + '\n[log]\nlevel = "debug"\n')
    before = config.read_bytes()
    (node.path / "node.key").unlink()

    result = node.run("run")
    assert_refused(result, EXIT_STARTUP, "holds a ledger but no node.key", "kb restore")
    assert not (node.path / "node.key").exists()
    assert config.read_bytes() == before
    assert_refused(node.run("init"), EXIT_FAILED, "holds a ledger but no node.key")
    assert config.read_bytes() == before


def test_init_keeps_an_existing_config_and_refuses_flags_it_would_drop(
        tmp_path: Path, hartnode: Hartnode) -> None:
    path = tmp_path / "node"
    path.mkdir()
    config = path / "hartnode.toml"
    config.write_text('[log]\nlevel = "debug"\n')
    assert_refused(hartnode("init", "--api", "127.0.0.1:7001", data_dir=path), EXIT_USAGE,
                   "--api would be ignored")
    assert not (path / "node.key").exists()
    result = hartnode("init", data_dir=path)
    assert result.returncode == 0, str(result)
    assert config.read_text() == '[log]\nlevel = "debug"\n'


@pytest.mark.slow
def test_backup_and_restore_keep_the_node_id_seq_and_peers(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    a, b = init_node(hartnode, tmp_path / "a"), init_node(hartnode, tmp_path / "b")
    ports = {"a": free_port(), "b": free_port()}
    env = {n: {"HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports[n]}",
               "HARTNODE_NETWORK_SYNC_INTERVAL": "1"} for n in ports}
    env["b"]["HARTNODE_NETWORK_SEEDS"] = f"ws://127.0.0.1:{ports['a']}/hart"
    start_daemon(a, env=env["a"])
    daemon_b = start_daemon(b, env=env["b"])
    for i in range(3):
        append(b, f"note {i}")

    def b_knows_a() -> bool:
        rows = json.loads(b.run("peers", "--json").stdout)
        return any(r["node_id"] == a.node_id for r in rows)

    wait_until("B knows A", b_knows_a)
    daemon_b.proc.terminate()  # writes peer_nodes on the way out
    assert daemon_b.proc.wait(timeout=10) == 0

    backup = tmp_path / "backup"
    result = b.run("kb", "backup", str(backup))
    assert result.returncode == 0, str(result)
    assert mode(backup) == 0o700
    names = sorted(p.name for p in backup.iterdir())
    assert names == ["api.token", "hartnode.toml", "ledger.sqlite", "node.key", "state.sqlite"]
    assert {p.name: mode(p) for p in backup.iterdir()} == dict.fromkeys(names, 0o600)

    # Not over a node, unless told; not while a daemon runs on the target.
    assert_refused(b.run("kb", "restore", str(backup)), EXIT_FAILED, "already holds a node",
                   "--force")
    fresh = tmp_path / "fresh"
    restored = hartnode("kb", "restore", str(backup), data_dir=fresh)
    assert restored.returncode == 0, str(restored)
    assert b.node_id in restored.stdout
    assert mode(fresh) == 0o700
    assert all(mode(p) == 0o600 for p in fresh.iterdir() if p.is_file())

    node = Node(fresh, b.node_id, b.api_port, hartnode)
    daemon = start_daemon(node, env=env["b"])
    assert_refused(hartnode("kb", "restore", str(backup), "--force", data_dir=fresh),
                   EXIT_FAILED, "in use by a running hartnode daemon")
    status = json.loads(node.run("status", "--json").stdout)
    assert status["node_id"] == b.node_id
    assert status["ledger"]["seq"] == 3
    peers = json.loads(node.run("peers", "--json").stdout)
    assert a.node_id in [r["node_id"] for r in peers]
    append(node, "after the restore")  # continues the feed: seq 4, not a new node's 1
    daemon.proc.terminate()
    assert daemon.proc.wait(timeout=10) == 0
    tail = [json.loads(line) for line in node.run("ledger", "tail", "--json").stdout.splitlines()]
    assert [e["seq"] for e in tail if e["origin"] == b.node_id] == [1, 2, 3, 4]


# -- points 10, 12, 13: what a running daemon says and refuses -----------------------------


def _get(url: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers,
                                 method="GET" if body is None else "POST")
    try:
        with _OPENER.open(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


@pytest.mark.slow
def test_status_shows_the_proven_tier_and_the_api_refuses_rebinding(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    node = init_node(hartnode, tmp_path / "central")
    config = node.path / "hartnode.toml"
    config.write_text(config.read_text() + '\n[node]\ntier = "central"\n')
    daemon = start_daemon(node)

    info = json.loads(node.run("status", "--json").stdout)
    assert info["tier"] == "flat" and info["claimed_tier"] == "central"
    text = node.run("status").stdout
    assert "tier     flat\n" in text
    assert "warning  node.tier claims central" in text
    log = daemon.log()
    assert "node.tier claims central but no certificate chain is installed" in log
    assert "peer_listen=127.0.0.1:" in log  # init's --listen 127.0.0.1:0

    auth = {"Authorization": f"Bearer {node.token()}"}
    url = f"{node.api_url}/api/v1/node"
    assert _get(url, {**auth, "Host": f"attacker.example:{node.api_port}"})[0] == 403
    assert _get(url, {**auth, "Host": f"localhost:{node.api_port}"})[0] == 200
    deep = b"[" * 100_000 + b"]" * 100_000
    status, body = _get(f"{node.api_url}/api/v1/events",
                        {**auth, "Content-Type": "application/json"}, deep)
    assert status == 400 and b"levels deep" in body


def test_the_ready_line_says_the_peer_listener_binds_every_interface() -> None:
    from hartnode.config import Config
    from hartnode.node import ready_fields

    fields = ready_fields(Config(), "ab" * 32, ("127.0.0.1", 6777), 6778, DataDir(Path("/x")))
    assert fields["peer_listen"] == "0.0.0.0:6778"
    assert "network.listen" in str(fields["peer_listen_hint"])


def test_tier_warnings_name_the_disagreement() -> None:
    from hartnode.node import tier_standing

    tier, _, warnings = tier_standing("flat", chain_installed=True, master_pinned=True,
                                      proven="regional", proven_region="eu")
    assert tier == "flat" and "proves tier regional but node.tier is flat" in warnings[0]
    tier, region, warnings = tier_standing("regional", chain_installed=True, master_pinned=True,
                                           proven="regional", proven_region="eu")
    assert (tier, region, warnings) == ("regional", "eu", [])
    _, _, warnings = tier_standing("regional", chain_installed=True, master_pinned=False,
                                   proven="flat", proven_region="")
    assert any("trust.master_key is not set" in w for w in warnings)
    _, _, warnings = tier_standing("local", chain_installed=True, master_pinned=True,
                                   proven="flat", proven_region="", error="expired")
    assert warnings == ["node.tier claims local but the installed chain proves nothing "
                        "(expired); syncing as flat: reinstall a valid chain with "
                        "`hartnode cert install`"]


# -- point 11: paths that are not what they should be --------------------------------------


@pytest.mark.parametrize("args", [("run",), ("init",), ("status",), ("kb", "verify"),
                                  ("ledger", "tail"), ("kb", "backup", "DEST"), ("peers",)])
def test_a_data_dir_that_is_a_file_is_an_error_with_a_hint(
        tmp_path: Path, hartnode: Hartnode, args: tuple[str, ...]) -> None:
    not_a_dir = tmp_path / "datadir"
    not_a_dir.write_text("a file, not a directory\n")
    argv = [str(tmp_path / "dest") if a == "DEST" else a for a in args]
    result = hartnode(*argv, data_dir=not_a_dir)
    code = EXIT_STARTUP if args == ("run",) else EXIT_FAILED
    assert_refused(result, code, "is not a directory")
    under = hartnode(*argv, data_dir=not_a_dir / "sub")
    assert under.returncode in (EXIT_FAILED, EXIT_USAGE, EXIT_STARTUP), str(under)
    assert "hartnode: error: " in under.stderr and "Traceback" not in under.stderr, str(under)


def test_backup_to_a_file_or_under_a_file_is_an_error_with_a_hint(
        node: Node, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert_refused(node.run("kb", "backup", str(a_file)), EXIT_FAILED, "is not a directory")
    assert_refused(node.run("kb", "backup", str(a_file / "dest")), EXIT_FAILED,
                   "cannot write the backup")
    assert a_file.read_text() == "x"


def test_files_are_private_in_an_existing_0755_directory(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    path = tmp_path / "node"
    path.mkdir(mode=0o755)
    os.chmod(path, 0o755)
    old = os.umask(0o022)
    try:
        node = init_node(hartnode, path)
        append(node, "one")
    finally:
        os.umask(old)
    files = {p.name: mode(p) for p in path.iterdir() if p.is_file()}
    assert {"node.key", "api.token", "hartnode.toml", "ledger.sqlite",
            "state.sqlite"} <= set(files)
    assert files == dict.fromkeys(files, 0o600)


def test_a_token_others_can_read_is_refused_like_the_key(node: Node) -> None:
    os.chmod(node.path / "api.token", 0o644)
    assert_refused(node.run("run"), EXIT_STARTUP, "api.token is readable by others",
                   "chmod 600")
    assert_refused(node.run("status"), EXIT_FAILED, "api.token is readable by others")


def test_a_planted_symlink_never_redirects_a_write(tmp_path: Path) -> None:
    from hartnode.files import replace_private, write_private

    victim = tmp_path / "victim"
    victim.write_text("untouched")
    target = tmp_path / "revocations.json"
    (tmp_path / "revocations.json.tmp").symlink_to(victim)
    replace_private(target, b"new list")
    assert victim.read_text() == "untouched"
    assert target.read_bytes() == b"new list" and mode(target) == 0o600
    assert not (tmp_path / "revocations.json.tmp").exists()
    (tmp_path / "node.key").symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_private(tmp_path / "node.key", b"seed")
    assert victim.read_text() == "untouched"
