"""The keys/cert commands end to end in tmp_path: master-init, issue down the tiers, install,
show, revoke."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from hartnode import cert_commands as commands
from hartnode import config as config_mod
from hartnode.attestation.certificate import parse_chain_file
from hartnode.cert_commands import (
    CHAIN_FILE,
    DAY_MS,
    CommandError,
    cert_install,
    cert_issue,
    cert_revoke,
    cert_show,
    master_init,
)
from hartnode.datadir import DataDir

NOW = 1_750_000_000_000


def node(tmp_path: Path, name: str) -> tuple[Path, str]:
    """A fresh node data directory and its node id."""
    path = tmp_path / name
    identity = DataDir(path).init(config_mod.Config())
    return path, identity.node_id


@pytest.fixture
def net(tmp_path: Path) -> dict[str, Any]:
    """A master key and three nodes, certified master -> central -> regional -> local."""
    offline = tmp_path / "offline"
    offline.mkdir()
    master = offline / "master.key"
    pub = master_init(master).data["master_public_key"]
    central, central_id = node(tmp_path, "central")
    regional, regional_id = node(tmp_path, "regional")
    local, local_id = node(tmp_path, "local")

    out_c = tmp_path / "central.chain.json"
    cert_issue(master, None, central_id, "central", "*", 365, ["arbitrate", "sync"], None,
               out_c, now_ms=NOW)
    cert_install(central, out_c, pub, now_ms=NOW)
    # The central issues with its node.key (its data dir) and its installed chain.
    out_r = tmp_path / "regional.chain.json"
    cert_issue(central, central, regional_id, "regional", "eu-west", 180, ["sync"], None, out_r,
               master_public_key=pub, now_ms=NOW)
    cert_install(regional, out_r, pub, now_ms=NOW)
    out_l = tmp_path / "local.chain.json"
    cert_issue(regional / "node.key", regional / CHAIN_FILE, local_id, "local", "eu-west", 30,
               ["sync"], None, out_l, master_public_key=pub, now_ms=NOW)
    installed = cert_install(local, out_l, pub, now_ms=NOW)
    return dict(tmp=tmp_path, master=master, pub=pub, central=central, regional=regional,
                local=local, local_id=local_id, regional_id=regional_id, out_l=out_l,
                out_r=out_r, installed=installed)


def error(fn: Any, *args: Any, **kwargs: Any) -> CommandError:
    with pytest.raises(CommandError) as info:
        fn(*args, **kwargs)
    assert info.value.message and info.value.hint
    return info.value


def test_master_init_writes_a_0600_seed_and_prints_the_public_key(tmp_path: Path) -> None:
    out = master_init(tmp_path / "m.key")
    path = tmp_path / "m.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    assert out.data["master_public_key"] in out.text and len(out.data["master_public_key"]) == 64


@pytest.mark.parametrize("marker", ["node.key", "ledger.sqlite"])
def test_master_init_refuses_a_node_data_dir(tmp_path: Path, marker: str) -> None:
    (tmp_path / marker).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    for target in (tmp_path / "master.key", tmp_path / "sub" / "master.key"):
        err = error(master_init, target)
        assert "data directory" in err.message and err.usage
        assert not target.exists()


def test_master_init_refuses_a_real_node_and_to_overwrite(tmp_path: Path) -> None:
    data_dir, _ = node(tmp_path, "n")
    error(master_init, data_dir / "master.key")
    first = master_init(tmp_path / "m.key")
    before = (tmp_path / "m.key").read_bytes()
    err = error(master_init, tmp_path / "m.key")
    assert "already exists" in err.message
    assert (tmp_path / "m.key").read_bytes() == before
    assert first.data["master_public_key"]
    error(master_init, tmp_path / "missing" / "m.key")


def test_keys_readable_by_others_are_refused(tmp_path: Path) -> None:
    master = tmp_path / "m.key"
    master_init(master)
    _, subject = node(tmp_path, "n")
    os.chmod(master, 0o640)
    err = error(cert_issue, master, None, subject, "central", "*", 1, [], None,
                tmp_path / "out.json", now_ms=NOW)
    assert "accessible by others" in err.message and "chmod 600" in err.hint
    os.chmod(master, 0o600)
    (tmp_path / "short.key").write_bytes(b"x" * 31)
    os.chmod(tmp_path / "short.key", 0o600)
    assert "32-byte" in error(cert_issue, tmp_path / "short.key", None, subject, "central", "*",
                              1, [], None, tmp_path / "out.json", now_ms=NOW).message


def test_three_tiers_end_to_end(net: dict[str, Any]) -> None:
    assert net["installed"].data["granted"]["tier"] == "local"
    assert "config says node.tier" in net["installed"].text  # the config still says flat
    installed = net["local"] / CHAIN_FILE
    assert stat.S_IMODE(installed.stat().st_mode) == 0o644
    chain = parse_chain_file(installed.read_bytes())
    assert [c.cert.tier for c in chain] == ["central", "regional", "local"]
    assert [c.cert.path_len for c in chain] == [2, 1, 0]
    assert chain[0].cert.issuer == net["pub"]
    assert chain[2].cert.not_after == NOW + 30 * DAY_MS
    shown = cert_show(net["local"], net["pub"], now_ms=NOW)
    assert shown.data["valid"] is True and shown.data["granted"]["tier"] == "local"
    assert "VALID" in shown.text and shown.text.count("link ") == 3
    json.dumps(shown.data)  # JSON-ready
    unchecked = cert_show(net["out_l"])
    assert unchecked.data["valid"] is None and len(unchecked.data["chain"]) == 3


def test_revoke_then_verification_fails(net: dict[str, Any]) -> None:
    revs = net["tmp"] / "revocations.json"
    regional_serial = parse_chain_file((net["regional"] / CHAIN_FILE).read_bytes())[1].cert.serial
    first = cert_revoke(net["master"], revs, serials=[regional_serial], now_ms=NOW)
    assert first.data["seq"] == 1 and first.data["added_serials"] == [regional_serial]
    err = error(cert_install, net["local"], net["out_l"], net["pub"], revs, now_ms=NOW)
    assert "revoked_serial at link 1" in err.message
    shown = cert_show(net["local"], net["pub"], revs, now_ms=NOW)
    assert shown.data["valid"] is False
    assert shown.data["error"] == {"reason": "revoked_serial", "hop_index": 1,
                                   "detail": regional_serial}
    # The next list is cumulative and has the next seq.
    second = cert_revoke(net["master"], revs, subjects=[net["local_id"]], now_ms=NOW + 1)
    assert second.data["seq"] == 2
    doc = json.loads(revs.read_text())["revocations"]
    assert doc["serials"] == [regional_serial] and doc["subjects"] == [net["local_id"]]
    # A regional chain is unaffected by revoking the local's key, not by its own serial.
    assert cert_show(net["central"], net["pub"], revs, now_ms=NOW).data["valid"] is True


def test_revoke_refusals(net: dict[str, Any], tmp_path: Path) -> None:
    revs = tmp_path / "revs.json"
    assert error(cert_revoke, net["master"], revs).usage
    assert error(cert_revoke, net["master"], revs, serials=["xyz"]).usage
    cert_revoke(net["master"], revs, subjects=[net["local_id"]], now_ms=NOW)
    other = tmp_path / "offline2"
    other.mkdir()
    master_init(other / "m.key")
    err = error(cert_revoke, other / "m.key", revs, serials=["0" * 32], now_ms=NOW)
    assert "not signed by this master key" in err.hint


def test_issuers_cannot_grant_beyond_their_chain(net: dict[str, Any]) -> None:
    tmp, pub, regional, local = net["tmp"], net["pub"], net["regional"], net["local"]
    _, new_id = node(tmp, "new")

    def issue(issuer: Path, tier: str, region: str = "eu-west", days: int = 10,
              caps: tuple[str, ...] = ("sync",), path_len: int | None = None) -> CommandError:
        return error(cert_issue, issuer, issuer, new_id, tier, region, days, list(caps),
                     path_len, tmp / "x.json", master_public_key=pub, now_ms=NOW)

    assert "tier_not_below" in issue(regional, "central", region="*").message
    assert "tier_not_below" in issue(regional, "regional").message
    assert "may not issue" in issue(local, "local").message
    assert "region_widened" in issue(regional, "local", region="us-east").message
    assert "capabilities_widened" in issue(regional, "local", caps=("arbitrate",)).message
    # A central certified with path_len 1 may certify regionals only with path_len 0.
    narrow, narrow_id = node(tmp, "narrow")
    cert_issue(net["master"], None, narrow_id, "central", "*", 30, ["sync"], 1,
               tmp / "narrow.json", now_ms=NOW)
    cert_install(narrow, tmp / "narrow.json", pub, now_ms=NOW)
    assert "path_len" in issue(narrow, "regional", path_len=1).message
    assert "path_len" in issue(regional, "local", path_len=1).message  # a local's max is 0
    outlast = issue(regional, "local", days=181)
    assert "outlast" in outlast.message and "--valid-days 180 " in outlast.hint
    assert not (tmp / "x.json").exists()


def test_issue_refuses_bad_arguments_and_existing_output(net: dict[str, Any]) -> None:
    tmp, master, subject = net["tmp"], net["master"], net["local_id"]
    base: dict[str, Any] = dict(issuer_key_path=master, issuer_chain_path=None,
                                subject_node_id=subject, tier="central", region="*",
                                valid_days=10, capabilities=[], path_len=None,
                                out_path=tmp / "y.json", now_ms=NOW)
    for change in (dict(subject_node_id="abc"), dict(tier="master"), dict(region="*", tier="local"),
                   dict(region="EU"), dict(valid_days=0), dict(capabilities=["Bad"]),
                   dict(serial="123"), dict(capabilities="sync")):
        assert error(cert_issue, **{**base, **change}).usage, change
    assert "already exists" in error(cert_issue, **{**base, "out_path": net["out_l"]}).message
    # A master key that is not the pinned one, and a key that is not its chain's subject.
    wrong = error(cert_issue, **{**base, "master_public_key": "ab" * 32})
    assert "not the pinned master" in wrong.message
    err = error(cert_issue, net["local"], net["regional"], subject, "local", "eu-west", 1,
                [], None, tmp / "z.json", master_public_key=net["pub"], now_ms=NOW)
    assert "presenter_mismatch" in err.message


def test_install_refuses_a_chain_for_another_node_or_master(net: dict[str, Any]) -> None:
    err = error(cert_install, net["regional"], net["out_l"], net["pub"], now_ms=NOW)
    assert "presenter_mismatch" in err.message
    assert "wrong_issuer" in error(cert_install, net["local"], net["out_l"], "ab" * 32,
                                   now_ms=NOW).message
    assert error(cert_install, net["local"], net["out_l"], "nothex", now_ms=NOW).usage
    assert "expired" in error(cert_install, net["local"], net["out_l"], net["pub"],
                              now_ms=NOW + 31 * DAY_MS).message
    assert "node.key" in error(cert_install, net["tmp"] / "nowhere", net["out_l"], net["pub"],
                               now_ms=NOW).message


def test_install_replaces_an_existing_chain(net: dict[str, Any]) -> None:
    renewed = net["tmp"] / "renewed.json"
    cert_issue(net["regional"], net["regional"], net["local_id"], "local", "eu-west", 60,
               [], 0, renewed, master_public_key=net["pub"], now_ms=NOW + DAY_MS)
    cert_install(net["local"], renewed, net["pub"], now_ms=NOW + DAY_MS)
    chain = parse_chain_file((net["local"] / CHAIN_FILE).read_bytes())
    assert chain[-1].cert.capabilities == () and chain[-1].cert.not_after == NOW + 61 * DAY_MS
    assert sorted(p.name for p in net["local"].iterdir() if p.name.startswith(".")) == []


def test_show_a_flat_node_and_a_damaged_file(tmp_path: Path) -> None:
    data_dir, _ = node(tmp_path, "n")
    shown = cert_show(data_dir)
    assert "flat" in shown.text and shown.data["chain"] == []
    (tmp_path / "bad.json").write_text("[1]")
    assert "not a valid chain file" in error(cert_show, tmp_path / "bad.json").message
    assert error(cert_show, tmp_path / "absent.json").usage


def test_every_command_is_exported() -> None:
    for name in ("master_init", "cert_issue", "cert_install", "cert_show", "cert_revoke"):
        assert callable(getattr(commands, name))
