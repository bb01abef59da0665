"""``hartnode recipes ...`` and ``hartnode goals ...`` without a daemon (in-process, on a
real data dir): every subcommand, --json, and errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hartnode.cli import EXIT_FAILED, EXIT_USAGE, main
from hartnode.cli.base import catalog_for
from hartnode.datadir import DataDir
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger


class Cli:
    def __init__(self, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.path, self.capsys = path, capsys

    def __call__(self, *args: str) -> str:
        assert main([*args, "--data-dir", str(self.path)]) == 0
        return self.capsys.readouterr().out

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json"))

    def fails(self, *args: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as e:
            main([*args, "--data-dir", str(self.path)])
        return int(str(e.value.code)), self.capsys.readouterr().err


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path / "node", capsys)
    c("init")
    return c


def _create_user(path: Path, handle: str) -> None:
    dd = DataDir(path)
    with NodeLedger(path, dd.load_identity(), catalog_for(dd)) as nl:
        nl.append([Draft("social.user.created", {"handle": handle}, actor=f"user:{handle}")])


def test_recipes_commands(cli: Cli) -> None:
    code, err = cli.fails("recipes", "share", "--title", "Ghost", "--step", "x",
                          "--actor", "user:ann")
    assert code == EXIT_USAGE and "actor" in err and "social user create ann" in err
    _create_user(cli.path, "ann")  # `social user create` needs the daemon; this is its event
    soup = cli.json("recipes", "share", "--title", "Tomato soup", "--prompt", "warm me up",
                    "--step", "chop tomatoes", "--step", "simmer", "--tag", "soup")["hash"]
    cake = cli.json("recipes", "share", "--title", "Chocolate cake", "--steps-json",
                    '["mix", "bake"]', "--tag", "dessert", "--actor", "user:ann")["hash"]
    fork = cli.json("recipes", "fork", soup[:10], "--title", "Spicy tomato soup")
    assert fork["payload"]["steps"] == ["chop tomatoes", "simmer"]
    shown = cli.json("recipes", "show", soup[:10])
    assert shown["fork_count"] == 1 and shown["forks"] == [fork["hash"]]
    assert "forks 1" in cli("recipes", "show", soup)
    page = cli.json("recipes", "list", "--limit", "2")
    assert len(page["items"]) == 2 and page["next"]
    rest = cli.json("recipes", "list", "--limit", "2", "--before", page["next"])
    assert [r["recipe"] for r in rest["items"]] == [soup] and rest["next"] is None
    assert [r["recipe"] for r in cli.json("recipes", "list", "--tag", "dessert")["items"]] == [
        cake]
    hits = cli.json("recipes", "search", "tomato soup", "-k", "2")["items"]
    assert {h["recipe"] for h in hits} == {soup, fork["hash"]}
    assert cli.json("recipes", "reindex")["items"] == 3
    code, err = cli.fails("recipes", "delete", cake)  # user:ann's, not node's
    assert code == EXIT_USAGE and "actor" in err
    cli("recipes", "delete", cake, "--actor", "user:ann")
    assert cake not in {h["recipe"] for h in cli.json("recipes", "search", "cake")["items"]}
    code, err = cli.fails("recipes", "share", "--title", "", "--step", "x")
    assert code == EXIT_USAGE and "payload.title" in err
    code, err = cli.fails("recipes", "show", "nothex")
    assert code == EXIT_USAGE and "id:" in err


def test_goals_commands(cli: Cli) -> None:
    goal = cli.json("goals", "create", "--title", "crunch", "--job-kind", "cpu.hash_chain",
                    "--params", '{"seed": "s", "rounds": 2}', "--budget-msp", "900")["hash"]
    assert cli.json("goals", "show", goal[:10])["status"] == "draft"
    code, err = cli.fails("goals", "pause", goal)
    assert code == EXIT_USAGE and "cannot become paused" in err
    for verb, status in (("activate", "active"), ("pause", "paused"), ("activate", "active"),
                         ("done", "done")):
        cli("goals", verb, goal, "--reason", "test")
        assert cli.json("goals", "show", goal)["status"] == status
    assert [g["goal"] for g in cli.json("goals", "list", "--status", "done")["items"]] == [goal]
    code, err = cli.fails("goals", "create", "--title", "x", "--job-kind", "rm -rf",
                          "--budget-msp", "1")
    assert code == EXIT_USAGE and "job_kind" in err
    code, err = cli.fails("goals", "dispatch", goal, "--peer", "ab" * 32, "--central",
                          "ab" * 32, "--amount-msp", "1")
    assert code == EXIT_FAILED and "needs the running daemon" in err
