"""The social app's cost: projecting a social feed, and reading the feed.

    .venv/bin/python bench/bench_social.py [--quick] [--repeats N]

(a) An observer ingests another node's social feed (users, posts, threaded
    comments, votes changing their minds, follows: every projection that
    recomputes a target from its facts) in batches of 1000, fully verified,
    stored and projected, beside the same node ingesting as many
    ``note.created`` events (one INSERT each: the cheapest projection) in
    the same repeat. The ratio is what the order-independent projections
    cost over a plain insert. Goal: >= 50%.
(b) ``GET /api/v1/social/feed``'s query (``feed.feed``, limit 20, a viewer
    with mute words and blocks) on the first page and on a page half way
    down, at 100,000 posts (10,000 with --quick), beside the bare indexed
    ``SELECT ... ORDER BY ts_ms DESC LIMIT 20`` on the same table.
    Goal: a page within 10 ms (median).
"""

from __future__ import annotations

import random
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.common import Paired, Row, Table, median, out_dir, parser
from hartnode.apps.social import feed
from hartnode.apps.social.filters import Viewer
from hartnode.catalog import build_catalog
from hartnode.identity import NodeIdentity
from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger

PROJECT_GOAL = 0.50  # of the note.created ingest rate
PAGE_GOAL_MS = 10.0
T0 = 1_700_000_000_000
WORDS = ("bread", "flour", "water", "salt", "yeast", "oven", "crust", "crumb", "starter",
         "proof", "knead", "rise")


def _node(path: Path, seed: int) -> NodeLedger:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return NodeLedger(path, NodeIdentity.from_seed(bytes([seed]) * 32), build_catalog(),
                      create=True)


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def social_drafts(n: int, rng: random.Random, users: int = 50) -> list[Draft]:
    """About ``n`` drafts: 10% posts, 40% comments (threaded), 45% votes, 5% follows."""
    out = [Draft("social.user.created", {"handle": f"u{i}"}, actor=f"user:u{i}",
                 ts_ms=T0 + i) for i in range(users)]
    origin_posts: list[int] = []  # indices into out of posts
    origin_items: list[int] = []  # posts and comments (vote targets)
    roots: dict[int, int] = {}  # comment index -> its post's index
    ts = T0 + users
    while len(out) < n:
        ts += 1
        who = f"user:u{rng.randrange(users)}"
        r = rng.random()
        if r < 0.10 or not origin_posts:
            origin_posts.append(len(out))
            origin_items.append(len(out))
            out.append(Draft("social.post.created", {"title": _text(rng, 5),
                                                     "body": _text(rng, 40)}, actor=who, ts_ms=ts))
        elif r < 0.50:
            parent = rng.choice(origin_items[-200:])
            root = roots.get(parent, parent)
            roots[len(out)] = root
            origin_items.append(len(out))
            out.append(Draft("social.comment.created", {"root": f"{root:064x}",
                                                        "parent": f"{parent:064x}",
                                                        "body": _text(rng, 15)},
                             actor=who, ts_ms=ts))
        elif r < 0.95:
            out.append(Draft("social.vote.cast", {"target": f"{rng.choice(origin_items):064x}",
                                                  "value": rng.choice((-1, 1, 1))},
                             actor=who, ts_ms=ts))
        else:
            out.append(Draft("social.follow.set", {"user": f"u{rng.randrange(users)}@{'0' * 64}",
                                                   "follow": True}, actor=who, ts_ms=ts))
    return out


def sign(author: NodeLedger, drafts: list[Draft]) -> list[Event]:
    """Sign ``drafts``; ``%064x`` placeholders of draft indices become the real hashes."""
    events: list[Event] = []
    for d in drafts:
        payload = dict(d.payload)
        for key in ("root", "parent", "target"):
            if key in payload:
                payload[key] = events[int(payload[key], 16)].hash_hex
        events += author.append([Draft(d.kind, payload, actor=d.actor, scope="user",
                                       ts_ms=d.ts_ms)], update_views=False)
    return events


def ingest_rate(path: Path, seed: int, wires: list[tuple[bytes, bytes]],
                prefix: Sequence[tuple[bytes, bytes]] = ()) -> float:
    """Events per second a fresh observer ingests ``wires`` at, in batches of
    1000, after taking ``prefix`` (the author's chain before them) untimed."""
    observer = _node(path, seed)
    for i in range(0, len(prefix), 1000):
        observer.ingest(prefix[i:i + 1000])
    start = time.perf_counter()
    for i in range(0, len(wires), 1000):
        observer.ingest(wires[i:i + 1000])
    elapsed = time.perf_counter() - start
    observer.close()
    return len(wires) / elapsed


def page_ms(fn: object, repeats: int = 30) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    return median(samples)


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    repeats = args.repeats or (2 if args.quick else 3)
    n_events = 3_000 if args.quick else 20_000
    n_posts = 10_000 if args.quick else 100_000
    table = Table("bench_social")
    base = out_dir("social")
    rng = random.Random(7)
    author = _node(base / "author", 0x51)
    social = [e.wire() for e in sign(author, social_drafts(n_events, rng))]
    notes = [e.wire() for e in author.append(
        [Draft("note.created", {"text": _text(rng, 20)}) for _ in range(len(social))],
        update_views=False)]
    author.close()
    # The notes follow the social events in the author's chain: their run
    # takes the social prefix untimed first.
    project = Paired()
    for r in range(repeats):
        limit = ingest_rate(base / "notes", 0xA0 + r, notes, social)
        project.add(ingest_rate(base / "observer", 0x60 + r, social), limit)
    table.add(Row.paired(f"(a) social feed ingested and projected ({len(social):,} events)",
                         project, "ev/s", "note.created ingested, same count",
                         goal=f"ratio >= {PROJECT_GOAL:.0%}", min_ratio=PROJECT_GOAL))
    # (b) the feed at many posts, appended and ingested in batches of 1000
    writer = _node(base / "writer", 0x52)
    observer = _node(base / "reader", 0x90)
    for i in range(0, n_posts, 1000):
        batch = writer.append([Draft("social.post.created", {
            "title": _text(rng, 5), "body": _text(rng, 40)}, actor=f"user:u{j % 50}",
            scope="user", ts_ms=T0 + i + j) for j in range(1000)], update_views=False)
        observer.ingest([e.wire() for e in batch])
    writer.close()
    state = observer.views.state
    posts = int(next(iter(state.execute("SELECT COUNT(*) FROM posts")))[0])
    viewer = Viewer.of(f"u1@{'0' * 64}", {f"u2@{writer_id()}"}, ["yeast"])
    now = T0 + 10**9
    first = Paired()
    deep = Paired()
    mid = next(iter(state.execute("SELECT ts_ms, id FROM posts ORDER BY ts_ms DESC LIMIT 1 "
                                  "OFFSET ?", (posts // 2,))))
    for _ in range(repeats):
        bare = page_ms(lambda: state.execute(
            "SELECT id FROM posts WHERE deleted = 0 ORDER BY ts_ms DESC, id DESC "
            "LIMIT 20").fetchall())
        first.add(page_ms(lambda: feed.feed(state, viewer, feed.FeedQuery(limit=20), now)),
                  bare)
        deep.add(page_ms(lambda: feed.feed(state, viewer, feed.FeedQuery(
            limit=20, before=(int(mid[0]), str(mid[1]))), now)), bare)
    for name, p in (("first page", first), ("a page half way down", deep)):
        row = Row.paired(f"(b) feed, {name}, {posts:,} posts, limit 20", p, "ms",
                         "bare indexed SELECT of 20 ids")
        row.goal, row.met = f"value <= {PAGE_GOAL_MS:g} ms", p.value <= PAGE_GOAL_MS
        table.add(row)
    observer.close()
    table.print()


def writer_id() -> str:
    return NodeIdentity.from_seed(bytes([0x52]) * 32).node_id


if __name__ == "__main__":
    main()
