"""Browser logins (issue #13): one-time login tokens and sessions, bounded in count and time."""

from __future__ import annotations

from hartnode.apps.web import sessions as s
from hartnode.apps.web.sessions import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_login_token_opens_one_session_once() -> None:
    store = SessionStore(Clock())
    token = store.mint_login()
    opened = store.redeem(token)
    assert opened is not None
    session_id, csrf = opened
    assert store.redeem(token) is None  # single use
    session = store.session(session_id)
    assert session is not None and session.csrf == csrf
    assert store.session("not-a-session") is None
    assert store.redeem("never-minted") is None


def test_login_tokens_expire_and_are_bounded() -> None:
    clock = Clock()
    store = SessionStore(clock)
    late = store.mint_login()
    clock.now += s.LOGIN_TTL_S + 1
    assert store.redeem(late) is None
    tokens = [store.mint_login() for _ in range(s.MAX_LOGIN_TOKENS + 3)]
    assert store.counts()[0] == s.MAX_LOGIN_TOKENS
    assert store.redeem(tokens[0]) is None  # the oldest were dropped
    assert store.redeem(tokens[-1]) is not None


def test_sessions_expire_when_idle_and_the_least_recently_used_goes_first() -> None:
    clock = Clock()
    store = SessionStore(clock)
    opened = [store.redeem(store.mint_login()) for _ in range(s.MAX_SESSIONS)]
    ids = [o[0] for o in opened if o is not None]
    assert store.session(ids[0]) is not None  # used now: no longer the oldest
    extra = store.redeem(store.mint_login())
    assert extra is not None
    assert store.session(ids[1]) is None  # dropped for the new one
    assert store.session(ids[0]) is not None
    clock.now += s.SESSION_TTL_S - 1
    assert store.session(extra[0]) is not None  # a use keeps it alive
    clock.now += s.SESSION_TTL_S + 1
    assert store.session(extra[0]) is None


def test_logout_and_csrf_checks() -> None:
    store = SessionStore(Clock())
    opened = store.redeem(store.mint_login())
    assert opened is not None
    session = store.session(opened[0])
    assert session is not None
    assert SessionStore.csrf_ok(session, opened[1])
    for wrong in (None, "", opened[1][:-1], opened[1] + "x", "x" * 10_000, "\udcff"):
        assert not SessionStore.csrf_ok(session, wrong)
    store.end(opened[0])
    assert store.session(opened[0]) is None
    assert store.redeem("x" * (s.MAX_TOKEN_CHARS + 1)) is None
