"""Projections of communities: creation, joins and leaves, the owner's role grants.

The facts (joins, leaves, grants) are kept as they come; the membership row
(``community_memberships``) is recomputed from them and from the community's
owner (``aggregates.membership``), so a join that arrives before the
community it joins, or a grant before the join, converges all the same.
"""

from __future__ import annotations

import apsw

from hartnode.apps.social import aggregates
from hartnode.apps.social.names import author_of
from hartnode.ledger.envelope import Event


def community_created(state: apsw.Connection, event_id: int, event: Event) -> None:
    owner = author_of(event)
    if owner is None:
        return
    p = event.payload
    state.execute(
        "INSERT INTO communities (id, name, description, creator_id, visibility, ts_ms, "
        "source_event) VALUES (?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
        (event.hash_hex, p["name"], p.get("description", ""), owner, p["visibility"],
         event.ts_ms, event_id))
    aggregates.community(state, event.hash_hex)


def _membership(state: apsw.Connection, event_id: int, event: Event, joined: int) -> None:
    user = author_of(event)
    if user is None:
        return
    community = event.payload["community"]
    state.execute(
        "INSERT INTO social_membership_events (hash, community_id, user_id, joined, ts_ms, "
        "source_event) VALUES (?,?,?,?,?,?) ON CONFLICT (hash) DO NOTHING",
        (event.hash_hex, community, user, joined, event.ts_ms, event_id))
    aggregates.membership(state, community, user)


def community_joined(state: apsw.Connection, event_id: int, event: Event) -> None:
    _membership(state, event_id, event, 1)


def community_left(state: apsw.Connection, event_id: int, event: Event) -> None:
    _membership(state, event_id, event, 0)


def role_set(state: apsw.Connection, event_id: int, event: Event) -> None:
    actor = author_of(event)
    if actor is None:
        return
    p = event.payload
    # Kept whoever set it; only the owner's grants count (aggregates.membership).
    state.execute(
        "INSERT INTO social_role_events (hash, community_id, user_id, role, actor_id, ts_ms, "
        "source_event) VALUES (?,?,?,?,?,?,?) ON CONFLICT (hash) DO NOTHING",
        (event.hash_hex, p["community"], p["user"], p["role"], actor, event.ts_ms, event_id))
    aggregates.membership(state, p["community"], p["user"])
