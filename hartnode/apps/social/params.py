"""Parameters of the social routes, each checked with an error that names it.

A bad parameter is an ``ApiRequestError`` (HTTP 400) whose message starts with
the parameter's name (``limit: expected an integer from 1 to 100, got '0'``),
so a client, the CLI or the web UI can point at the field.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from hartnode.apps.listing import CURSOR
from hartnode.apps.social.feed import Cursor
from hartnode.apps.social.names import USER_REF, is_user_ref
from hartnode.routes import ApiRequest, ApiRequestError

T = TypeVar("T")
LIMIT_DEFAULT = 20
LIMIT_MAX = 100
_HEX64 = re.compile(r"[0-9a-f]{64}")


def limit(query: Any, default: int = LIMIT_DEFAULT, most: int = LIMIT_MAX) -> int:
    raw = query.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ApiRequestError(f"limit: expected an integer from 1 to {most}, got {raw!r}")
    return int(raw)


def cursor(query: Any, name: str = "before") -> Cursor | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    m = CURSOR.fullmatch(raw)
    if m is None:
        raise ApiRequestError(f"{name}: expected a cursor from a previous page's next")
    return int(m.group(1)), m.group(2)


def after(query: Any) -> str | None:
    raw = query.get("after")
    if raw is not None and not (re.fullmatch(USER_REF, raw) or _HEX64.fullmatch(raw)):
        raise ApiRequestError("after: expected a cursor from a previous page's next")
    return raw  # type: ignore[no-any-return]


def hex_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ApiRequestError(f"{name}: expected an id (64 lowercase hex digits)")
    return value


def user_ref_param(value: object, name: str) -> str:
    if not is_user_ref(value):
        raise ApiRequestError(f"{name}: expected a user reference handle@<64 hex node id>")
    return str(value)


def flag(query: Any, name: str) -> bool:
    raw = query.get(name, "false")
    if raw not in ("true", "false", "1", "0"):
        raise ApiRequestError(f"{name}: expected true or false")
    return raw in ("true", "1")


def body_of(request: ApiRequest) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ApiRequestError("body: expected a JSON object")
    return body


def field(body: dict[str, Any], name: str, kind: type[T], *, required: bool = True
          ) -> T | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiRequestError(f"{name}: missing")
        return None
    if type(value) is not kind:
        raise ApiRequestError(f"{name}: expected a {kind.__name__}")
    return value


def drop_none(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if v is not None}
