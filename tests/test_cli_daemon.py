"""The CLI bullet of issue #13 against real daemons: ``join``/``connect`` at run
time, ``peers`` with last seen, round trip and traffic, ``config set`` while a
daemon runs, ``ledger tail -f``, ``--json`` on the commands that ask the
daemon, ``-q run``, and the progress bar on a real terminal."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
from pathlib import Path

from conftest import (
    HARTNODE,
    Hartnode,
    Node,
    StartDaemon,
    StartLines,
    clean_env,
    init_node,
    wait_until,
)

from hartnode.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def peer_url(node: Node) -> str:
    status = node.run("status", "--json")
    assert status.returncode == EXIT_OK, str(status)
    return f"ws://127.0.0.1:{json.loads(status.stdout)['overlay']['listen_port']}/hart"


def peer_row(node: Node, peer: str) -> dict[str, object] | None:
    result = node.run("peers", "--json")
    assert result.returncode == EXIT_OK, str(result)
    return next((r for r in json.loads(result.stdout) if r["node_id"] == peer), None)


def test_join_at_run_time_then_peers_shows_the_link(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    a, b = init_node(hartnode, tmp_path / "a"), init_node(hartnode, tmp_path / "b")
    start_daemon(a)
    start_daemon(b)
    assert peer_row(a, b.node_id) is None  # no seeds: strangers

    joined = a.run("join", peer_url(b))
    assert joined.returncode == EXIT_OK, str(joined)
    assert joined.stdout.startswith(f"joined through {b.node_id[:12]} at ws://127.0.0.1:")
    assert joined.stdout.endswith(": now a neighbour\n")

    def linked() -> bool:
        row = peer_row(a, b.node_id)
        link = row and row.get("link")
        return bool(row and row["neighbour"] and isinstance(link, dict) and link["bytes_in"])
    wait_until("a holds b as a neighbour with traffic", linked)
    row = peer_row(a, b.node_id)
    assert row is not None and isinstance(row["link"], dict)
    assert set(row["link"]) == {"bytes_in", "bytes_out", "rtt_ms", "up_s"}
    assert isinstance(row["last_seen_ms"], int)

    text = a.run("peers")
    assert text.returncode == EXIT_OK, str(text)
    header, line = text.stdout.splitlines()[0], text.stdout.splitlines()[1]
    assert header.split()[:9] == ["node", "status", "tier", "region", "nbr", "seen", "rtt",
                                  "in", "out"]
    assert line.startswith(b.node_id[:12]) and "yes" in line.split()
    assert line.split()[7][-1] in "BKMG"  # bytes in, with a unit (after region, nbr, seen, rtt)

    again = a.run("connect", peer_url(b), "--json")  # the alias; --json
    assert again.returncode == EXIT_OK, str(again)
    assert json.loads(again.stdout) == {"joined": True, "url": peer_url(b),
                                        "node_id": b.node_id, "neighbour": True}


def test_a_join_that_fails_says_why(tmp_path: Path, hartnode: Hartnode,
                                    start_daemon: StartDaemon, unused_port: int) -> None:
    a = init_node(hartnode, tmp_path / "a")
    start_daemon(a)
    dead = a.run("join", f"ws://127.0.0.1:{unused_port}/hart")
    assert dead.returncode == EXIT_FAILED and dead.stdout == ""
    assert f"could not reach ws://127.0.0.1:{unused_port}/hart" in dead.stderr
    assert "hint: check the URL" in dead.stderr
    bad = a.run("join", "http://example.org/")
    assert bad.returncode == EXIT_USAGE and "not a ws://HOST:PORT/PATH URL" in bad.stderr
    down = init_node(hartnode, tmp_path / "down").run("join", peer_url(a))
    assert down.returncode == 4 and "no hartnode daemon answers" in down.stderr


def test_config_set_while_the_daemon_runs_says_a_restart_is_needed(
        node: Node, start_daemon: StartDaemon) -> None:
    start_daemon(node)
    result = node.run("config", "set", "node.region", "eu-west")
    assert result.returncode == EXIT_OK, str(result)
    assert "restart it for this to apply" in result.stdout
    as_json = json.loads(node.run("config", "set", "node.region", "us-east", "--json").stdout)
    assert as_json["restart_needed"] is True and as_json["previous"] == "eu-west"
    same = json.loads(node.run("config", "set", "node.region", "us-east", "--json").stdout)
    assert same["changed"] is False and same["restart_needed"] is False


def test_ledger_tail_follow_prints_new_events_and_ctrl_c_exits_0(
        node: Node, start_daemon: StartDaemon, start_lines: StartLines) -> None:
    start_daemon(node)
    assert node.run("ledger", "append", "--kind", "note.created", "--payload",
                    '{"text": "old"}').returncode == EXIT_OK
    follower = start_lines([*HARTNODE, "ledger", "tail", "-f", "-n", "1", "--json"],
                           env={"HARTNODE_DATA_DIR": str(node.path)})
    assert json.loads(follower.lines.read(1, 30)[0])["payload"] == {"text": "old"}
    for text in ("one", "two"):
        assert node.run("ledger", "append", "--kind", "note.created", "--payload",
                        json.dumps({"text": text})).returncode == EXIT_OK
    got = [json.loads(line)["payload"]["text"] for line in follower.lines.read(2, 30)]
    assert got == ["one", "two"]
    follower.proc.send_signal(signal.SIGINT)
    assert follower.proc.wait(timeout=30) == EXIT_OK
    assert follower.lines.read_to_eof(10) == []


def test_the_daemon_commands_print_json_with_json(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    master = tmp_path / "master.key"
    made = hartnode("keys", "master-init", str(master), "--json", data_dir=None)
    mk = json.loads(made.stdout)["master_public_key"]
    a, b = init_node(hartnode, tmp_path / "a"), init_node(hartnode, tmp_path / "b")
    for n in (a, b):
        assert n.run("config", "set", "trust.master_key", mk).returncode == EXIT_OK
    start_daemon(a)
    start_daemon(b)
    revocations = tmp_path / "revocations.json"
    assert hartnode("cert", "revoke", "--master-key-file", str(master), "--list",
                    str(revocations), "--subject", "ab" * 32, data_dir=None).returncode == 0
    url = peer_url(b)
    for argv in (["status"], ["peers"], ["join", url], ["connect", url], ["trust"],
                 ["cert", "publish", str(revocations)]):
        result = a.run(*argv, "--json")
        assert result.returncode == EXIT_OK, str(result)
        assert len(result.stdout.splitlines()) == 1, str(result)
        json.loads(result.stdout)
    challenge = a.run("trust", "challenge", b.node_id, "--json")
    assert challenge.returncode == EXIT_OK, str(challenge)
    assert json.loads(challenge.stdout)["node_id"] == b.node_id


def test_quiet_run_logs_no_info_lines(tmp_path: Path, hartnode: Hartnode,
                                      start_daemon: StartDaemon) -> None:
    loud = start_daemon(init_node(hartnode, tmp_path / "loud"))
    quiet = start_daemon(init_node(hartnode, tmp_path / "quiet"), args=["-q"])
    assert "level=info" in loud.log()  # what -q takes away is there without it
    assert "level=info" not in quiet.log()


def test_kb_verify_draws_a_progress_bar_on_a_terminal_only(node: Node) -> None:
    for i in range(3):  # something to verify
        assert node.run("ledger", "append", "--kind", "note.created", "--payload",
                        json.dumps({"text": str(i)})).returncode == EXIT_OK
    env = clean_env(node.path, node.cli.home)
    main, child = pty.openpty()
    try:
        proc = subprocess.run([*HARTNODE, "kb", "verify"], env=env, stdout=subprocess.PIPE,
                              stderr=child, stdin=subprocess.DEVNULL, timeout=60, check=False)
        os.close(child)
        child = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(main)
        if child >= 0:
            os.close(child)
    assert proc.returncode == EXIT_OK and proc.stdout.endswith(b"OK\n")
    assert b"\rverify [" in drawn and b"100%" in drawn
    assert b"\r" not in proc.stdout  # the report itself stays clean
    piped = node.run("kb", "verify")
    assert piped.returncode == EXIT_OK and "\r" not in piped.stderr and piped.stderr == ""
