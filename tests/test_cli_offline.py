"""The CLI bullet of issue #13 where no daemon is needed, in-process:
``config get|set|unset``, ``-v/-q/--log-level``, ``completion``, the progress
bar, ``--json`` on every command that prints, and log lines without reprs."""

from __future__ import annotations

import argparse
import ast
import io
import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import hartnode
from hartnode import logs
from hartnode.cli import EXIT_OK, EXIT_USAGE, build_parser, main
from hartnode.cli.base import log_level
from hartnode.cli.completion import walk
from hartnode.cli.progress import ProgressBar
from hartnode.datadir import DataDir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``main`` sets the root logger up for the command; put it back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def dd(tmp_path: Path, capsys: pytest.CaptureFixture[str],
       monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [n for n in __import__("os").environ if n.startswith("HARTNODE_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "node"
    assert run(capsys, "--data-dir", str(path), "init", "--api", "127.0.0.1:7001")[0] == EXIT_OK
    return path


# -- config get|set|unset ------------------------------------------------------


def test_config_get_names_the_value_and_where_it_comes_from(
        dd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(capsys, "config", "get", "api.listen", "--data-dir", str(dd)) == (
        EXIT_OK, "127.0.0.1:7001\n", "")
    code, out, _ = run(capsys, "config", "get", "network.profile", "--json", "--data-dir", str(dd))
    got = json.loads(out)
    assert code == EXIT_OK and got["value"] == "full" and got["source"] == "default"
    assert "bandwidth profile" in got["doc"]
    monkeypatch.setenv("HARTNODE_NETWORK_PROFILE", "minimal")
    code, out, _ = run(capsys, "config", "get", "--json", "--data-dir", str(dd))
    rows = {r["key"]: r for r in json.loads(out)}
    assert rows["network.profile"]["value"] == "minimal"
    assert rows["network.profile"]["source"] == "environment (HARTNODE_NETWORK_PROFILE)"
    assert rows["api.listen"]["source"] == "file"
    assert len(rows) > 30  # every key of the schema


def test_config_set_writes_a_checked_value_and_unset_removes_it(
        dd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "config", "set", "network.seeds",
                         "ws://a:6778/hart,ws://b:6778/hart", "--data-dir", str(dd))
    assert code == EXIT_OK and err == ""
    assert "applies when the daemon next starts" in out  # no daemon runs: no restart
    cfg = DataDir(dd).load_config()
    assert cfg.network.seeds == ("ws://a:6778/hart", "ws://b:6778/hart")
    assert cfg.api.listen == "127.0.0.1:7001"  # the other keys kept
    code, out, _ = run(capsys, "config", "set", "ledger.alert_burst", "7", "--json",
                       "--data-dir", str(dd))
    assert json.loads(out) == {
        "key": "ledger.alert_burst", "value": 7, "previous": json.loads(out)["previous"],
        "file": str(dd / "hartnode.toml"), "changed": True, "restart_needed": False,
        "overridden_by": None}
    assert DataDir(dd).load_config().ledger.alert_burst == 7
    code, out, _ = run(capsys, "config", "set", "network.seeds", '["ws://c:1/hart"]', "--json",
                       "--data-dir", str(dd))
    assert json.loads(out)["value"] == ["ws://c:1/hart"]
    assert run(capsys, "config", "unset", "network.seeds", "--data-dir", str(dd))[0] == EXIT_OK
    assert DataDir(dd).load_config().network.seeds == ()
    assert (dd / "hartnode.toml").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("argv", "needle", "hint"), [
    (["node.tier", "bogus"], "node.tier: 'bogus' is not one of", "nothing was written"),
    (["api.listen", "nonsense"], "is not HOST:PORT", "nothing was written"),
    (["ledger.alert_burst", "many"], "expected an integer", "nothing was written"),
    (["api.lisen", "x"], "unknown config key 'api.lisen'", "did you mean api.listen?"),
])
def test_config_set_refuses_what_the_schema_refuses_and_writes_nothing(
        dd: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str,
        hint: str) -> None:
    before = (dd / "hartnode.toml").read_bytes()
    code, out, err = run(capsys, "config", "set", *argv, "--data-dir", str(dd))
    assert code == EXIT_USAGE and out == ""
    assert needle in err and f"hint: {hint}" in err
    assert (dd / "hartnode.toml").read_bytes() == before


def test_config_set_says_when_an_environment_variable_wins(
        dd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARTNODE_NODE_REGION", "eu-west")
    code, out, _ = run(capsys, "config", "set", "node.region", "us-east", "--data-dir", str(dd))
    assert code == EXIT_OK
    assert "note: HARTNODE_NODE_REGION is set and wins over the file" in out


# -- -v / -q / --log-level -----------------------------------------------------


@pytest.mark.parametrize(("argv", "base", "level"), [
    (["status"], "warning", "warning"),
    (["-v", "status"], "warning", "info"),
    (["status", "-vv"], "warning", "debug"),
    (["-q", "status"], "warning", "error"),
    (["-qqq", "status"], "warning", "error"),
    (["-v", "run"], "info", "debug"),
    (["run", "-q"], "info", "warning"),
    (["--log-level", "error", "-vv", "run"], "info", "error"),
    (["kb", "verify", "--log-level", "debug"], "warning", "debug"),
])
def test_verbosity_options_before_or_after_the_command(argv: list[str], base: str,
                                                       level: str) -> None:
    assert log_level(build_parser().parse_args(argv), base) == level


def test_a_command_logs_plain_lines_to_stderr_at_the_level_asked(
        dd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "-v", "id", "--data-dir", str(dd))
    logging.getLogger("hartnode.test").info("seen %s", (b"\x01\xff", "x"))
    logging.getLogger("hartnode.test").debug("not seen")
    assert capsys.readouterr().err == "hartnode: info: hartnode.test: seen 01ff,x\n"
    run(capsys, "-q", "id", "--data-dir", str(dd))
    logging.getLogger("hartnode.test").warning("not seen either")
    assert capsys.readouterr().err == ""


# -- logs without Python reprs -------------------------------------------------


def test_log_lines_show_bytes_and_sequences_as_plain_text() -> None:
    record = logging.LogRecord("hartnode.x", logging.INFO, __file__, 1,
                               "peer=%s addrs=%s n=%d", (b"\xab\xcd", ("a:1", "b:2"), 3), None)
    record.fields = {"key": b"\x00\x01", "seen": {"z", "y"}}
    kv = logs.KeyValueFormatter().format(record)
    assert 'msg="peer=abcd addrs=a:1,b:2 n=3"' in kv and 'key=0001 seen="y,z"' in kv
    as_json = json.loads(logs.JsonFormatter().format(record))
    assert as_json["msg"] == "peer=abcd addrs=a:1,b:2 n=3" and as_json["key"] == "0001"
    assert "b'" not in kv + json.dumps(as_json) and "('" not in kv


def _log_calls() -> Iterator[tuple[str, ast.Call]]:
    root = Path(hartnode.__file__).parent
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"debug", "info", "warning", "error", "exception"}
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in {"log", "logger"}):
                yield f"{path.relative_to(root)}:{node.lineno}", node


def test_no_log_call_asks_for_a_repr() -> None:
    calls = list(_log_calls())
    assert len(calls) > 30  # the scan finds the package's log calls
    found = []
    for where, call in calls:
        text = ast.unparse(call)
        # %r, an f-string's !r, repr(), or a connection object whose str is its repr
        if "%r" in text or "!r" in text or "repr(" in text or any(
                isinstance(a, ast.Name) and a.id in {"self", "conn"} for a in call.args[1:]):
            found.append(f"{where}: {text}")
    assert found == []


# -- completion ----------------------------------------------------------------


def _complete(script: str, line: str) -> list[str]:
    words = line.split(" ")
    program = (f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)})\n"
               f"COMP_CWORD={len(words) - 1}\n_hartnode\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    out = subprocess.run(["bash", "--norc", "--noprofile"], input=program, text=True,
                         capture_output=True, check=True, timeout=30).stdout
    return out.split()


def test_bash_completion_follows_the_argparse_tree(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, script, _ = run(capsys, "completion", "bash")
    assert code == EXIT_OK and "complete -o default -F _hartnode hartnode" in script
    assert _complete(script, "hartnode kb ve") == ["verify"]
    assert _complete(script, "hartnode --data-dir /x cert is") == ["issue"]
    assert _complete(script, "hartnode con") == ["connect", "config"]
    assert _complete(script, "hartnode completion ") [:4] == ["-h", "--help", "bash", "zsh"]
    assert "--follow" in _complete(script, "hartnode ledger tail --")


def test_zsh_completion_names_every_command_with_its_help(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, script, _ = run(capsys, "completion", "zsh")
    assert code == EXIT_OK and script.startswith("#compdef hartnode\n")
    for path, items in walk(build_parser()):
        if path:
            assert f"'{' '.join(path)}'" in script
        for word, _ in items:
            assert f"'{word}:" in script or f"'{word}\\:" in script


# -- the progress bar ----------------------------------------------------------


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_on_a_terminal_and_clears_its_line() -> None:
    stream = Tty()
    with ProgressBar("verify", stream) as bar:
        bar("events", 0, 200)
        bar("events", 200, 200)  # the last step is always drawn
    out = stream.getvalue()
    assert out.startswith("\rverify [........................]   0% 0/200 events")
    assert "\rverify [########################] 100% 200/200 events" in out
    assert out.endswith("\r")  # cleared: the command's next line starts clean
    stream = Tty()
    with ProgressBar("backup", stream) as bar:
        bar("ledger.sqlite", 3 << 20, 6 << 20)
    assert "backup ledger.sqlite [############............]  50% 3.0M/6.0M" in stream.getvalue()


def test_no_progress_bar_when_stderr_is_not_a_terminal(
        dd: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stream = io.StringIO()
    with ProgressBar("verify", stream) as bar:
        bar("events", 1, 2)
    assert stream.getvalue() == ""
    code, _, err = run(capsys, "kb", "verify", "--data-dir", str(dd))
    assert code == EXIT_OK and err == ""  # capsys's stderr is no terminal


# -- --json on every command that prints ---------------------------------------

#: Commands that print something other than a report: the daemon's log lines,
#: and a shell script.
NO_JSON = {("run",), ("completion",)}


def _commands() -> list[tuple[str, ...]]:
    """Every command that runs (a parser with no subcommand it requires)."""
    out = []

    def visit(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if path and (not subs or not subs[0].required):
            out.append(path)
        for action in subs:
            for name, child in action.choices.items():
                visit(child, (*path, name))

    visit(build_parser(), ())
    return out


def test_every_printing_command_takes_json() -> None:
    commands = _commands()
    assert ("kb", "verify") in commands and ("trust",) in commands and ("kb",) not in commands
    missing = [" ".join(path) for path, items in walk(build_parser())
               if path in commands and path not in NO_JSON
               and "--json" not in [w for w, _ in items]]
    assert missing == []


def test_each_offline_command_prints_json_with_json(
        tmp_path: Path, dd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = ["--data-dir", str(dd)]
    master, chain, revocations = tmp_path / "m.key", tmp_path / "c.chain", tmp_path / "rev.json"
    node_id = DataDir(dd).load_identity().node_id
    seen: set[tuple[str, ...]] = set()
    commands = _commands()

    def check(*argv: str, code: int = EXIT_OK) -> object:
        got, out, err = run(capsys, *argv, "--json")
        assert got == code, f"{argv}: {err}"
        lines = out.splitlines()
        assert lines, argv
        parsed = [json.loads(line) for line in lines]  # every line is one JSON document
        words = tuple(a for a in argv if not a.startswith("-"))
        seen.update(p for p in commands if words[:len(p)] == p)
        return parsed[0]

    check("version")
    check("init", "--data-dir", str(tmp_path / "other"))
    assert check("id", *d)["node_id"] == node_id  # type: ignore[index]
    check("config", "get", *d)
    check("config", "set", "node.region", "eu-west", *d)
    check("config", "unset", "node.region", *d)
    check("ledger", "append", "--kind", "note.created", "--payload", '{"text": "hi"}', *d)
    check("ledger", "tail", *d)
    check("kb", "verify", *d)
    check("kb", "backup", str(tmp_path / "bk"), *d)
    check("kb", "restore", str(tmp_path / "bk"), "--data-dir", str(tmp_path / "restored"))
    check("kb", "vacuum", *d)
    check("kb", "rebuild", *d)
    check("kb", "migrate", *d)
    mk = check("keys", "master-init", str(master))["master_public_key"]  # type: ignore[index]
    check("cert", "issue", "--issuer-key", str(master), "--subject", node_id, "--tier",
          "central", "--region", "*", "--out", str(chain))
    check("cert", "install", str(chain), "--master-key", str(mk), *d)
    check("cert", "show", "--master-key", str(mk), *d)
    check("cert", "revoke", "--master-key-file", str(master), "--list", str(revocations),
          "--subject", "ab" * 32)
    check("trust", "manifest", "build", str(Path(hartnode.__file__).parent))
    for which in ("status", "policy", "jobs", "escrow"):
        check("compute", which, *d)
    check("compute", "policy", "set", "max_hive_gpu_pct", "50", *d)
    check("wallet", *d)
    soup = check("recipes", "share", "--title", "Soup", "--step", "boil", *d)["hash"]  # type: ignore[index]
    check("recipes", "fork", soup, "--title", "Spicy soup", *d)
    check("recipes", "list", *d)
    check("recipes", "show", soup, *d)
    check("recipes", "search", "soup", *d)
    check("recipes", "reindex", *d)
    check("recipes", "delete", soup, *d)
    goal_args = ("--job-kind", "cpu.hash_chain", "--params", '{"seed": "s", "rounds": 1}',
                 "--budget-msp", "10", *d)
    goal = check("goals", "create", "--title", "g", *goal_args)["hash"]  # type: ignore[index]
    for verb in ("activate", "pause", "activate", "done"):
        check("goals", verb, goal, *d)
    check("goals", "fail", check("goals", "create", "--title", "h", *goal_args)["hash"], *d)  # type: ignore[index]
    check("goals", "list", *d)
    check("goals", "show", goal, *d)
    daemon_only = {("status",), ("peers",), ("join",), ("connect",), ("cert", "publish"),
                   ("trust",), ("trust", "challenge"),  # tests/test_cli_daemon.py
                   ("goals", "dispatch"),  # tests/apps/test_goals_processes.py
                   ("ui",)}  # tests/apps/web/test_browser.py (login_url)
    # An app's group asks the daemon; its process tests run each with --json
    # (tests/apps/social/test_social_processes.py).
    apps = {p for p in commands if p[0] == "social"}
    assert set(commands) - NO_JSON - daemon_only - apps <= seen


def test_the_long_kb_operations_report_progress_to_the_end(
        dd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hartnode.catalog import build_catalog
    from hartnode.ledger import maintenance, store

    for i in range(3):
        run(capsys, "ledger", "append", "--kind", "note.created", "--payload",
            json.dumps({"text": str(i)}), "--data-dir", str(dd))
    catalog = build_catalog(None)
    calls: list[tuple[str, int, int]] = []

    def record(what: str, done: int, total: int) -> None:
        calls.append((what, done, total))

    maintenance.verify(dd, catalog, progress=record)
    assert calls == [("events", 3, 3)]
    calls.clear()
    maintenance.backup(dd, tmp_path / "bk", progress=record)
    ends = [c for c in calls if c[1] == c[2]]
    assert [c[0] for c in ends] == ["state.sqlite", "ledger.sqlite"]
    assert all(c[1] == (tmp_path / "bk" / c[0]).stat().st_size for c in ends)
    calls.clear()
    maintenance.rebuild(dd, catalog, progress=record)
    assert calls[-1] == ("events", 3, 3)
    calls.clear()
    conn = store.open_database(dd, store.LEDGER, maintenance=True)
    store.set_dirty(conn, True)  # an interrupted migration: `kb migrate` runs again
    conn.close()
    maintenance.migrate(dd, catalog, progress=record)
    assert [c[0] for c in calls if c[1] == c[2]] == ["state.sqlite", "ledger.sqlite", "events"]
