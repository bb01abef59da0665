"""A sans-I/O token bucket: the per-link byte budget of DESIGN §3.

The bucket holds up to ``burst`` tokens (bytes) and refills at ``rate`` bytes
per second. It never reads a clock: every call takes ``now`` (seconds, from any
monotonic source), so the trio shell passes ``trio.current_time()`` and the
simulator its virtual clock.

Two ways to spend:
- ``try_consume(n, now)`` takes ``n`` tokens only if they are there (policing:
  the caller drops or defers the frame);
- ``reserve(n, now)`` always takes them, possibly into debt, and returns the
  time at which the frame may leave (shaping: the caller delays the send).
  Debt is bounded by one frame per waiting sender, as in Go's
  ``rate.Limiter.Reserve``.
"""

from __future__ import annotations

import math


class TokenBucket:
    """Byte budget of one direction of one link.

    Args:
        rate: refill rate in bytes per second (> 0).
        burst: capacity in bytes (> 0); a full bucket lets ``burst`` bytes go at once.
        now: the time the bucket starts full, in seconds.

    Raises:
        ValueError: ``rate`` or ``burst`` is not a finite number > 0.
    """

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
        if not (math.isfinite(burst) and burst > 0):
            raise ValueError(f"burst must be a finite number > 0, got {burst!r}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = self.burst
        self._stamp = now

    def _refill(self, now: float) -> None:
        # A clock that steps back (the shell's monotonic clock never does, but a
        # caller might mix sources) must not mint tokens: ignore the step.
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def available(self, now: float) -> float:
        """Tokens (bytes) that may be spent at ``now``; negative while in debt."""
        self._refill(now)
        return self._tokens

    def try_consume(self, n: int, now: float) -> bool:
        """Take ``n`` tokens if the bucket holds them; return whether it did.

        Raises:
            ValueError: ``n`` is negative or larger than ``burst`` (it could never pass).
        """
        if n < 0 or n > self.burst:
            raise ValueError(f"cannot consume {n} tokens from a bucket of {self.burst}")
        self._refill(now)
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def reserve(self, n: int, now: float) -> float:
        """Take ``n`` tokens now, into debt if needed; return when they may be sent.

        The returned time is ``now`` when the bucket covered them, else the
        moment the refill pays the debt back. Frames larger than ``burst``
        are allowed (they simply wait longer).

        Raises:
            ValueError: ``n`` is negative.
        """
        if n < 0:
            raise ValueError(f"cannot reserve {n} tokens")
        # Inlined ``_refill``: the simulator calls this once per message sent.
        tokens = self._tokens
        if now > self._stamp:
            tokens += (now - self._stamp) * self.rate
            if tokens > self.burst:
                tokens = self.burst
            self._stamp = now
        tokens -= n
        self._tokens = tokens
        if tokens >= 0:
            return now
        return now + -tokens / self.rate
