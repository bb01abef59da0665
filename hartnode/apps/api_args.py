"""What the apps' routes share: the field-naming request error, pagination bounds, and
the small readers of query and body arguments (recipes and goals use them).

A bad field is a 400 whose message starts with the field's name, so a client
(and the web UI) can point at it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from hartnode.ledger.envelope import EnvelopeError
from hartnode.ledger.kinds import PayloadError, UnknownKindError
from hartnode.routes import ApiRequest, ApiRequestError

PAGE_DEFAULT = 20  # items of a list when ``limit`` is not given
PAGE_MAX = 100  # the most items one page answers

Handler = Callable[[ApiRequest], Awaitable[object]]


class QueryError(ValueError):
    """A bad query or body argument; ``field`` names it (the API answers 400)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def int_arg(request: ApiRequest, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as e:
        raise ApiRequestError(f"{name}: expected an integer") from e


def body_object(request: ApiRequest) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ApiRequestError("body: expected a JSON object")
    return body


def as_400(fn: Handler, *also: type[Exception]) -> Handler:
    """QueryError, a payload its kind refuses, and the ``also`` errors become 400s."""
    refused: tuple[type[Exception], ...] = (QueryError, UnknownKindError, PayloadError,
                                            EnvelopeError, *also)

    async def handler(request: ApiRequest) -> object:
        try:
            return await fn(request)
        except refused as e:
            raise ApiRequestError(str(e)) from e
    return handler
