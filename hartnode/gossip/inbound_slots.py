"""Who may hold an inbound connection slot, and for how long: sans-I/O (DESIGN §8).

A listener has ``max_connections`` slots. Before this module every TCP
connection held one for up to the whole handshake timeout, so 70 silent
sockets, or ~7 connects a second that closed at once, kept every honest
newcomer at 503 (issue #8.4). The transport (``transport._Listener``) now asks
``InboundSlots`` before it takes a connection in and tells it when one moves
on; the rules, all counted per listener:

- pending handshakes (TCP accepted, handshake not finished) may use at most
  ``pending_share`` of the slots, so they can never crowd out established links;
- at most ``max_pending_per_address`` of them from one address group
  (``address_key``: the IPv4 address, or the IPv6 /64 a single host usually
  owns whole, as S/Kademlia and gossipsub group peers by IP colocation);
- the last ``reserved_share`` of the slots take only links whose peer the
  node ranks as priority (its parents, certified peers): a flood of valid
  but unknown identities cannot lock out a node's own hierarchy;
- at most ``handshake_rate_per_address`` new handshakes a second from one
  address group, after a burst of ``handshake_burst_per_address``: each costs
  the node a key agreement and, once authenticated, up to a frame's bytes
  before a misbehaving peer is found out, so an address that reconnects in a
  loop (oversized frames, a connect/close flood) is held to that pace;
- at most ``max_links_per_address`` established links from one address group
  (priority peers aside): one host with the network key cannot hold most of
  the slots, each with its own link budget of bytes to decrypt and decode.

The time bounds (a closed socket frees its slot at once; a connection must
send its first handshake message within ``first_message_timeout``) live in
the transport, which owns the clock.
"""

from __future__ import annotations

import collections
import ipaddress
from dataclasses import dataclass, field

from hartnode.gossip.token_bucket import TokenBucket

IPV6_GROUP_PREFIX = 64  # bits of an IPv6 address that name one host's allocation
RATE_BUCKETS_MAX = 4096  # address groups whose handshake pace is tracked (idle ones let go)


def address_key(host: str) -> str:
    """The group whose pending handshakes ``host`` counts against.

    IPv4 (and IPv4-mapped IPv6) addresses are their own group; an IPv6 address
    counts under its /64, since one host usually owns a whole /64 and could
    otherwise open a fresh address per connection. A name that is no IP
    address (a test's Unix socket, say) is its own group.
    """
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_GROUP_PREFIX), strict=False))
    return str(ip)


@dataclass(frozen=True)
class SlotLimits:
    """The listener's bounds, from ``TransportConfig``."""

    max_connections: int
    pending_share: float
    max_pending_per_address: int
    reserved_share: float
    max_links_per_address: int = 8
    handshake_rate_per_address: float = 2.0  # new handshakes a second from one address group
    handshake_burst_per_address: int = 16  # handshakes one address group may start at once

    @property
    def max_pending(self) -> int:
        """Pending handshakes allowed at once (at least one)."""
        return max(1, int(self.max_connections * self.pending_share))

    @property
    def reserved(self) -> int:
        """Slots only priority peers may take once the others are in use."""
        return min(self.max_connections - 1, int(self.max_connections * self.reserved_share))


@dataclass
class InboundSlots:
    """Slot accounting of one listener; every method is O(1) and takes no clock."""

    limits: SlotLimits
    pending_by_key: collections.Counter[str] = field(default_factory=collections.Counter)
    links_by_key: collections.Counter[str] = field(default_factory=collections.Counter)
    pace_by_key: dict[str, TokenBucket] = field(default_factory=dict)
    pending: int = 0
    established: int = 0

    @property
    def held(self) -> int:
        return self.pending + self.established

    def admit(self, key: str, now: float) -> str | None:
        """Take a pending slot for a connection from ``key`` at ``now`` (seconds);
        the refusal reason, or None.

        Reasons: ``connection_limit`` (every slot in use), ``pending_limit``
        (the pending share is used up), ``address_limit`` (this address group
        has its share of pending handshakes), ``address_rate`` (it started
        handshakes faster than its pace).
        """
        lim = self.limits
        if self.held >= lim.max_connections:
            return "connection_limit"
        if self.pending >= lim.max_pending:
            return "pending_limit"
        if self.pending_by_key[key] >= lim.max_pending_per_address:
            return "address_limit"
        if not self._pace(key, now).try_consume(1, now):
            return "address_rate"
        self.pending += 1
        self.pending_by_key[key] += 1
        return None

    def _pace(self, key: str, now: float) -> TokenBucket:
        bucket = self.pace_by_key.get(key)
        if bucket is None:
            if len(self.pace_by_key) >= RATE_BUCKETS_MAX:
                # A full bucket says nothing an absent one would not: forget those.
                burst = self.limits.handshake_burst_per_address
                self.pace_by_key = {k: b for k, b in self.pace_by_key.items()
                                    if b.available(now) < burst}
            bucket = TokenBucket(self.limits.handshake_rate_per_address,
                                 self.limits.handshake_burst_per_address, now)
            if len(self.pace_by_key) < RATE_BUCKETS_MAX:
                self.pace_by_key[key] = bucket
            # else: more address groups mid-burst than it tracks; this one goes unpaced
            # (its pending and link limits still hold).
        return bucket

    def _drop_pending(self, key: str) -> None:
        self.pending -= 1
        self.pending_by_key[key] -= 1
        if self.pending_by_key[key] <= 0:
            del self.pending_by_key[key]

    def handshake_done(self, key: str, *, priority: bool) -> str | None:
        """The pending connection from ``key`` authenticated: the reason it may
        not stay (its slot is then freed), or None when it holds a link now.

        Reasons, for peers that are not priority peers: ``reserved_slots``
        (only the reserved slots are left), ``address_links`` (its address
        group holds its share of established links already).
        """
        self._drop_pending(key)
        if not priority:
            if self.established >= self.limits.max_connections - self.limits.reserved:
                return "reserved_slots"
            if self.links_by_key[key] >= self.limits.max_links_per_address:
                return "address_links"
        self.established += 1
        self.links_by_key[key] += 1
        return None

    def handshake_failed(self, key: str) -> None:
        """The pending connection from ``key`` failed or closed: its slot is free."""
        self._drop_pending(key)

    def link_ended(self, key: str) -> None:
        """An established inbound link from ``key`` ended."""
        self.established -= 1
        self.links_by_key[key] -= 1
        if self.links_by_key[key] <= 0:
            del self.links_by_key[key]


@dataclass
class WarnThrottle:
    """At most one log line per ``interval`` seconds per key, with a count of the rest.

    A scanner without the network key can fail handshakes as fast as it can
    connect; the operator needs one clear warning, not a flood of them.
    """

    interval: float
    _last: dict[str, float] = field(default_factory=dict)
    _suppressed: collections.Counter[str] = field(default_factory=collections.Counter)

    def allow(self, key: str, now: float) -> int | None:
        """None to stay quiet; else how many lines were held back since the last one."""
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] += 1
            return None
        self._last[key] = now
        return self._suppressed.pop(key, 0)
