"""Every per-peer limit an operator tunes is a config key that reaches the part
enforcing it (issue #8: "put it in config with its unit"), and a bad value is a
ConfigError naming the key.

The node's own builders (``build_gossip``, ``build_replication``) are used, on a
real data dir, so what is checked is what ``hartnode run`` would enforce.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hartnode import config
from hartnode.catalog import build_catalog
from hartnode.config import Config, ConfigError
from hartnode.datadir import DataDir
from hartnode.gossip.overlay_config import for_profile
from hartnode.gossip.service import GossipService
from hartnode.gossip.transport import TransportConfig
from hartnode.ledger.committer import StoreAccess
from hartnode.limits import overlay_config, replication_limits, transport_config
from hartnode.node import build_gossip, build_replication, open_node
from hartnode.replication.service import ReplicationLimits, ReplicationService

Parts = tuple[GossipService, ReplicationService]

# (env variable, value set, how to read it off the enforcing object, what it reads).
KEYS: list[tuple[str, str, Callable[[GossipService, ReplicationService], Any], Any]] = [
    ("NETWORK_MAX_CONNECTIONS", "17", lambda g, r: g._transport_config.max_connections, 17),
    ("NETWORK_PENDING_SHARE", "0.25", lambda g, r: g._transport_config.pending_share, 0.25),
    ("NETWORK_MAX_PENDING_PER_ADDRESS", "40",
     lambda g, r: g._transport_config.max_pending_per_address, 40),
    ("NETWORK_MAX_LINKS_PER_ADDRESS", "3",
     lambda g, r: g._transport_config.max_links_per_address, 3),
    ("NETWORK_HANDSHAKE_RATE_PER_ADDRESS", "0.5",
     lambda g, r: g._transport_config.handshake_rate_per_address, 0.5),
    ("NETWORK_HANDSHAKE_BURST_PER_ADDRESS", "5",
     lambda g, r: g._transport_config.handshake_burst_per_address, 5),
    ("NETWORK_RESERVED_SHARE", "0.2", lambda g, r: g._transport_config.reserved_share, 0.2),
    ("NETWORK_FIRST_MESSAGE_TIMEOUT", "1.5",
     lambda g, r: g._transport_config.first_message_timeout, 1.5),
    ("NETWORK_HANDSHAKE_TIMEOUT", "20", lambda g, r: g._transport_config.handshake_timeout, 20.0),
    ("NETWORK_LINK_RATE", "8192", lambda g, r: g.settings.overlay.link_rate, 8192.0),
    ("NETWORK_LINK_BURST", "131072", lambda g, r: g.settings.overlay.link_burst, 131072.0),
    ("NETWORK_SEND_QUEUE_BYTES", "524288", lambda g, r: g.settings.overlay.send_queue_bytes,
     524288),
    ("NETWORK_SLOW_READER_TIMEOUT", "30", lambda g, r: g.settings.overlay.slow_reader_timeout,
     30.0),
    ("NETWORK_PEER_TABLE_SIZE", "300", lambda g, r: g.peers.max_entries, 300),
    ("NETWORK_RECORD_BUDGET", "4096", lambda g, r: g.settings.overlay.record_budget, 4096.0),
    ("LEDGER_BATCH_BYTES", "8192", lambda g, r: r.core.batch_bytes, 8192),
    ("LEDGER_WANTS_PER_ROUND", "7", lambda g, r: r.core.wants_per_round, 7),
    ("LEDGER_WANT_BYTES_PER_ROUND", "100000", lambda g, r: r.core.want_bytes_per_round, 100000),
    ("LEDGER_HELD_PEER_BYTES", "200000",
     lambda g, r: r.node_ledger.ledger.held.limits.peer_bytes, 200000),
    ("LEDGER_HELD_TOTAL_BYTES", "9000000",
     lambda g, r: r.node_ledger.ledger.held.limits.total_bytes, 9000000),
    ("LEDGER_HELD_EXPIRY", "30", lambda g, r: r.node_ledger.ledger.held.limits.ttl_ms, 30_000),
    ("LEDGER_EVIDENCE_BURST", "3", lambda g, r: r.evidence_gate.limits.burst, 3),
    ("LEDGER_EVIDENCE_PER_MINUTE", "6", lambda g, r: r.evidence_gate.limits.rate, 0.1),
    ("LEDGER_EVIDENCE_BYTES_BURST", "200000", lambda g, r: r.evidence_gate.limits.bytes_burst,
     200000),
    ("LEDGER_EVIDENCE_BYTES_PER_SECOND", "1000",
     lambda g, r: r.evidence_gate.limits.byte_rate, 1000),
    ("LEDGER_UNHELD_EVIDENCE_BURST", "5", lambda g, r: r.evidence_gate.limits.unheld_burst, 5),
    ("LEDGER_UNHELD_EVIDENCE_INTERVAL", "600",
     lambda g, r: r.evidence_gate.limits.unheld_refill_s, 600),
    ("LEDGER_ALERT_BURST", "2", lambda g, r: r.evidence_gate.limits.alert_burst, 2),
    ("LEDGER_ALERT_INTERVAL", "900", lambda g, r: r.evidence_gate.limits.alert_refill_s, 900),
]
# Keys that are not per-peer limits (identity, addresses, schedules, logging ...).
NOT_LIMITS = {"network": {"name", "key", "listen", "advertise", "seeds", "profile",
                          "announce_interval", "sync_interval"},
              "ledger": {"group_commit_max"}}


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Parts]]:
    """Builds a node's gossip and replication from a config the environment sets."""
    opened = []

    def build(env: dict[str, str]) -> Parts:
        cfg = config.load(None, {f"HARTNODE_{k}": v for k, v in env.items()})
        dd = DataDir(tmp_path / f"node{len(opened)}")
        dd.init(cfg)
        node_ledger = open_node(dd, cfg, build_catalog())
        opened.append(node_ledger)
        gossip = build_gossip(dd, cfg, node_ledger)
        replication = build_replication(cfg, gossip, node_ledger, StoreAccess())
        replication._limit_held()  # what ``run`` does first, in the store's thread
        return gossip, replication

    yield build
    for node_ledger in opened:
        node_ledger.close()


def test_every_limit_key_is_in_the_table() -> None:
    keys = {k for k, *_ in KEYS}
    for section in ("network", "ledger"):
        for f in dataclasses.fields(getattr(Config(), section)):
            if f.name not in NOT_LIMITS[section]:
                assert f"{section.upper()}_{f.name.upper()}" in keys, f"{section}.{f.name}"


@pytest.mark.parametrize("env,value,read,expected", KEYS, ids=[k for k, *_ in KEYS])
def test_each_limit_key_reaches_the_object_that_enforces_it(
        built: Callable[[dict[str, str]], Parts], env: str, value: str,
        read: Callable[[GossipService, ReplicationService], Any], expected: Any) -> None:
    default = read(*built({}))
    assert default != expected  # the override is seen, not a coincidence
    assert read(*built({env: value})) == expected


@pytest.mark.parametrize("profile", ["full", "constrained", "minimal"])
def test_defaults_are_the_profiles_values(profile: str) -> None:
    cfg = config.load(None, {"HARTNODE_NETWORK_PROFILE": profile})
    overlay = overlay_config(cfg)
    assert overlay == for_profile(profile)
    assert transport_config(cfg) == TransportConfig(max_connections=64)
    assert replication_limits(cfg, overlay) == ReplicationLimits.from_profile(overlay, 10.0)


def test_limits_derived_from_a_link_follow_its_override() -> None:
    cfg = config.load(None, {"HARTNODE_NETWORK_PROFILE": "minimal",
                             "HARTNODE_NETWORK_LINK_RATE": "32768",
                             "HARTNODE_NETWORK_LINK_BURST": "131072",
                             "HARTNODE_NETWORK_SYNC_INTERVAL": "5"})
    limits = replication_limits(cfg, overlay_config(cfg))
    assert limits.held.peer_bytes == 16 * 131072
    assert limits.batch_bytes == 131072
    assert limits.want_bytes_per_round == 2 * 32768 * 5


@pytest.mark.parametrize("key,value", [
    ("network.pending_share", "0"),
    ("network.pending_share", "nan"),
    ("network.reserved_share", "1"),
    ("network.max_pending_per_address", "0"),
    ("network.max_links_per_address", "0"),
    ("network.handshake_rate_per_address", "0"),
    ("network.handshake_burst_per_address", "0"),
    ("network.handshake_timeout", "0"),
    ("network.first_message_timeout", "11"),  # beyond the 10 s handshake
    ("network.link_rate", "100"),
    ("network.link_burst", "65535"),
    ("network.send_queue_bytes", "-1"),
    ("network.slow_reader_timeout", "-5"),
    ("network.peer_table_size", "10"),
    ("ledger.batch_bytes", "1048576"),
    ("ledger.wants_per_round", "0"),
    ("ledger.want_bytes_per_round", "1000"),
    ("ledger.held_peer_bytes", "1000"),
    ("ledger.held_peer_bytes", "40000000"),  # more than held_total_bytes
    ("ledger.held_total_bytes", "0"),
    ("ledger.held_expiry", "0"),
    ("ledger.evidence_burst", "0"),
    ("ledger.evidence_per_minute", "0"),
    ("ledger.evidence_bytes_burst", "65536"),  # less than one proof of the largest size
    ("ledger.evidence_bytes_per_second", "0"),
    ("ledger.unheld_evidence_burst", "0"),
    ("ledger.unheld_evidence_interval", "0"),
    ("ledger.alert_burst", "0"),
    ("ledger.alert_interval", "0"),
])
def test_a_bad_limit_is_a_config_error_naming_the_key(key: str, value: str) -> None:
    env = "HARTNODE_" + key.replace(".", "_").upper()
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config.load(None, {env: value})


def test_a_share_in_the_file_must_be_a_number(tmp_path: Path) -> None:
    f = tmp_path / "hartnode.toml"
    f.write_text('[network]\npending_share = "half"\n')
    with pytest.raises(ConfigError, match=r"network\.pending_share: expected a number"):
        config.load(f, {})
    f.write_text("[network]\npending_share = 1\nfirst_message_timeout = 2\n")
    cfg = config.load(f, {})
    assert (cfg.network.pending_share, cfg.network.first_message_timeout) == (1.0, 2.0)
