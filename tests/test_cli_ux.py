"""The command line a Syncthing/Tailscale user expects (issue #13): ``version``
and ``-V``, "did you mean" on a typo, ``--data-dir`` before the command, and
``hartnode id`` offline. In-process with capsys where no daemon is needed."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import apsw
import pytest
from conftest import Hartnode

from hartnode import __version__
from hartnode.cli import EXIT_OK, EXIT_USAGE, main
from hartnode.datadir import DataDir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_flag_prints_the_version(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    assert run(capsys, flag) == (EXIT_OK, f"hartnode {__version__}\n", "")


def test_version_command_names_python_and_sqlite(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "version")
    assert code == EXIT_OK and err == ""
    assert out.splitlines()[0] == f"hartnode {__version__}"
    assert platform.python_version() in out and apsw.sqlitelibversion() in out
    code, out, _ = run(capsys, "version", "--json")
    assert code == EXIT_OK and json.loads(out) == {
        "hartnode": __version__, "python": platform.python_version(),
        "sqlite": apsw.sqlitelibversion(), "apsw": apsw.apswversion()}


@pytest.mark.parametrize(("argv", "suggested"), [
    (["stauts"], "hartnode status"),
    (["kb", "verfy"], "hartnode kb verify"),
    (["cert", "isue"], "hartnode cert issue"),
])
def test_a_mistyped_command_names_the_closest(capsys: pytest.CaptureFixture[str],
                                              argv: list[str], suggested: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE and out == ""
    lines = err.splitlines()
    assert lines[0] == f"hartnode: error: unknown command {argv[-1]!r} for " \
        f"`{suggested.rsplit(' ', 1)[0]}`"
    assert lines[1].startswith(f"hartnode: hint: did you mean `{suggested}`?")
    assert len(lines) == 2  # no argparse usage dump before it


def test_every_usage_error_has_the_cli_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ledger", "tail", "--bogus")
    assert code == EXIT_USAGE
    assert err.splitlines() == ["hartnode: error: unrecognized arguments: --bogus",
                                "hartnode: hint: see `hartnode --help`"]
    code, _, err = run(capsys, "zzzzzz")
    assert code == EXIT_USAGE and "hartnode: error: unknown command 'zzzzzz'" in err
    assert "hartnode: hint: see `hartnode --help`" in err and "did you mean" not in err


def test_data_dir_before_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARTNODE_DATA_DIR", str(tmp_path / "from-env"))
    assert run(capsys, "--data-dir", str(tmp_path / "a"), "init")[0] == EXIT_OK
    assert DataDir(tmp_path / "a").exists() and not (tmp_path / "from-env").exists()
    node_id = DataDir(tmp_path / "a").load_identity().node_id
    code, out, _ = run(capsys, "--data-dir", str(tmp_path / "a"), "id", "--json")
    assert code == EXIT_OK and json.loads(out)["node_id"] == node_id
    # After the command it wins over the one before it, as it is the nearer.
    assert run(capsys, "--data-dir", str(tmp_path / "b"), "init", "--data-dir",
               str(tmp_path / "c"))[0] == EXIT_OK
    assert DataDir(tmp_path / "c").exists() and not (tmp_path / "b").exists()


def test_status_accepts_data_dir_before_it(tmp_path: Path, hartnode: Hartnode) -> None:
    """The issue's own example, as a real process: it reaches the data dir
    (no daemon there: exit 4), not an argparse error."""
    init = hartnode("init", "--data-dir", str(tmp_path / "n"), "--api", "127.0.0.1:9",
                    data_dir=None)
    assert init.returncode == EXIT_OK, init.stderr
    result = hartnode("--data-dir", str(tmp_path / "n"), "status", data_dir=tmp_path / "other")
    assert result.returncode == 4, result.stderr
    assert "127.0.0.1:9" in result.stderr and "unrecognized" not in result.stderr


def test_id_needs_an_initialised_data_dir(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "id", "--data-dir", str(tmp_path / "none"))
    assert code == EXIT_USAGE and out == ""
    assert err.splitlines() == [f"hartnode: error: no hartnode node in {tmp_path / 'none'}",
                                "hartnode: hint: run `hartnode init` first, or pass --data-dir"]


def test_id_offline_flat_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "n")
    assert run(capsys, "init", "--data-dir", d, "--listen", "127.0.0.1:7001")[0] == EXIT_OK
    node_id = DataDir(tmp_path / "n").load_identity().node_id
    code, out, _ = run(capsys, "id", "--data-dir", d, "--json")
    info = json.loads(out)
    assert code == EXIT_OK and info["node_id"] == node_id and info["short_id"] == node_id[:12]
    assert (info["tier"], info["proven_tier"], info["claimed_tier"]) == ("flat", "flat", "flat")
    assert info["listen"] == "127.0.0.1:7001"
    assert info["advertise"] == ["ws://127.0.0.1:7001/hart"]
    assert info["warnings"] == []
    code, out, _ = run(capsys, "id", "--data-dir", d)
    assert code == EXIT_OK and node_id in out and "ws://127.0.0.1:7001/hart" in out


def test_id_shows_the_tier_the_installed_chain_proves(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    master = tmp_path / "master.key"
    code, out, _ = run(capsys, "keys", "master-init", str(master))
    assert code == EXIT_OK
    mk = out.split("master public key: ")[1].split()[0]
    d = tmp_path / "n"
    assert run(capsys, "init", "--data-dir", str(d), "--tier", "regional")[0] == EXIT_OK
    node_id = DataDir(d).load_identity().node_id
    # Claimed regional, no chain: flat, with the daemon's own warning.
    monkeypatch.setenv("HARTNODE_TRUST_MASTER_KEY", mk)
    info = json.loads(run(capsys, "id", "--data-dir", str(d), "--json")[1])
    assert (info["tier"], info["proven_tier"], info["claimed_tier"]) == (
        "flat", "flat", "regional")
    assert any("no certificate chain is installed" in w for w in info["warnings"])

    chain = tmp_path / "r.chain"
    assert run(capsys, "cert", "issue", "--issuer-key", str(master), "--subject", node_id,
               "--tier", "regional", "--region", "eu-west", "--out", str(chain))[0] == EXIT_OK
    assert run(capsys, "cert", "install", "--data-dir", str(d), str(chain))[0] == EXIT_OK
    info = json.loads(run(capsys, "id", "--data-dir", str(d), "--json")[1])
    assert (info["tier"], info["region"], info["proven_tier"]) == (
        "regional", "eu-west", "regional")
    assert info["warnings"] == []

    # The chain proves regional while node.tier claims local: flat, and says so.
    monkeypatch.setenv("HARTNODE_NODE_TIER", "local")
    info = json.loads(run(capsys, "id", "--data-dir", str(d), "--json")[1])
    assert (info["tier"], info["proven_tier"], info["claimed_tier"]) == (
        "flat", "regional", "local")
    assert any("proves tier regional but node.tier is local" in w for w in info["warnings"])
