"""What every protocol core shares: reasoned errors, the ``Send`` effect, the timer shape (STYLE).

Errors say who is at fault, as h11's do: ``RemoteProtocolError`` (the peer
sent something the protocol forbids; the shell ends that peer's link and
nothing else, DESIGN §8) versus ``LocalProtocolError`` (this side misused a
core: a bug here). Both are ``ReasonedError``: ``reason`` is a short stable
name, used as a metrics label and in logs; ``detail`` is free text, never
parsed. A family of errors names its reasons' type (``DecodeError(
RemoteProtocolError[DecodeReason])``) and lists them in ``REASONS``; it refuses
any other, so a typo cannot invent a metrics series.

Imports nothing of hartnode: cores import it, and it must not pull in I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar, runtime_checkable

R = TypeVar("R", bound=str)  # a family's reasons, usually a Literal


class ReasonedError(Exception, Generic[R]):
    """An error with a stable ``reason`` (a metrics label) and free-text ``detail``.

    Attributes:
        reason: one of the class's ``REASONS`` when it lists them.
        detail: free text for logs; never parse it.
    """

    REASONS: ClassVar[frozenset[str] | None] = None  # None: any reason
    KIND: ClassVar[str] = "protocol"  # names the family in the ValueError below

    def __init__(self, reason: R, detail: str = "", *, headline: str = "") -> None:
        if self.REASONS is not None and reason not in self.REASONS:
            raise ValueError(f"unknown {self.KIND} reason {reason!r}")
        text = headline or reason  # ``headline`` when the message says more than the reason
        super().__init__(f"{text}: {detail}" if detail else text)
        self.reason: R = reason
        self.detail = detail


class RemoteProtocolError(ReasonedError[R]):
    """The peer sent something the protocol forbids; end its link, count ``reason``."""


class LocalProtocolError(ReasonedError[R]):
    """This side misused a core (e.g. handed it a message of another core): a local bug."""


@dataclass(frozen=True, slots=True)
class Send:
    """Effect: send ``msg`` on the open link to ``peer`` (drop it if there is none)."""

    peer: str
    msg: object


@runtime_checkable
class TimerCore(Protocol):
    """The one timer shape of every core (aioquic's): the shell asks when, and calls back.

    The shell sleeps until the earliest ``get_timer()`` of its cores (``None``:
    no timer armed), then calls ``handle_timer(now)`` on each core whose time
    has come and carries out the effects. A core never reads a clock itself.
    """

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must run next, on the shell's clock; None when never."""
        ...

    def handle_timer(self, now: float) -> Sequence[object]:
        """Do what is due at ``now``; the effects for the shell."""
        ...


def next_timer(cores: Sequence[TimerCore]) -> float | None:
    """The earliest armed timer of ``cores``, or None when none is armed."""
    armed = [t for t in (core.get_timer() for core in cores) if t is not None]
    return min(armed, default=None)


def is_due(core: TimerCore, now: float) -> bool:
    """Whether ``core``'s timer has come at ``now``. Ask again after carrying out
    another core's effects: they may have armed or moved this one's timer."""
    deadline = core.get_timer()
    return deadline is not None and now >= deadline
