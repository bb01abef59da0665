"""The social event kinds and their payload schemas (issue 12).

Shapes follow the usual anchors: a post is Nostr's kind 1 / AT Protocol's
``app.bsky.feed.post`` with a title and a community; a comment names its
thread's root and its parent by event hash (NIP-10's ``root``/``reply``
markers); a vote is NIP-25's reaction / SSB's ``vote`` reduced to -1, 0, +1;
a follow is NIP-02's contact / AT's ``graph.follow`` as one switch per pair;
deletion is NIP-09's (a new event by the same actor); a report is NIP-56's;
a label is AT Protocol's ``com.atproto.label`` (``neg``, ``exp``).

Every kind except the label is spoken by a local user (``actor: user:<handle>``,
``names.author_of``); the projections ignore one whose actor is no user. The
label is spoken by its node: only a regional or central origin's count.

Reaches: what others should see is ``hierarchy`` or ``network``; mute words,
blocks and the notifications read mark are ``local`` only, so they never
leave the node (the replication withholds local events).
"""

from __future__ import annotations

from hartnode.apps.social.names import HANDLE, USER_REF
from hartnode.attestation.certificate import MAX_CHAIN_LEN
from hartnode.ledger.kinds import Bool, Hex, Int, KindSpec, List, Obj, Str

PUBLIC = frozenset({"hierarchy", "network"})
LOCAL = frozenset({"local"})

TITLE_MAX = 300
POST_BODY_MAX = 20_000  # characters; a signed event is at most 64 KiB
COMMENT_BODY_MAX = 10_000
WORD_MAX = 64
REPORT_REASONS = ("nudity", "malware", "profanity", "illegal", "spam", "impersonation",
                  "other")  # NIP-56's
MOD_ACTIONS = ("pin", "unpin", "lock", "unlock")
ROLES = ("moderator", "member")  # what an owner may set; the creator is the owner
LABEL = r"!?[a-z0-9][a-z0-9-]{0,63}"  # AT Protocol's values (``!hide``, ``spam``, ...)
TARGET = rf"[0-9a-f]{{64}}|{USER_REF}"  # an event hash, or a user reference

USER_CREATED = KindSpec(
    "social.user.created",
    Obj({"handle": Str(pattern=HANDLE), "display_name": Str(max_len=64)},
        optional=frozenset({"display_name"})),
    PUBLIC, "A local user account; the actor is user:<handle>, handle unique per node.")
COMMUNITY_CREATED = KindSpec(
    "social.community.created",
    Obj({"name": Str(min_len=1, max_len=64), "description": Str(max_len=2000),
         "visibility": Str(pattern="public|private")},
        optional=frozenset({"description"})),
    PUBLIC, "A community; its id is this event's hash, its owner the actor.")
COMMUNITY_JOINED = KindSpec(
    "social.community.joined", Obj({"community": Hex(32)}), PUBLIC,
    "The actor joins a community (pending in a private one until the owner admits).")
COMMUNITY_LEFT = KindSpec(
    "social.community.left", Obj({"community": Hex(32)}), PUBLIC,
    "The actor leaves a community.")
ROLE_SET = KindSpec(
    "social.role.set",
    Obj({"community": Hex(32), "user": Str(pattern=USER_REF),
         "role": Str(pattern="|".join(ROLES))}),
    PUBLIC, "A community owner makes a user moderator or member (admits a pending one).")
POST_CREATED = KindSpec(
    "social.post.created",
    Obj({"title": Str(min_len=1, max_len=TITLE_MAX), "body": Str(max_len=POST_BODY_MAX),
         "community": Hex(32)}, optional=frozenset({"community"})),
    PUBLIC, "A post; its id is this event's hash.")
POST_EDITED = KindSpec(
    "social.post.edited",
    Obj({"post": Hex(32), "title": Str(min_len=1, max_len=TITLE_MAX),
         "body": Str(max_len=POST_BODY_MAX)}, optional=frozenset({"title", "body"})),
    PUBLIC, "The post's author replaces its title and/or body; others' edits are ignored.")
POST_DELETED = KindSpec(
    "social.post.deleted", Obj({"post": Hex(32)}), PUBLIC,
    "The post's author deletes it (NIP-09); others' deletions are ignored.")
COMMENT_CREATED = KindSpec(
    "social.comment.created",
    Obj({"root": Hex(32), "parent": Hex(32),
         "body": Str(min_len=1, max_len=COMMENT_BODY_MAX)}),
    PUBLIC, "A comment in the thread of post ``root``, replying to ``parent`` "
    "(the post itself or a comment).")
COMMENT_EDITED = KindSpec(
    "social.comment.edited",
    Obj({"comment": Hex(32), "body": Str(min_len=1, max_len=COMMENT_BODY_MAX)}),
    PUBLIC, "The comment's author replaces its body.")
COMMENT_DELETED = KindSpec(
    "social.comment.deleted", Obj({"comment": Hex(32)}), PUBLIC,
    "The comment's author deletes it.")
VOTE_CAST = KindSpec(
    "social.vote.cast", Obj({"target": Hex(32), "value": Int(min=-1, max=1)}), PUBLIC,
    "The actor's vote on a post or comment; the last per (actor, target) by "
    "(ts_ms, hash) counts; 0 withdraws it.")
FOLLOW_SET = KindSpec(
    "social.follow.set", Obj({"user": Str(pattern=USER_REF), "follow": Bool()}), PUBLIC,
    "The actor follows (or unfollows) a user; the last per pair by (ts_ms, hash) counts.")
REPORT_FILED = KindSpec(
    "social.report.filed",
    Obj({"target": Str(pattern=TARGET), "content_type": Str(pattern="post|comment|user"),
         "reason": Str(pattern="|".join(REPORT_REASONS)), "note": Str(max_len=1000)},
        optional=frozenset({"note"})),
    PUBLIC, "A report of a post, comment or user (NIP-56).")
POST_MODERATED = KindSpec(
    "social.post.moderated",
    Obj({"post": Hex(32), "action": Str(pattern="|".join(MOD_ACTIONS))}), PUBLIC,
    "A moderator (or the owner) of the post's community pins, unpins, locks or "
    "unlocks it; anyone else's is ignored.")
LABEL_APPLIED = KindSpec(
    "social.label.applied",
    Obj({"target": Str(pattern=TARGET), "label": Str(pattern=LABEL), "neg": Bool(),
         "exp_ms": Int(min=0),
         "chain": List(Obj({"cert": Str(max_len=8192, pattern="[0-9a-f]*"), "sig": Hex(64)}),
                       max_items=MAX_CHAIN_LEN)},
        optional=frozenset({"exp_ms"})),
    PUBLIC, "A moderation label on content or a user, by a regional or central node "
    "(its certificate chain rides along); ``neg`` withdraws it, ``exp_ms`` ends it.")
MUTE_SET = KindSpec(
    "social.mute.set", Obj({"word": Str(min_len=1, max_len=WORD_MAX), "on": Bool()}), LOCAL,
    "The actor mutes (or unmutes) a word: never leaves the node.")
BLOCK_SET = KindSpec(
    "social.block.set", Obj({"user": Str(pattern=USER_REF), "on": Bool()}), LOCAL,
    "The actor blocks (or unblocks) a user: never leaves the node.")
NOTIFICATIONS_SEEN = KindSpec(
    "social.notification.seen", Obj({"up_to_ts": Int(min=0)}), LOCAL,
    "The actor has read every notification up to ``up_to_ts`` (ms).")

ALL = (USER_CREATED, COMMUNITY_CREATED, COMMUNITY_JOINED, COMMUNITY_LEFT, ROLE_SET,
       POST_CREATED, POST_EDITED, POST_DELETED, COMMENT_CREATED, COMMENT_EDITED,
       COMMENT_DELETED, VOTE_CAST, FOLLOW_SET, REPORT_FILED, POST_MODERATED, LABEL_APPLIED,
       MUTE_SET, BLOCK_SET, NOTIFICATIONS_SEEN)
