"""The hierarchy's standing rules: which tiers and regions make a parent (DESIGN §3 "Sync").

Which events a parent/child link carries, and which way, is replication's
rule (``hartnode.replication.direction``, re-exported here): the hierarchy
decides who is parent or child, replication moves the events. Revocation
lists are not events: they reach every node by broadcast and are sent on
every new link (``gossip.trust``), so they come down parent links too.
"""

from __future__ import annotations

from hartnode.attestation.certificate import TIER_RANK, region_within
from hartnode.replication.direction import (
    NETWORK_ONLY,
    POLICY_PREFIX,
    WITH_HIERARCHY,
    Direction,
    Role,
    Roles,
    is_policy_kind,
    may_receive,
    may_send,
    reaches_for,
)

__all__ = ["NETWORK_ONLY", "PARENT_TIER", "POLICY_PREFIX", "WITH_HIERARCHY", "Direction", "Role",
           "Roles", "is_parent_of", "is_policy_kind", "may_receive",
           "may_send", "reaches_for"]

# The tier a node of each tier syncs with above it: strictly one rank up.
PARENT_TIER: dict[str, str] = {"local": "regional", "regional": "central"}




def is_parent_of(parent_tier: str, parent_region: str, child_tier: str,
                 child_region: str) -> bool:
    """Whether verified standings make one node the other's parent: one tier up,
    and the child's region within the parent's (a central's ``*`` holds all)."""
    return (PARENT_TIER.get(child_tier) == parent_tier and parent_tier in TIER_RANK
            and region_within(child_region, parent_region))
