"""SIGKILL between and inside every two steps of an escrow's life: real processes, real files.

``hartnode.testing.escrow_stepper`` walks three escrows (released, refunded,
disputed) one durable step at a time. For every step N it is killed right
after step N's ledger commit and before its views caught up, then restarted
until it finishes; its final views must equal those of a run never killed,
each escrow paid out at most once, Spark conserved, and ``kb verify`` clean.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Hartnode, init_node

from hartnode.catalog import build_catalog
from hartnode.compute import wallet
from hartnode.datadir import DataDir
from hartnode.identity import NodeIdentity
from hartnode.ledger import maintenance, store
from hartnode.ledger.node_ledger import NodeLedger

from .helpers import CENTRAL, MASTER, chain_for, open_node

LENDER = NodeIdentity.from_seed(b"\x05" * 32).node_id
STEPS = 7


def _grant_file(tmp_path: Path, to: str) -> Path:
    central, _ = open_node(tmp_path / "central", CENTRAL)
    with central:
        wallet.grant(central, to, 10_000, chain_for(CENTRAL))
        lines = [f"{w[0].hex()} {w[1].hex()}" for w in (e.wire() for e in central.ledger.tail(5))]
    path = tmp_path / "grant.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _step(data_dir: Path, grant: Path, kill_at: int = 0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hartnode.testing.escrow_stepper", str(data_dir), "--grant",
         str(grant), "--lender", LENDER, "--central", CENTRAL.node_id, "--master",
         MASTER.public_key.hex(), "--kill-after-commit", str(kill_at)],
        capture_output=True, text=True, timeout=60, check=False)


def _final(path: Path) -> dict[str, object]:
    dd = DataDir(path)
    catalog = build_catalog(MASTER.public_key)
    with NodeLedger(path, dd.load_identity(), catalog) as nl:
        s = nl.views.state
        escrows = store.query(s, "SELECT job_id, status, spark_amount FROM compute_escrow"
                                 " ORDER BY job_id")
        wallets = store.query(s, "SELECT user_id, spark, held FROM resonance_wallets"
                                 " ORDER BY user_id")
        payouts = store.query(s, "SELECT ref, COUNT(*) FROM resonance_transactions WHERE"
                                 " reason IN ('escrow_lender', 'refund') GROUP BY ref")
        incremental = (escrows, wallets)
        nl.views.rebuild()
        rebuilt = (store.query(s, "SELECT job_id, status, spark_amount FROM compute_escrow"
                                  " ORDER BY job_id"),
                   store.query(s, "SELECT user_id, spark, held FROM resonance_wallets"
                                  " ORDER BY user_id"))
        assert rebuilt == incremental
        book = catalog.compute.get(s)
        assert sum(book.balance.values()) + book.open_total() == book.minted() == 10_000
        assert all(n == 1 for n in book.settled_count().values())
    assert maintenance.verify(path, catalog).ok
    return {"escrows": escrows, "wallets": wallets, "payouts": sorted(payouts)}


@pytest.mark.slow
def test_sigkill_inside_every_step_changes_nothing_but_timing(tmp_path: Path,
                                                               hartnode: Hartnode) -> None:
    reference = init_node(hartnode, tmp_path / "reference")
    grant = _grant_file(tmp_path, reference.node_id)
    done = _step(reference.path, grant)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:-1] == [f"step {n}" for n in range(1, STEPS + 1)]
    expected = _final(reference.path)
    assert [row[1] for row in expected["escrows"]] == ["released", "refunded",  # type: ignore[index]
                                                       "disputed"]
    for kill_at in range(1, STEPS + 1):
        node = init_node(hartnode, tmp_path / f"kill{kill_at}")
        grant = _grant_file(tmp_path / f"g{kill_at}", node.node_id)
        killed = _step(node.path, grant, kill_at)
        assert killed.returncode == -9, (kill_at, killed.stdout, killed.stderr)
        assert f"step {kill_at}" not in killed.stdout.split("\n")
        resumed = _step(node.path, grant)
        assert resumed.returncode == 0, resumed.stderr
        final = _final(node.path)
        # Same escrows in the same states, same balances: only node ids differ.
        assert final["escrows"] == expected["escrows"], kill_at
        assert sorted(s for _, s, _ in final["wallets"]) == sorted(  # type: ignore[attr-defined]
            s for _, s, _ in expected["wallets"]), kill_at  # type: ignore[attr-defined]
        assert [n for _, n in final["payouts"]] == [1, 1], kill_at  # type: ignore[attr-defined]
