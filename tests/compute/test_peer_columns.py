"""The compute columns of ``peer_nodes`` and the requester's providers, from peer records.

Real signed records in a real ``PeerTable``, saved by ``peer_store`` into a
real state database, as the daemon's ``keep_peer_nodes`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

from hartnode.compute import gpu_probe
from hartnode.compute.daemon import capabilities, providers, save_peer_columns
from hartnode.config import ComputeConfig, Config
from hartnode.gossip import peer_store
from hartnode.gossip.peer_record import PeerTable, sign_peer_record
from hartnode.identity import NodeIdentity
from hartnode.ledger import store

from .helpers import open_node
from .test_policy_probe import fake_nvml

ME = NodeIdentity.from_seed(b"\x81" * 32)
GPU_NODE = NodeIdentity.from_seed(b"\x82" * 32)
CPU_NODE = NodeIdentity.from_seed(b"\x83" * 32)
PLAIN = NodeIdentity.from_seed(b"\x84" * 32)


def test_peer_records_fill_the_compute_columns_and_the_provider_list(tmp_path: Path) -> None:
    gpu_cfg = Config(compute=ComputeConfig(backend_url="http://127.0.0.1:8080", price_msp=250,
                                           compute_policy="hive_when_idle"))
    gpu_tags = capabilities(gpu_cfg, gpu_probe.probe(fake_nvml()), models=["Tiny-1B.gguf"])
    # No GPU, no backend: a record offers the CPU kind only when it lends all it has.
    cpu_tags = capabilities(Config(compute=ComputeConfig(compute_policy="hive_always")),
                            gpu_probe.GpuFacts(False, "no_driver"))
    assert capabilities(Config(), gpu_probe.GpuFacts(False, "no_driver")) == ()
    table = PeerTable(ME.node_id, ttl_ms=600_000)
    for seq, (who, tags) in enumerate(((GPU_NODE, gpu_tags), (CPU_NODE, cpu_tags),
                                       (PLAIN, ("code:" + "ab" * 8,))), start=1):
        assert table.observe(sign_peer_record(who, addrs=(), tier="flat", region="", seq=seq,
                                              ts_ms=1_000, capabilities=tags), 1_000)
    nl, _ = open_node(tmp_path / "me", ME)
    with nl:
        state = nl.views.state
        peer_store.write(state, peer_store.snapshot(table, 2_000))
        assert save_peer_columns(state) == 3
        rows = {r[0]: r[1:] for r in store.query(
            state, "SELECT node_id, gpu_count, gpu_model, gpu_memory_mib, compute_kinds_json,"
                   " compute_models_json, compute_price_msp, compute_policy FROM peer_nodes")}
    assert rows[GPU_NODE.node_id] == (
        2, "nvidia_h100__0", 81920, json.dumps(["cpu.hash_chain", "inference.chat"]),
        json.dumps(["tiny-1b.gguf"]), 250, "hive_when_idle")
    assert rows[CPU_NODE.node_id] == (0, "", 0, json.dumps(["cpu.hash_chain"]), "[]", 1000,
                                      "hive_always")
    assert rows[PLAIN.node_id] == (0, "", 0, "[]", "[]", None, "")
    offered = {p.node_id: (p.kinds, p.models, p.price_msp) for p in providers(table)}
    assert offered == {
        GPU_NODE.node_id: (("cpu.hash_chain", "inference.chat"), ("tiny-1b.gguf",), 250),
        CPU_NODE.node_id: (("cpu.hash_chain",), (), 1000)}
