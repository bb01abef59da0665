"""Which events a link carries, and which way (DESIGN §1 "reach", §3 "Sync").

The rule, applied by the sender at every hop (serving a pull or pushing):

- ``network`` events go on every link; ``local`` events on none.
- ``hierarchy`` events go only on verified parent/child links:
  - **up**, to this node's parent: every ``hierarchy`` event except policy
    ones. A local's events reach its regional, which relays them (with its
    own) to central.
  - **down**, to a child: only policy events, the kinds in the ``policy.``
    namespace (release manifests, reward grants, notices). Central's policy
    reaches its regionals, which relay it to their locals. A sibling's
    events never come down: a local never sees another local's
    ``hierarchy`` events, only their ``Withheld`` markers.

The receiver applies the same rule to what arrives (``may_receive``): an
event a link may not carry that way is refused at ingest, whether it came
in a pull's Batch, a link push or a broadcast (which, relayed by anyone,
carries ``network`` events only). Replication serves pulls, pushes and
checks receipt by this rule, and the hierarchy's sync is replication's push
on a parent/child link: one rule for moving events between ledgers,
whichever way they are asked for (DESIGN §1). Who is parent or child is
the hierarchy's to say (``Roles``); which standings make a parent (tiers,
regions) is ``hierarchy.direction``.
Who may *issue* a policy kind is that kind's own rule (e.g. only events the
central key signs mint Spark, DESIGN §4), checked where it is projected; the
link only decides where it travels.
"""

from __future__ import annotations

from typing import Literal, Protocol

Role = Literal["parent", "child"]  # what a peer is to this node
Direction = Literal["up", "down"]
POLICY_PREFIX = "policy."
NETWORK_ONLY: frozenset[str] = frozenset({"network"})
WITH_HIERARCHY: frozenset[str] = frozenset({"network", "hierarchy"})


class Roles(Protocol):
    """Who is parent or child of this node right now (the hierarchy service)."""

    def role(self, peer: str) -> Role | None: ...


def is_policy_kind(kind: str) -> bool:
    return kind.startswith(POLICY_PREFIX)


def reaches_for(role: Role | None) -> frozenset[str]:
    """The reaches a link to a peer of ``role`` carries at all."""
    return WITH_HIERARCHY if role is not None else NETWORK_ONLY


def may_send(role: Role | None, reach: str, kind: str) -> bool:
    """Whether an event of ``reach`` and ``kind`` may go to a peer of ``role``."""
    if reach == "network":
        return True
    if reach != "hierarchy" or role is None:
        return False
    return not is_policy_kind(kind) if role == "parent" else is_policy_kind(kind)


# What this node is to a peer, given what the peer is to this node.
_OTHER_END: dict[Role, Role] = {"parent": "child", "child": "parent"}


def may_receive(role: Role | None, reach: str, kind: str) -> bool:
    """Whether an event of ``reach`` and ``kind`` may come from a peer of ``role``:
    exactly what that peer may send to this node (a child sends up, a parent down)."""
    return may_send(None if role is None else _OTHER_END[role], reach, kind)
