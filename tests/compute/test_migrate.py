"""``kb migrate`` from a state schema before compute: compute events stored opaque then count."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from hartnode.apps import notes
from hartnode.attestation import fraud
from hartnode.catalog import Catalog
from hartnode.compute import wallet
from hartnode.hierarchy import policy
from hartnode.identity import NodeIdentity
from hartnode.ledger import maintenance, store
from hartnode.ledger.kinds import KindRegistry
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.ledger.schema import STATE_SCHEMA_VERSION
from hartnode.ledger.views import ViewRegistry

from .helpers import CENTRAL, chain_for, open_node


def _old_catalog() -> Catalog:
    kinds, views = KindRegistry(), ViewRegistry()
    for app in (notes, fraud, policy):
        app.register(kinds, views)
    return Catalog(kinds, views)


def test_kb_migrate_projects_compute_events_an_older_build_stored_opaque(tmp_path: Path) -> None:
    central, _ = open_node(tmp_path / "central", CENTRAL)
    me = NodeIdentity.from_seed(b"\x33" * 32)
    with central:
        wallet.grant(central, me.node_id, 7_000, chain_for(CENTRAL))
        events = central.ledger.tail(10)
    d = tmp_path / "old"
    d.mkdir()
    with NodeLedger(d, me, _old_catalog(), create=True) as old:
        assert old.ingest([e.wire() for e in events]).opaque == 1
    conn = apsw.Connection(str(d / "state.sqlite"))
    for column in ("cause_alignment", "electricity_rate_uusd_kwh", "gpu_ms_served",
                   "total_inferences", "energy_wh_contributed",
                   "metered_api_costs_absorbed_uusd"):
        conn.execute(f"ALTER TABLE peer_nodes DROP COLUMN {column}")
    for column in ("gpu_count", "gpu_model", "gpu_memory_mib", "compute_kinds_json",
                   "compute_models_json", "compute_price_msp", "compute_policy"):
        conn.execute(f"ALTER TABLE peer_nodes DROP COLUMN {column}")
    conn.execute("UPDATE meta SET schema_version = '1.3.0'")  # as the build before compute
    conn.close()
    _, catalog = open_node(tmp_path / "unused", me)
    with pytest.raises(store.StoreError) as err:
        NodeLedger(d, me, catalog)
    assert "kb migrate" in str(err.value)
    report = maintenance.migrate(d, catalog)
    assert report.applied["state"] == ["1.4.0", STATE_SCHEMA_VERSION]
    with NodeLedger(d, me, catalog) as migrated:
        assert store.query(migrated.views.state, "SELECT user_id, spark FROM resonance_wallets"
                           ) == [(me.node_id, 7_000)]
        assert store.scalar(migrated.views.state, "SELECT gpu_ms_served FROM peer_nodes") is None
    assert maintenance.verify(d, catalog).ok
