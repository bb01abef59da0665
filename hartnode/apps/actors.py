"""Who an app's write may speak for: the node itself or one of its local users.

Recipes and goals take an ``actor`` in their request bodies. The node signs
every event, so an actor named there is a claim the node makes to the whole
network: it must be ``node`` or a user this node created (the social app's
``users`` view, DESIGN §5), never a made-up or a foreign user.
"""

from __future__ import annotations

import apsw

from hartnode.apps.api_args import QueryError

NODE_ACTOR = "node"


def require_local_actor(state: apsw.Connection, node_id: str, actor: str) -> str:
    """``actor`` when it is ``node`` or ``user:<handle>`` of a user on this node.

    Raises:
        QueryError: naming the ``actor`` field, with what to do instead.
    """
    if actor == NODE_ACTOR:
        return actor
    if not actor.startswith("user:"):
        raise QueryError("actor", "expected 'node' or 'user:<handle>'")
    handle = actor[5:]
    row = state.execute("SELECT 1 FROM users WHERE node_id = ? AND handle = ?",
                        (node_id, handle)).fetchone()
    if row is None:
        raise QueryError("actor", f"no user {handle!s} on this node; create it first with "
                                  f"'hartnode social user create {handle}'")
    return actor
