"""Who a social event speaks for: local users, their references and global names.

A node signs every social event on behalf of one of its local users, with
``actor: user:<handle>`` (DESIGN §1). A handle is unique per node only, so a
user everywhere is the pair (handle, origin), written as the **user reference**
``<handle>@<origin, 64 hex>``: only the origin can sign events for its feed,
so no other node can speak for that user. People read the shorter **global
name** ``<handle>@<first 8 hex of the origin>``.

Pure: no I/O.
"""

from __future__ import annotations

import re

from hartnode.ledger.envelope import Event

HANDLE = r"[a-z0-9][a-z0-9_]{1,31}"
USER_REF = rf"{HANDLE}@[0-9a-f]{{64}}"
SHORT_ID_HEX = 8  # hex digits of the node id in a global name
_HANDLE_RE = re.compile(HANDLE)
_USER_REF_RE = re.compile(USER_REF)
# ``@alice`` (a user of the author's node) or ``@alice@1a2b3c4d`` (a prefix of
# another node's id, 8 to 64 hex digits). Not preceded by a word character or
# ``@``, so an e-mail address is no mention.
_MENTION_RE = re.compile(rf"(?<![\w@])@({HANDLE})(?:@([0-9a-f]{{8,64}}))?(?![\w])")
MAX_MENTIONS = 20  # mentions noted per post or comment; the rest notify nobody


def is_handle(value: object) -> bool:
    return isinstance(value, str) and _HANDLE_RE.fullmatch(value) is not None


def is_user_ref(value: object) -> bool:
    return isinstance(value, str) and _USER_REF_RE.fullmatch(value) is not None


def user_ref(handle: str, node_id: str) -> str:
    return f"{handle}@{node_id}"


def split_ref(ref: str) -> tuple[str, str]:
    """``(handle, node_id)`` of a user reference."""
    handle, _, node_id = ref.partition("@")
    return handle, node_id


def global_name(ref: str) -> str:
    """``alice@1a2b3c4d``: what people read and type."""
    handle, node_id = split_ref(ref)
    return f"{handle}@{node_id[:SHORT_ID_HEX]}"


def actor_for(handle: str) -> str:
    """The envelope ``actor`` of an event a node signs for its user ``handle``."""
    return f"user:{handle}"


def author_of(event: Event) -> str | None:
    """The user reference an event speaks for; None when its actor is no user
    (the projections ignore such social events)."""
    if not event.actor.startswith("user:"):
        return None
    handle = event.actor[5:]
    return user_ref(handle, event.origin) if is_handle(handle) else None


def mentions(text: str, origin: str) -> list[tuple[str, str]]:
    """``(handle, node id prefix)`` of each distinct mention in ``text``, in order,
    at most ``MAX_MENTIONS``; a bare ``@handle`` means the author's node."""
    out: list[tuple[str, str]] = []
    for m in _MENTION_RE.finditer(text):
        found = (m.group(1), m.group(2) or origin)
        if found not in out:
            out.append(found)
            if len(out) == MAX_MENTIONS:
                break
    return out
