"""Fraud alerts on real ledger files: a fork recorded but never reported is reported at start."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Hartnode, StartDaemon, init_node, wait_until

from hartnode.attestation.fraud import equivocation_alert, unreported_forks
from hartnode.catalog import build_catalog
from hartnode.datadir import DataDir
from hartnode.identity import NodeIdentity
from hartnode.ledger.envelope import Event, sign_event
from hartnode.ledger.node_ledger import NodeLedger

FORKER = NodeIdentity.from_seed(b"forker".ljust(32, b"."))
ME = NodeIdentity.from_seed(b"me".ljust(32, b"."))


def note(seq: int, prev: Event | None, text: str) -> Event:
    return sign_event(FORKER, seq=seq, prev=prev.hash_hex if prev else None, ts_ms=1_000 + seq,
                      actor="node", kind="note.created", scope="system", reach="network",
                      payload={"text": text}, provenance={})


def test_a_fork_on_record_without_an_own_alert_is_reported_once(tmp_path: Path) -> None:
    e1 = note(1, None, "one")
    e2a, e2b = note(2, e1, "two a"), note(2, e1, "two b")
    with NodeLedger(tmp_path, ME, build_catalog(), create=True) as nl:
        # A proof about a feed this node never held raises no alert of its own (#8.8).
        assert nl.ledger.record_evidence(e2a.wire(), e2b.wire()) is not None
        assert unreported_forks(nl.ledger, nl.views.state, ME.node_id) == []
        # It holds the feed: as after a crash between recording the fork and the alert.
        nl.ingest([e1.wire()])
        (pending,) = unreported_forks(nl.ledger, nl.views.state, ME.node_id)
        assert {pending[0].hash, pending[1].hash} == {e2a.hash, e2b.hash}
        # Another node's alert does not count as ours.
        assert unreported_forks(nl.ledger, nl.views.state, FORKER.node_id) == [pending]
        nl.append([equivocation_alert(*pending)])
        assert unreported_forks(nl.ledger, nl.views.state, ME.node_id) == []


def test_the_daemon_reports_at_start_a_fork_it_recorded_but_never_reported(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon) -> None:
    node = init_node(hartnode, tmp_path / "n")
    e1 = note(1, None, "one")
    e2a, e2b = note(2, e1, "two a"), note(2, e1, "two b")
    identity = DataDir(node.path).load_identity()
    with NodeLedger(node.path, identity, build_catalog()) as nl:  # the daemon is down
        nl.ingest([e1.wire()])  # it holds the feed (only then its own alert, #8.8)
        assert nl.ledger.record_evidence(e2a.wire(), e2b.wire()) is not None
    start_daemon(node)

    def alerts() -> list[dict[str, object]]:
        lines = node.run("ledger", "tail", "--json", "-n", "10").stdout.splitlines()
        return [e for e in map(json.loads, lines) if e["kind"] == "trust.fraud_alert.raised"]

    wait_until("the daemon raised the missing alert", lambda: bool(alerts()))
    (alert,) = alerts()
    assert alert["payload"]["node_id"] == FORKER.node_id  # type: ignore[index]
    assert alert["origin"] == node.node_id
