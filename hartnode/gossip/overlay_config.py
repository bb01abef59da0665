"""Overlay parameters (HyParView + Plumtree + per-link byte budget) and presets.

DESIGN §3 "Bandwidth profiles": ``full``, ``constrained`` and ``minimal`` scale
intervals, fanout and a token-bucket byte budget per link. The cores read an
``OverlayConfig`` and never change it; the shell builds one at start-up (from a
preset, possibly with ``dataclasses.replace``) and ``__post_init__`` rejects
values that would break the protocol with a clear ``ValueError``.

Defaults follow Leitão et al., "HyParView" (DSN 2007) and "Epidemic Broadcast
Trees" (SRDS 2007): active view log2(N)+1 ≈ 5, passive view ≈ 6x that, ARWL 6,
PRWL 3.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True, slots=True)
class OverlayConfig:
    """Every tunable of the overlay cores. Units are in each field's comment."""

    # --- HyParView membership (DESIGN §3) ---
    active_view_size: int = 5  # peers kept linked; ≈ log2(N) + 1
    passive_view_size: int = 30  # peer addresses kept as replacements
    active_random_walk_length: int = 6  # hops a ForwardJoin walks (ARWL)
    passive_random_walk_length: int = 3  # hops left when a walk adds the joiner to passives (PRWL)
    shuffle_interval: float = 30.0  # seconds between two shuffles of one node (jittered ±25 %)
    shuffle_walk_length: int = 4  # hops a Shuffle walks before it is answered (reaches ~320)
    shuffle_active_count: int = 3  # entries taken from the active view into one Shuffle (ka)
    shuffle_passive_count: int = 4  # entries taken from the passive view into one Shuffle (kp)
    keepalive_interval: float = 10.0  # seconds; a neighbour silent this long is sent a Ping
    ping_timeout: float = 5.0  # seconds an unanswered Ping waits before the link counts as failed
    neighbour_timeout: float = 5.0  # seconds a dial plus Neighbour/NeighbourReply exchange may take
    reconnect_interval: float = 30.0  # seconds between re-links to a failed peer (heals splits)
    failed_memory: int = 30  # failed peers remembered for reconnect attempts
    failed_ttl: float = 1800.0  # seconds a failed peer stays remembered
    # Eclipse guard (``admission.py``); False restores the paper's rules (simulator baseline).
    admission_guard: bool = True
    protected_outbound: int = 2  # neighbours this node chose that no Join evicts (< active view)
    join_eviction_interval: float = 2.0  # seconds between two forced admissions into a full view
    join_group_interval: float = 60.0  # seconds before one address group may force one again
    tried_after: float = 30.0  # seconds a neighbour must stay linked to count as known (tried)

    # --- Plumtree broadcast (DESIGN §3) ---
    ihave_interval: float = 0.25  # seconds IHAVE announcements are batched before they are sent
    ihave_batch_max: int = 256  # message ids per IHave message
    lazy_fanout: int = 5  # lazy neighbours sent an IHAVE per message (all when ≥ active_view_size)
    graft_timeout: float = 1.0  # seconds from the first IHAVE of a missing message to its GRAFT
    graft_retry_timeout: float = 0.5  # seconds between further GRAFTs for the same message
    seen_cache_size: int = 50_000  # message ids remembered for duplicate suppression
    payload_cache_size: int = 2_000  # payloads kept to answer GRAFTs

    # --- Peer records (DESIGN §3 "Peer records") ---
    record_budget: float = 512.0  # bytes/s of the network's record refreshes a node takes in
    peer_table_size: int = 10_000  # peer records held (unverified ones are evicted first)

    # --- Per-link byte budget (token bucket, DESIGN §3) ---
    link_rate: float = 65_536.0  # bytes per second one link may send on average, per direction
    link_burst: float = 262_144.0  # bytes one link may send at once after being idle
    # --- Per-link send queue (DESIGN §3; README "Limits: links and services") ---
    send_queue_bytes: int = 4 << 20  # bytes of encoded messages queued per link (beyond: dropped)
    # Seconds one send may stall behind a full queue before the peer counts as not reading
    # (and the link is dropped): twice a 1 MiB frame at the link_rate a profile's peer reads.
    slow_reader_timeout: float = 60.0

    def __post_init__(self) -> None:
        """Validate every field.

        Raises:
            ValueError: a field is out of range or two fields contradict each other.
        """
        positive_ints = (
            "active_view_size",
            "passive_view_size",
            "active_random_walk_length",
            "shuffle_walk_length",
            "failed_memory",
            "ihave_batch_max",
            "lazy_fanout",
            "seen_cache_size",
            "payload_cache_size",
            "send_queue_bytes",
            "peer_table_size",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        non_negative = (
            "passive_random_walk_length",
            "shuffle_active_count",
            "shuffle_passive_count",
            "protected_outbound",
        )
        for name in non_negative:
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{f.name} must be a finite number > 0, got {value!r}")
        if self.passive_random_walk_length > self.active_random_walk_length:
            raise ValueError("passive_random_walk_length must not exceed active_random_walk_length")
        if self.seen_cache_size < self.payload_cache_size:
            raise ValueError("seen_cache_size must be at least payload_cache_size")
        if self.link_burst < 65_536:
            # One frame must always fit into a full bucket (the wire caps frames at 64 KiB).
            raise ValueError("link_burst must be at least 65536 bytes")


def full() -> OverlayConfig:
    """Well-connected volunteers: fast repair, IHAVE to every lazy neighbour."""
    return OverlayConfig()


def constrained() -> OverlayConfig:
    """Metered or slow uplinks: slower timers, larger IHAVE batches, fewer lazy peers."""
    return replace(
        OverlayConfig(),
        shuffle_interval=90.0,
        keepalive_interval=15.0,
        ping_timeout=10.0,
        neighbour_timeout=10.0,
        reconnect_interval=90.0,
        join_eviction_interval=5.0,
        tried_after=90.0,
        ihave_interval=1.0,
        lazy_fanout=3,
        graft_timeout=2.5,
        graft_retry_timeout=1.0,
        record_budget=128.0,
        peer_table_size=5_000,
        link_rate=16_384.0,
        link_burst=65_536.0,
        send_queue_bytes=2 << 20,
        slow_reader_timeout=180.0,
    )


def minimal() -> OverlayConfig:
    """Barely connected devices: four links, long timers, two lazy peers."""
    return replace(
        OverlayConfig(),
        active_view_size=4,
        passive_view_size=20,
        shuffle_interval=300.0,
        keepalive_interval=30.0,
        ping_timeout=15.0,
        neighbour_timeout=15.0,
        reconnect_interval=300.0,
        protected_outbound=1,
        join_eviction_interval=15.0,
        join_group_interval=300.0,
        tried_after=300.0,
        ihave_interval=2.0,
        lazy_fanout=2,
        graft_timeout=5.0,
        graft_retry_timeout=2.0,
        seen_cache_size=20_000,
        payload_cache_size=500,
        record_budget=32.0,
        peer_table_size=2_000,
        link_rate=4_096.0,
        link_burst=65_536.0,
        send_queue_bytes=1 << 20,
        slow_reader_timeout=600.0,
    )


PROFILES: dict[str, Callable[[], OverlayConfig]] = {
    "full": full,
    "constrained": constrained,
    "minimal": minimal,
}


def for_profile(name: str) -> OverlayConfig:
    """The preset called ``name``.

    Raises:
        ValueError: ``name`` is not one of ``PROFILES``.
    """
    try:
        return PROFILES[name]()
    except KeyError:
        raise ValueError(f"unknown bandwidth profile {name!r}; one of {sorted(PROFILES)}") from None
