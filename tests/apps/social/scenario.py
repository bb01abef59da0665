"""One thread's worth of signed social events from two nodes, with every twist the
projections must survive: edits, a deletion and an edit by someone else, a
vote changed and withdrawn, equal timestamps, moderation by a moderator and
by a non-moderator, a mention, a follow undone, local mutes and blocks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hartnode.ledger.envelope import Event

from .helpers import NODE_A, NODE_B, NODE_C, Author, chain_json, ref

T0 = 1_700_000_000_000


@dataclass
class Scenario:
    events: list[Event]
    post: str
    post2: str
    community: str
    c1: str
    c2: str
    c3: str


def build(tmp: Path) -> Scenario:
    a, b = Author(tmp / "a", NODE_A), Author(tmp / "b", NODE_B)
    regional = Author(tmp / "c", NODE_C)
    alice, bob, carol = ref("alice", NODE_A), ref("bob", NODE_B), ref("carol", NODE_B)
    ev: list[Event] = []

    def say(author: Author, handle: str, kind: str, payload: dict[str, object], dt: int,
            reach: str = "network") -> Event:
        event = author.say(handle, kind, payload, T0 + dt, reach)
        ev.append(event)
        return event

    say(a, "alice", "social.user.created", {"handle": "alice", "display_name": "Alice"}, 0)
    say(b, "bob", "social.user.created", {"handle": "bob"}, 0)
    say(b, "carol", "social.user.created", {"handle": "carol", "display_name": "C"}, 1)
    community = say(a, "alice", "social.community.created",
                    {"name": "cooking", "visibility": "public"}, 2).hash_hex
    say(b, "bob", "social.community.joined", {"community": community}, 3)
    say(b, "carol", "social.community.joined", {"community": community}, 3)
    say(b, "carol", "social.community.left", {"community": community}, 4)
    say(a, "alice", "social.role.set", {"community": community, "user": bob,
                                        "role": "moderator"}, 5)
    # carol is no owner: her grant is kept and never counts
    say(b, "carol", "social.role.set", {"community": community, "user": carol,
                                        "role": "moderator"}, 5)
    post = say(a, "alice", "social.post.created",
               {"title": "Bread", "body": "flour, water", "community": community}, 10).hash_hex
    post2 = say(a, "alice", "social.post.created", {"title": "Soup", "body": "hot"}, 10).hash_hex
    say(a, "alice", "social.post.edited", {"post": post, "body": "flour, water, salt"}, 11)
    say(a, "alice", "social.post.edited", {"post": post, "title": "Bread v2"}, 12)
    say(b, "bob", "social.post.edited", {"post": post, "title": "hijacked"}, 13)
    say(b, "bob", "social.post.deleted", {"post": post}, 14)  # not his: ignored
    c1 = say(b, "bob", "social.comment.created",
             {"root": post, "parent": post, "body": "nice"}, 20).hash_hex
    c2 = say(b, "carol", "social.comment.created",
             {"root": post, "parent": c1, "body": "agreed"}, 21).hash_hex
    c3 = say(a, "alice", "social.comment.created",
             {"root": post, "parent": c2, "body": f"thanks @carol@{NODE_B.node_id[:8]} and "
                                                  "@bob@" + NODE_B.node_id[:12]}, 21).hash_hex
    say(b, "carol", "social.comment.deleted", {"comment": c2}, 22)
    say(b, "bob", "social.comment.edited", {"comment": c1, "body": "very nice"}, 23)
    say(a, "alice", "social.comment.deleted", {"comment": c1}, 24)  # not hers: ignored
    say(b, "bob", "social.vote.cast", {"target": post, "value": 1}, 30)
    say(b, "bob", "social.vote.cast", {"target": post, "value": -1}, 31)
    say(b, "carol", "social.vote.cast", {"target": post, "value": 1}, 30)
    say(a, "alice", "social.vote.cast", {"target": c1, "value": 1}, 30)
    say(b, "carol", "social.vote.cast", {"target": c1, "value": -1}, 32)
    say(b, "carol", "social.vote.cast", {"target": c1, "value": 0}, 33)
    # two votes at the same ms: the greater hash wins, on every node
    say(b, "bob", "social.vote.cast", {"target": post2, "value": 1}, 34)
    say(b, "bob", "social.vote.cast", {"target": post2, "value": -1}, 34)
    say(b, "bob", "social.follow.set", {"user": alice, "follow": True}, 40)
    say(b, "carol", "social.follow.set", {"user": alice, "follow": True}, 40)
    say(b, "carol", "social.follow.set", {"user": alice, "follow": False}, 41)
    say(b, "bob", "social.post.moderated", {"post": post, "action": "pin"}, 50)
    say(b, "bob", "social.post.moderated", {"post": post, "action": "lock"}, 51)
    say(b, "carol", "social.post.moderated", {"post": post, "action": "unpin"}, 52)
    say(b, "carol", "social.report.filed", {"target": c1, "content_type": "comment",
                                            "reason": "spam"}, 60)
    # labels: a regional's count (and its negation wins by time); a flat node's never
    say(regional, "", "social.label.applied", {"target": c1, "label": "spam", "neg": False,
                                               "chain": chain_json(NODE_C, "regional")}, 61)
    say(regional, "", "social.label.applied", {"target": c1, "label": "spam", "neg": True,
                                               "chain": chain_json(NODE_C, "regional")}, 62)
    say(regional, "", "social.label.applied", {"target": post2, "label": "nsfw", "neg": False,
                                               "chain": chain_json(NODE_C, "regional")}, 62)
    say(b, "", "social.label.applied", {"target": post2, "label": "!hide", "neg": False,
                                        "chain": []}, 62)
    say(b, "bob", "social.mute.set", {"word": "salt", "on": True}, 70, "local")
    say(b, "bob", "social.block.set", {"user": carol, "on": True}, 70, "local")
    say(b, "carol", "social.notification.seen", {"up_to_ts": T0 + 25}, 71, "local")
    for author in (a, b, regional):
        author.close()
    return Scenario(ev, post, post2, community, c1, c2, c3)
