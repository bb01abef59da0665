"""The direction rule: which events cross a parent/child link, and which way."""

from __future__ import annotations

import pytest

from hartnode.hierarchy.direction import (
    NETWORK_ONLY,
    WITH_HIERARCHY,
    is_parent_of,
    may_receive,
    may_send,
    reaches_for,
)


@pytest.mark.parametrize(("role", "reach", "kind", "allowed"), [
    (None, "network", "note.created", True),
    (None, "hierarchy", "note.created", False),
    (None, "hierarchy", "policy.notice.published", False),
    (None, "local", "note.created", False),
    ("parent", "hierarchy", "note.created", True),  # up: a local's events climb
    ("parent", "hierarchy", "policy.notice.published", False),  # policy never goes up
    ("parent", "local", "note.created", False),
    ("child", "hierarchy", "policy.notice.published", True),  # down: policy only
    ("child", "hierarchy", "note.created", False),  # a sibling's events never come down
    ("child", "network", "note.created", True),
    ("child", "local", "policy.notice.published", False),
])
def test_may_send(role: str | None, reach: str, kind: str, allowed: bool) -> None:
    assert may_send(role, reach, kind) is allowed  # type: ignore[arg-type]


@pytest.mark.parametrize(("role", "reach", "kind", "allowed"), [
    (None, "network", "note.created", True),
    (None, "hierarchy", "note.created", False),  # a flat link (or a broadcast)
    ("child", "hierarchy", "note.created", True),  # from below: a child's events climb
    ("child", "hierarchy", "policy.notice.published", False),  # policy never comes up
    ("parent", "hierarchy", "policy.notice.published", True),  # from above: policy only
    ("parent", "hierarchy", "note.created", False),
    ("parent", "local", "policy.notice.published", False),
    ("child", "local", "note.created", False),
])
def test_may_receive_is_what_the_other_end_may_send(role: str | None, reach: str, kind: str,
                                                    allowed: bool) -> None:
    assert may_receive(role, reach, kind) is allowed  # type: ignore[arg-type]


def test_only_parent_and_child_links_carry_hierarchy() -> None:
    assert reaches_for(None) == NETWORK_ONLY
    assert reaches_for("parent") == reaches_for("child") == WITH_HIERARCHY


@pytest.mark.parametrize(("parent", "child", "ok"), [
    (("regional", "eu"), ("local", "eu"), True),
    (("regional", "eu"), ("local", "us"), False),  # another region's regional
    (("central", "*"), ("regional", "eu"), True),
    (("central", "eu"), ("regional", "us"), False),
    (("central", "*"), ("local", "eu"), False),  # one tier up only, no skipping
    (("regional", "eu"), ("regional", "eu"), False),
    (("local", "eu"), ("local", "eu"), False),
    (("flat", ""), ("local", "eu"), False),
    (("regional", "eu"), ("flat", ""), False),
])
def test_is_parent_of(parent: tuple[str, str], child: tuple[str, str], ok: bool) -> None:
    assert is_parent_of(parent[0], parent[1], child[0], child[1]) is ok
