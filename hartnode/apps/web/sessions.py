"""Browser login: one-time login tokens and the sessions they open (issue #13, like Jupyter's).

The bearer token (``api.token``) is for scripts; a browser gets a session
instead, so the long-lived secret never sits in a URL, a history entry or a
page's JavaScript:

1. whoever holds ``api.token`` mints a **login token** (``hartnode ui``, or
   the daemon at start, which logs the URL): random, single use, valid
   ``LOGIN_TTL_S`` seconds, at most ``MAX_LOGIN_TOKENS`` outstanding;
2. ``GET /login?token=T`` consumes it and opens a **session**: a random id
   in an HttpOnly, SameSite=Strict cookie, and a CSRF token the page's
   JavaScript reads from a second (non-HttpOnly) cookie and echoes in the
   ``X-CSRF-Token`` header of every state-changing request (Syncthing's
   scheme: a cross-site page can make the browser send the cookie, but it
   cannot read the CSRF cookie to copy it into a header);
3. sessions expire ``SESSION_TTL_S`` after their last use; at most
   ``MAX_SESSIONS`` live at once, the least recently used dropped first.

Everything lives in memory: a restart logs everyone out, which is what an
operator who restarts to revoke access wants. Only hashes of tokens are
kept, so a memory dump of the table cannot be replayed. Thread-safe (the
daemon's trio thread mints the startup token; aiohttp's thread does the
rest); the clock is passed in, so tests step it by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

#: Seconds a login token stays valid (it is meant to be clicked at once).
LOGIN_TTL_S = 600.0
#: Login tokens outstanding at once; minting one more drops the oldest.
MAX_LOGIN_TOKENS = 16
#: Seconds a session lives without being used.
SESSION_TTL_S = 12 * 3600.0
#: Sessions at once; one more drops the least recently used.
MAX_SESSIONS = 64
#: Longest token accepted from a client, characters (ours are 43).
MAX_TOKEN_CHARS = 128


def session_digest(token: str) -> bytes:
    """What the store keeps of a login token or session id (never the token itself)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


_digest = session_digest


@dataclass
class Session:
    """One logged-in browser: its CSRF token and when it was last used."""

    csrf: str
    last_used: float


class SessionStore:
    """Login tokens and sessions, bounded in count and time.

    Args:
        clock: seconds, monotonic (``time.monotonic`` in the daemon).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._logins: OrderedDict[bytes, float] = OrderedDict()  # digest -> expiry
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()  # digest -> session

    def mint_login(self) -> str:
        """A fresh one-time login token."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._expire_logins()
            self._logins[_digest(token)] = self._clock() + LOGIN_TTL_S
            while len(self._logins) > MAX_LOGIN_TOKENS:
                self._logins.popitem(last=False)
        return token

    def redeem(self, login_token: str) -> tuple[str, str] | None:
        """Consume a login token; ``(session id, csrf token)`` of the new
        session, or None if the token is unknown, used or expired."""
        if not login_token or len(login_token) > MAX_TOKEN_CHARS:
            return None
        with self._lock:
            self._expire_logins()
            if self._logins.pop(_digest(login_token), None) is None:
                return None
            session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            self._sessions[_digest(session_id)] = Session(csrf, self._clock())
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return session_id, csrf

    def session(self, session_id: str | None) -> Session | None:
        """The live session with this id (its last use now), or None."""
        if not session_id or len(session_id) > MAX_TOKEN_CHARS:
            return None
        key = _digest(session_id)
        with self._lock:
            found = self._sessions.get(key)
            now = self._clock()
            if found is None:
                return None
            if now - found.last_used > SESSION_TTL_S:
                del self._sessions[key]
                return None
            found.last_used = now
            self._sessions.move_to_end(key)
            return found

    def end(self, session_id: str | None) -> None:
        """Log a session out (unknown ids are ignored)."""
        if session_id and len(session_id) <= MAX_TOKEN_CHARS:
            with self._lock:
                self._sessions.pop(_digest(session_id), None)

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        """Whether the header's CSRF token is this session's (constant time)."""
        if not given or len(given) > MAX_TOKEN_CHARS:
            return False
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                   session.csrf.encode())

    def counts(self) -> tuple[int, int]:
        """(login tokens outstanding, live sessions), after expiry."""
        with self._lock:
            self._expire_logins()
            return len(self._logins), len(self._sessions)

    def _expire_logins(self) -> None:
        now = self._clock()
        for key in [k for k, expiry in self._logins.items() if expiry <= now]:
            del self._logins[key]
