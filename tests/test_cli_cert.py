"""The certificate commands as an operator runs them: master → central → regional → local."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hartnode.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from hartnode.datadir import DataDir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_delegation_install_show_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    master = tmp_path / "master.key"
    code, out, _ = run(capsys, "keys", "master-init", str(master))
    assert code == EXIT_OK
    mk = out.split("master public key: ")[1].split()[0]
    ids = {}
    for name in ("central", "regional", "local"):
        assert run(capsys, "init", "--data-dir", str(tmp_path / name))[0] == EXIT_OK
        ids[name] = DataDir(tmp_path / name).load_identity().node_id
    c_chain, r_chain, l_chain = (tmp_path / f"{n}.chain" for n in ("c", "r", "l"))
    assert run(capsys, "cert", "issue", "--issuer-key", str(master), "--subject", ids["central"],
               "--tier", "central", "--region", "*", "--out", str(c_chain))[0] == EXIT_OK
    assert run(capsys, "cert", "install", "--data-dir", str(tmp_path / "central"),
               "--master-key", mk, str(c_chain))[0] == EXIT_OK
    assert run(capsys, "cert", "issue", "--issuer-key", str(tmp_path / "central"),
               "--issuer-chain", str(tmp_path / "central"), "--subject", ids["regional"],
               "--tier", "regional", "--region", "eu-west", "--out", str(r_chain))[0] == EXIT_OK
    assert run(capsys, "cert", "issue", "--issuer-key", str(tmp_path / "regional" / "node.key"),
               "--issuer-chain", str(r_chain), "--subject", ids["local"], "--tier", "local",
               "--region", "eu-west", "--out", str(l_chain))[0] == EXIT_OK
    code, out, _ = run(capsys, "cert", "show", str(l_chain), "--master-key", mk, "--json")
    assert code == EXIT_OK and json.loads(out)["valid"] is True

    # A regional may not certify a regional: tier escalation is refused with a hint.
    code, _, err = run(capsys, "cert", "issue", "--issuer-key",
                       str(tmp_path / "regional" / "node.key"), "--issuer-chain", str(r_chain),
                       "--subject", ids["local"], "--tier", "regional", "--region", "eu-west",
                       "--out", str(tmp_path / "bad.chain"))
    assert code == EXIT_USAGE and "tier_not_below" in err and "hint:" in err

    revocations = tmp_path / "revocations.json"
    assert run(capsys, "cert", "revoke", "--master-key-file", str(master), "--list",
               str(revocations), "--subject", ids["regional"])[0] == EXIT_OK
    code, out, _ = run(capsys, "cert", "show", str(l_chain), "--master-key", mk,
                       "--revocations", str(revocations), "--json")
    assert code == EXIT_FAILED and json.loads(out)["valid"] is False


def test_install_needs_a_pinned_master_key(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "init", "--data-dir", str(tmp_path / "n"))
    code, _, err = run(capsys, "cert", "install", "--data-dir", str(tmp_path / "n"),
                       str(tmp_path / "none.chain"))
    assert code == EXIT_USAGE and "trust.master_key" in err
