"""The social kinds' schemas: the reaches each may travel and the fields they refuse."""

from __future__ import annotations

import pytest

from hartnode.apps.social import kinds
from hartnode.apps.social.names import global_name, mentions
from hartnode.ledger.kinds import PayloadError

from .helpers import NODE_A, catalog, ref

REF = ref("alice", NODE_A)


@pytest.mark.parametrize(("kind", "payload"), [
    ("social.mute.set", {"word": "x", "on": True}),
    ("social.block.set", {"user": REF, "on": True}),
    ("social.notification.seen", {"up_to_ts": 1}),
])
def test_mutes_blocks_and_read_marks_are_local_only(kind: str, payload: dict[str, object]
                                                    ) -> None:
    registry = catalog().kinds
    registry.check(kind, payload, "local")
    for reach in ("hierarchy", "network"):
        with pytest.raises(PayloadError, match="reach"):
            registry.check(kind, payload, reach)


def test_public_kinds_never_local_and_fields_are_named() -> None:
    registry = catalog().kinds
    post = {"title": "t", "body": "b"}
    registry.check("social.post.created", post, "network")
    with pytest.raises(PayloadError, match="reach"):
        registry.check("social.post.created", post, "local")
    with pytest.raises(PayloadError) as info:
        registry.check("social.vote.cast", {"target": "ab" * 32, "value": 2}, "network")
    assert info.value.path == "payload.value"
    with pytest.raises(PayloadError) as info:
        registry.check("social.comment.created", {"root": "x", "parent": "ab" * 32,
                                                  "body": "b"}, "network")
    assert info.value.path == "payload.root"
    assert {s.kind for s in kinds.ALL} <= set(registry.kinds())


def test_names_and_mentions() -> None:
    assert global_name(REF) == f"alice@{NODE_A.node_id[:8]}"
    text = f"hi @bob, @carol@{'ab' * 4} and mail@example.org @bob again"
    assert mentions(text, NODE_A.node_id) == [("bob", NODE_A.node_id), ("carol", "ab" * 4)]
