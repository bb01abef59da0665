"""The social app (issue 12): users, communities, posts, threaded comments, votes,
follows, reports, moderation, labels, mute words, blocks and notifications.

Every state change is an event (``kinds``) a node signs on behalf of one of
its local users (``actor: user:<handle>``); views are projections that are
identical on every node holding the same events, whatever order they came in.

Module map:
- ``names``        user references (handle@node id), global names, mentions (pure)
- ``kinds``        the event kinds and their payload schemas
- ``tables``       the view tables: facts and derived rows
- ``aggregates``   derived rows recomputed from the facts (scores, counts, roles, text)
- ``users``, ``communities``, ``content``, ``reactions``, ``moderation``, ``personal``
                   the projections, one file per concept
- ``filters``      what a viewer hides (blocks, mute words) and the labels in force
- ``feed``         reading posts and threads, paginated
- ``lists``        reading users, communities, members, follows, reports, notifications
- ``params``       the routes' parameters, each checked with a 400 naming it
- ``api``          the ``/api/v1/social/...`` routes

The ``hartnode social ...`` command line is ``hartnode/cli/social.py`` (it talks
to the daemon's API).
"""

from __future__ import annotations

from hartnode.apps.social import communities, content, kinds, moderation, personal, reactions
from hartnode.apps.social import users as users_projection
from hartnode.apps.social.api import register_routes
from hartnode.apps.social.tables import TABLES
from hartnode.ledger.kinds import KindRegistry
from hartnode.ledger.views import ViewRegistry

__all__ = ["register", "register_routes"]


def register(kinds_registry: KindRegistry, views: ViewRegistry, *,
             master_key: bytes | None = None) -> None:
    """The social kinds, tables and projections. ``master_key``: the pinned master
    public key, which decides whose labels count (None: no label counts)."""
    for spec in kinds.ALL:
        kinds_registry.register(spec)
    for name, ddl in TABLES.items():
        views.add_table(name, ddl)
    for spec, fn in (
            (kinds.USER_CREATED, users_projection.user_created),
            (kinds.COMMUNITY_CREATED, communities.community_created),
            (kinds.COMMUNITY_JOINED, communities.community_joined),
            (kinds.COMMUNITY_LEFT, communities.community_left),
            (kinds.ROLE_SET, communities.role_set),
            (kinds.POST_CREATED, content.post_created),
            (kinds.POST_EDITED, content.post_edited),
            (kinds.POST_DELETED, content.post_deleted),
            (kinds.COMMENT_CREATED, content.comment_created),
            (kinds.COMMENT_EDITED, content.comment_edited),
            (kinds.COMMENT_DELETED, content.comment_deleted),
            (kinds.VOTE_CAST, reactions.vote_cast),
            (kinds.FOLLOW_SET, reactions.follow_set),
            (kinds.REPORT_FILED, moderation.report_filed),
            (kinds.POST_MODERATED, moderation.post_moderated),
            (kinds.LABEL_APPLIED, moderation.label_applied(master_key)),
            (kinds.MUTE_SET, personal.mute_set),
            (kinds.BLOCK_SET, personal.block_set),
            (kinds.NOTIFICATIONS_SEEN, personal.notifications_seen)):
        views.project(spec.kind, fn)
