"""Projections of reports, community moderation (pin, lock) and labels.

- A report is kept as filed (NIP-56); the community's moderators read them.
- A pin or lock counts only while its actor moderates the post's community
  (``aggregates.post`` re-decides when roles change).
- A label counts only when its origin is the master key or proves the
  regional or central tier by the certificate chain it carries, checked
  against the pinned master key **at the label's own time** (``ts_ms``): the
  verdict is a function of the event, so every node with the same master key
  keeps the same labels (a check against today's clock or revocation list
  would differ between nodes and between a rebuild and the live view).
  Negation and expiry are applied when the labels are read (``queries``).
"""

from __future__ import annotations

from collections.abc import Callable

import apsw

from hartnode.apps.social import aggregates
from hartnode.apps.social.names import author_of
from hartnode.attestation.certificate import effective_tier
from hartnode.ledger.envelope import Event

LABELLING_TIERS = frozenset({"regional", "central"})


def report_filed(state: apsw.Connection, event_id: int, event: Event) -> None:
    reporter = author_of(event)
    if reporter is None:
        return
    p = event.payload
    state.execute(
        "INSERT INTO reports (id, reporter_id, content_type, content_id, reason, note, ts_ms, "
        "source_event) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
        (event.hash_hex, reporter, p["content_type"], p["target"], p["reason"],
         p.get("note", ""), event.ts_ms, event_id))


def post_moderated(state: apsw.Connection, event_id: int, event: Event) -> None:
    actor = author_of(event)
    if actor is None:
        return
    p = event.payload
    action = p["action"]
    state.execute(
        "INSERT INTO social_mod_actions (hash, target_id, axis, on_, actor_id, ts_ms, "
        "source_event) VALUES (?,?,?,?,?,?,?) ON CONFLICT (hash) DO NOTHING",
        (event.hash_hex, p["post"], action.removeprefix("un"), int(not action.startswith("un")),
         actor, event.ts_ms, event_id))
    aggregates.post(state, p["post"])


def labeller_tier(event: Event, master_key: bytes | None) -> str | None:
    """``central`` or ``regional`` when the label's origin may label; else None."""
    if master_key is None:
        return None
    if event.origin == master_key.hex():
        return "central"
    try:
        chain = [(bytes.fromhex(c["cert"]), bytes.fromhex(c["sig"]))
                 for c in event.payload["chain"]]
    except ValueError:
        return None
    verified, error = effective_tier(chain, master_public_key=master_key, now_ms=event.ts_ms,
                                     revocations=None, presenter_node_id=event.origin)
    return verified.tier if error is None and verified.tier in LABELLING_TIERS else None


def label_applied(master_key: bytes | None) -> Callable[[apsw.Connection, int, Event], None]:
    """The label projection for a node that pins ``master_key`` (None: no label counts)."""

    def project(state: apsw.Connection, event_id: int, event: Event) -> None:
        tier = labeller_tier(event, master_key)
        if tier is None:
            return
        p = event.payload
        state.execute(
            "INSERT INTO social_labels (hash, labeler, tier, target_id, label, neg, exp_ms, "
            "ts_ms, source_event) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (hash) DO NOTHING",
            (event.hash_hex, event.origin, tier, p["target"], p["label"], int(p["neg"]),
             p.get("exp_ms"), event.ts_ms, event_id))

    return project
