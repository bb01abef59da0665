"""Config → the limits the node's parts enforce: the one mapping (README "Security").

Per-link limits start from the bandwidth profile (``network.profile``,
``gossip/overlay_config.py``); a profile-derived key left at 0 keeps the
profile's value, any other value replaces it. Limits derived from another
(held-back bytes per peer from ``link_burst``, want reply bytes from
``link_rate``) are derived after the overrides, so they follow them.
``config.validate`` has checked every range before this runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hartnode.config import Config
from hartnode.gossip.overlay_config import OverlayConfig, for_profile
from hartnode.gossip.transport import TransportConfig
from hartnode.ledger.held import HeldLimits
from hartnode.replication.fork_evidence import EvidenceLimits
from hartnode.replication.service import ReplicationLimits

# OverlayConfig field ← [network] key of the same name; 0 keeps the profile's.
_OVERLAY_KEYS = ("record_budget", "peer_table_size", "link_rate", "link_burst",
                 "send_queue_bytes", "slow_reader_timeout")


def overlay_config(cfg: Config) -> OverlayConfig:
    """The profile's overlay parameters, with the config's overrides."""
    overlay = for_profile(cfg.network.profile)
    changes: dict[str, Any] = {}
    for key in _OVERLAY_KEYS:
        value = getattr(cfg.network, key)
        if value:
            # Keep the field's type: a float field given an int still validates.
            changes[key] = type(getattr(overlay, key))(value)
    return replace(overlay, **changes) if changes else overlay


def transport_config(cfg: Config) -> TransportConfig:
    """The listener's limits (host and port are the gossip service's, from ``listen``)."""
    net = cfg.network
    return TransportConfig(
        max_connections=net.max_connections,
        pending_share=net.pending_share,
        max_pending_per_address=net.max_pending_per_address,
        max_links_per_address=net.max_links_per_address,
        handshake_rate_per_address=net.handshake_rate_per_address,
        handshake_burst_per_address=net.handshake_burst_per_address,
        reserved_share=net.reserved_share,
        first_message_timeout=net.first_message_timeout,
        handshake_timeout=net.handshake_timeout,
    )


def replication_limits(cfg: Config, overlay: OverlayConfig) -> ReplicationLimits:
    """Replication's per-peer bounds: the profile's (from ``overlay``, which
    carries the link overrides), then the ``[ledger]`` overrides."""
    led = cfg.ledger
    base = ReplicationLimits.from_profile(overlay, float(cfg.network.sync_interval))
    return ReplicationLimits(
        batch_bytes=led.batch_bytes or base.batch_bytes,
        wants_per_round=led.wants_per_round,
        want_bytes_per_round=led.want_bytes_per_round or base.want_bytes_per_round,
        held=HeldLimits(
            per_origin=base.held.per_origin,
            total=base.held.total,
            peer_bytes=led.held_peer_bytes or base.held.peer_bytes,
            total_bytes=led.held_total_bytes,
            ttl_ms=1000 * led.held_expiry,
        ),
        evidence=EvidenceLimits(
            burst=led.evidence_burst,
            rate=led.evidence_per_minute / 60,
            bytes_burst=led.evidence_bytes_burst,
            byte_rate=led.evidence_bytes_per_second,
            unheld_burst=led.unheld_evidence_burst,
            unheld_refill_s=led.unheld_evidence_interval,
            alert_burst=led.alert_burst,
            alert_refill_s=led.alert_interval,
        ),
    )
