"""How a service attaches to the overlay: one ``LinkService``, one ``GossipService.register``.

memberlist's ``Delegate``, trio-shaped. A service (ledger replication, the
hierarchy, an app) declares in one value what it takes from the overlay:

- ``message_types``: wire messages it receives on links (``on_message(peer, msg)``);
- ``broadcast_types``: broadcast payloads it judges (``on_broadcast(payload,
  msg_id)``, whose verdict relays the payload on or lets it die here);
- ``on_link(peer, up)``: a link to ``peer`` came up or went down;
- ``on_revocations(signed)``: a newer master-signed revocation list was applied.

A type is claimed by one service only: a second claim is a bug in the node's
wiring (``ServiceConflict`` at start-up, before any peer is served). The
overlay's own types (membership, broadcast, records, revocations) cannot be
claimed.

Every callback runs in the trio thread, synchronously, on behalf of one peer:
it must not block (queue work for the service's own task instead). Whatever
it raises ends only that peer's link (``GossipService``: containment); a
``RemoteProtocolError`` is the service saying the peer broke its protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from hartnode.attestation.revocation import SignedRevocationList
from hartnode.protocol import LocalProtocolError

# A broadcast verdict: relay (True), drop here (False), or None when the
# service answers later through ``GossipService.relay(msg_id, ok)`` (the
# ledger verifies events in a worker thread first).
Verdict = bool | None


class ServiceConflict(LocalProtocolError[str]):
    """Two services (or a service and the overlay) claim one message type."""


@dataclass(frozen=True, eq=False)
class LinkService:
    """What one service takes from the overlay; see the module docstring."""

    name: str
    message_types: frozenset[type] = frozenset()
    on_message: Callable[[str, object], None] | None = None
    broadcast_types: frozenset[type] = frozenset()
    on_broadcast: Callable[[bytes, str], Verdict] | None = None
    on_link: Callable[[str, bool], None] | None = None
    on_revocations: Callable[[SignedRevocationList], None] | None = None

    def __post_init__(self) -> None:
        if self.message_types and self.on_message is None:
            raise ServiceConflict(f"service {self.name!r} claims messages but has no on_message")
        if self.broadcast_types and self.on_broadcast is None:
            raise ServiceConflict(
                f"service {self.name!r} claims broadcasts but has no on_broadcast")


class ServiceTable:
    """The registered services and who claimed which type (read on every message)."""

    def __init__(self, reserved: Iterable[type]) -> None:
        self._reserved = frozenset(reserved)
        self.services: list[LinkService] = []
        self.messages: dict[type, LinkService] = {}
        self.broadcasts: dict[type, LinkService] = {}

    def register(self, service: LinkService) -> None:
        """Add ``service``; all of its claims or none.

        Raises:
            ServiceConflict: a type it claims is the overlay's or another service's.
        """
        for claimed, table in ((service.message_types, self.messages),
                               (service.broadcast_types, self.broadcasts)):
            for kind in claimed:
                owner = table.get(kind)
                if kind in self._reserved or owner is not None:
                    by = owner.name if owner is not None else "the overlay"
                    raise ServiceConflict(
                        f"{kind.__name__} is claimed by {by}; service {service.name!r} "
                        "cannot claim it too")
        if any(s is service for s in self.services):
            raise ServiceConflict(f"service {service.name!r} is registered already")
        self.services.append(service)
        self.messages.update(dict.fromkeys(service.message_types, service))
        self.broadcasts.update(dict.fromkeys(service.broadcast_types, service))

    def link_watchers(self) -> Iterator[tuple[LinkService, Callable[[str, bool], None]]]:
        return ((s, s.on_link) for s in self.services if s.on_link is not None)

    def revocation_watchers(self) -> Iterator[Callable[[SignedRevocationList], None]]:
        return (s.on_revocations for s in self.services if s.on_revocations is not None)
