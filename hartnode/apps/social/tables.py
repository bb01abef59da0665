"""The social views' tables (seed 000's names: users, communities, posts, comments,
votes, follows, community_memberships, reports; plus the ``social_*`` fact tables).

Two sorts of table make the views order-independent (issue 12):
- **fact tables** keep every event that can change something else (edits,
  deletions, joins, roles, moderation actions, mentions), keyed by event hash,
  so a fact that arrives before its target waits there;
- **derived rows** (a post's title, score, comment count, pinned; a
  membership's role) are recomputed from the facts whenever one of them or
  the target arrives (``aggregates``; a vote moves its target's tallies by
  the difference it makes).
Last-writer tables (votes, follows, mutes, blocks) keep the winner by
``(ts_ms, hash)``, the same on every node whatever the arrival order.

Ids are event hashes in hex; users are user references (``names``). Every
row has ``source_event``, which differs between nodes (ledger ids are
local); every other column is the same on every node holding the same events.
"""

from __future__ import annotations

TABLES: dict[str, str] = {
    "users": """
CREATE TABLE IF NOT EXISTS users (
  id            TEXT PRIMARY KEY,          -- user reference: handle@node id
  handle        TEXT NOT NULL,
  node_id       TEXT NOT NULL,
  display_name  TEXT NOT NULL,
  ts_ms         INTEGER NOT NULL,
  hash          TEXT NOT NULL,             -- the creating event (the earliest wins)
  source_event  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS users_node ON users(node_id, handle);
CREATE INDEX IF NOT EXISTS users_handle ON users(handle);
""",
    "communities": """
CREATE TABLE IF NOT EXISTS communities (
  id            TEXT PRIMARY KEY,          -- hash of social.community.created
  name          TEXT NOT NULL,
  description   TEXT NOT NULL,
  creator_id    TEXT NOT NULL,             -- the owner
  visibility    TEXT NOT NULL,             -- public | private
  member_count  INTEGER NOT NULL DEFAULT 0,
  ts_ms         INTEGER NOT NULL,
  source_event  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS communities_ts ON communities(ts_ms, id);
""",
    "community_memberships": """
CREATE TABLE IF NOT EXISTS community_memberships (
  community_id  TEXT NOT NULL,
  user_id       TEXT NOT NULL,
  role          TEXT NOT NULL,             -- owner | moderator | member | pending
  source_event  INTEGER NOT NULL,
  PRIMARY KEY (community_id, user_id)
);
CREATE INDEX IF NOT EXISTS memberships_user ON community_memberships(user_id);
""",
    "social_membership_events": """
CREATE TABLE IF NOT EXISTS social_membership_events (
  hash          TEXT PRIMARY KEY,
  community_id  TEXT NOT NULL,
  user_id       TEXT NOT NULL,
  joined        INTEGER NOT NULL,          -- 1 joined, 0 left
  ts_ms         INTEGER NOT NULL,
  source_event  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS membership_events_pair
  ON social_membership_events(community_id, user_id);
""",
    "social_role_events": """
CREATE TABLE IF NOT EXISTS social_role_events (
  hash          TEXT PRIMARY KEY,
  community_id  TEXT NOT NULL,
  user_id       TEXT NOT NULL,
  role          TEXT NOT NULL,
  actor_id      TEXT NOT NULL,             -- counts only when it is the owner
  ts_ms         INTEGER NOT NULL,
  source_event  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS role_events_pair ON social_role_events(community_id, user_id);
""",
    "posts": """
CREATE TABLE IF NOT EXISTS posts (
  id             TEXT PRIMARY KEY,         -- hash of social.post.created
  title          TEXT NOT NULL,            -- current (after the author's edits; '' once deleted)
  body           TEXT NOT NULL,
  author_id      TEXT NOT NULL,
  community_id   TEXT,                     -- NULL: no community
  score          INTEGER NOT NULL DEFAULT 0,
  upvotes        INTEGER NOT NULL DEFAULT 0,
  downvotes      INTEGER NOT NULL DEFAULT 0,
  comment_count  INTEGER NOT NULL DEFAULT 0,
  pinned         INTEGER NOT NULL DEFAULT 0,
  locked         INTEGER NOT NULL DEFAULT 0,
  deleted        INTEGER NOT NULL DEFAULT 0,
  edited_ts      INTEGER,                  -- ts_ms of the winning edit
  ts_ms          INTEGER NOT NULL,
  first_title    TEXT NOT NULL,            -- as created, what edits apply to
  first_body     TEXT NOT NULL,
  source_event   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_ts ON posts(ts_ms, id);
CREATE INDEX IF NOT EXISTS posts_community ON posts(community_id, ts_ms);
CREATE INDEX IF NOT EXISTS posts_author ON posts(author_id, ts_ms);
""",
    "comments": """
CREATE TABLE IF NOT EXISTS comments (
  id            TEXT PRIMARY KEY,          -- hash of social.comment.created
  post_id       TEXT NOT NULL,             -- the thread's root post
  parent_id     TEXT NOT NULL,             -- the post or the comment it replies to
  body          TEXT NOT NULL,
  author_id     TEXT NOT NULL,
  score         INTEGER NOT NULL DEFAULT 0,
  upvotes       INTEGER NOT NULL DEFAULT 0,
  downvotes     INTEGER NOT NULL DEFAULT 0,
  deleted       INTEGER NOT NULL DEFAULT 0,
  edited_ts     INTEGER,
  ts_ms         INTEGER NOT NULL,
  first_body    TEXT NOT NULL,
  source_event  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_post ON comments(post_id, ts_ms);
CREATE INDEX IF NOT EXISTS comments_parent ON comments(parent_id);
CREATE INDEX IF NOT EXISTS comments_author ON comments(author_id);
""",
    "social_edits": """
CREATE TABLE IF NOT EXISTS social_edits (
  hash          TEXT PRIMARY KEY,
  target_id     TEXT NOT NULL,
  actor_id      TEXT NOT NULL,             -- counts only when it is the target's author
  title         TEXT,                      -- NULL: this edit leaves the title
  body          TEXT,
  ts_ms         INTEGER NOT NULL,
  source_event  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS edits_target ON social_edits(target_id);
""",
    "social_deletes": """
CREATE TABLE IF NOT EXISTS social_deletes (
  hash          TEXT PRIMARY KEY,
  target_id     TEXT NOT NULL,
  actor_id      TEXT NOT NULL,
  ts_ms         INTEGER NOT NULL,
  source_event  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deletes_target ON social_deletes(target_id);
""",
    "votes": """
CREATE TABLE IF NOT EXISTS votes (
  user_id       TEXT NOT NULL,
  target_id     TEXT NOT NULL,             -- a post or a comment
  value         INTEGER NOT NULL,          -- -1, 0 (withdrawn), +1
  ts_ms         INTEGER NOT NULL,
  hash          TEXT NOT NULL,
  source_event  INTEGER NOT NULL,
  PRIMARY KEY (user_id, target_id)
);
CREATE INDEX IF NOT EXISTS votes_target ON votes(target_id);
""",
    "follows": """
CREATE TABLE IF NOT EXISTS follows (
  follower_id   TEXT NOT NULL,
  followed_id   TEXT NOT NULL,
  active        INTEGER NOT NULL,          -- 0: unfollowed (kept: the last writer must win)
  ts_ms         INTEGER NOT NULL,
  hash          TEXT NOT NULL,
  source_event  INTEGER NOT NULL,
  PRIMARY KEY (follower_id, followed_id)
);
CREATE INDEX IF NOT EXISTS follows_followed ON follows(followed_id);
""",
    "reports": """
CREATE TABLE IF NOT EXISTS reports (
  id            TEXT PRIMARY KEY,          -- hash of social.report.filed
  reporter_id   TEXT NOT NULL,
  content_type  TEXT NOT NULL,             -- post | comment | user
  content_id    TEXT NOT NULL,
  reason        TEXT NOT NULL,
  note          TEXT NOT NULL,
  ts_ms         INTEGER NOT NULL,
  source_event  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_ts ON reports(ts_ms, id);
CREATE INDEX IF NOT EXISTS reports_content ON reports(content_id);
""",
    "social_mod_actions": """
CREATE TABLE IF NOT EXISTS social_mod_actions (
  hash          TEXT PRIMARY KEY,
  target_id     TEXT NOT NULL,             -- a post
  axis          TEXT NOT NULL,             -- pin | lock
  on_           INTEGER NOT NULL,
  actor_id      TEXT NOT NULL,             -- counts only while a moderator of the post's community
  ts_ms         INTEGER NOT NULL,
  source_event  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS mod_actions_target ON social_mod_actions(target_id);
""",
    "social_labels": """
CREATE TABLE IF NOT EXISTS social_labels (
  hash          TEXT PRIMARY KEY,
  labeler       TEXT NOT NULL,             -- the origin node, proven regional or central
  tier          TEXT NOT NULL,             -- what its chain proved when it labelled
  target_id     TEXT NOT NULL,
  label         TEXT NOT NULL,
  neg           INTEGER NOT NULL,
  exp_ms        INTEGER,
  ts_ms         INTEGER NOT NULL,
  source_event  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS labels_target ON social_labels(target_id);
""",
    "social_mentions": """
CREATE TABLE IF NOT EXISTS social_mentions (
  source_id     TEXT NOT NULL,             -- the post or comment
  handle        TEXT NOT NULL,
  node_prefix   TEXT NOT NULL,             -- hex prefix of the mentioned user's node id
  source_event  INTEGER NOT NULL,
  PRIMARY KEY (source_id, handle, node_prefix)
);
CREATE INDEX IF NOT EXISTS mentions_handle ON social_mentions(handle);
""",
    "social_mutes": """
CREATE TABLE IF NOT EXISTS social_mutes (
  user_id       TEXT NOT NULL,
  word          TEXT NOT NULL,             -- lower case
  active        INTEGER NOT NULL,
  ts_ms         INTEGER NOT NULL,
  hash          TEXT NOT NULL,
  source_event  INTEGER NOT NULL,
  PRIMARY KEY (user_id, word)
);
""",
    "social_blocks": """
CREATE TABLE IF NOT EXISTS social_blocks (
  user_id       TEXT NOT NULL,
  blocked_id    TEXT NOT NULL,
  active        INTEGER NOT NULL,
  ts_ms         INTEGER NOT NULL,
  hash          TEXT NOT NULL,
  source_event  INTEGER NOT NULL,
  PRIMARY KEY (user_id, blocked_id)
);
""",
    "social_seen": """
CREATE TABLE IF NOT EXISTS social_seen (
  user_id       TEXT PRIMARY KEY,
  seen_ts       INTEGER NOT NULL,          -- notifications up to here are read (the max)
  source_event  INTEGER NOT NULL
);
""",
}
