"""HyParView membership core, sans-I/O (DESIGN §2, §3 "Overlay").

Leitão, Pereira, Rodrigues, "HyParView: a membership protocol for reliable
gossip-based broadcast" (DSN 2007). Each node keeps a small symmetric *active
view* (~5 peers it holds links to) and a larger *passive view* (~30 addresses
it could dial). Joins spread by random walks, passive views are refreshed by
periodic shuffles, and a lost active link is replaced from the passive view at
once. Plumtree (``plumtree.py``) broadcasts over the active view.

The core owns no sockets, clock or entropy. The shell (trio in production,
``hartnode.testing.simnet`` in tests) drives it and carries out its effects:

    core.join(contacts, now)             -> effects   start (or restart) membership
    core.on_link_up(peer, now, facts)    -> effects   a link to ``peer`` opened (either side);
                                                      ``facts``: its address group, certified
    core.on_link_down(peer, now)         -> effects   it ended, or a ``Connect`` failed
    core.on_message(peer, msg, now)      -> effects   ``msg`` arrived on the link to ``peer``
    core.handle_timer(now)               -> effects   call once ``now >= get_timer()``
    core.get_timer()                     -> float     when to call ``handle_timer`` next
                                                      (aioquic's shape: ``protocol.TimerCore``)

Effects and the shell's duties:
- ``Connect(peer, addr)``: dial ``addr`` unless a link to ``peer`` exists or is
  being dialled (simultaneous dials from both ends must end as one link); then
  report ``on_link_up`` or, on failure, ``on_link_down``.
- ``Send(peer, msg)``: send on the open link (in order); drop it if none is open.
- ``CloseLink(peer)``: flush what was sent, then close. The core already
  forgot the link: do not report ``on_link_down`` for it.
- ``NeighbourUp(peer)`` / ``NeighbourDown(peer)``: the active view changed;
  hand them to the broadcast core.
- ``RemoteProtocolError`` from ``on_message``: the peer broke the protocol.
  Count ``reason``, close the link and report ``on_link_down`` (the core has
  not changed state).

A full active view admits a Join or high-priority Neighbour only under the
eclipse guard's rules (``admission.py``: protected neighbours, youngest
victim, rate-limited forced admissions), so re-joining sybils cannot take
over a node's view. The passive view is kept as Bitcoin's addrman keeps
addresses (``passive_view.py``: a tried table of peers this node picked or
held for long, salted buckets for the rest), and repairs ask tried peers and
fresh address groups first, so a node that loses a link does not refill it
from whatever sybils fed its passive view (issue #8.5).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from hartnode.gossip.admission import AdmissionGuard, LinkFacts
from hartnode.gossip.overlay_config import OverlayConfig
from hartnode.gossip.passive_view import PassiveView, address_group

# Re-exported while branches in flight still import them from here; new code
# imports ``hartnode.protocol``.
from hartnode.protocol import LocalProtocolError as LocalProtocolError
from hartnode.protocol import RemoteProtocolError as RemoteProtocolError
from hartnode.protocol import Send as Send

MAX_TTL = 32  # hops any walk may claim; bounds work a peer can make us do
MAX_PEER_LIST = 64  # entries in one Shuffle or ShuffleReply


# --- wire messages (nouns; registered by ``hartnode.gossip.wire``) ---


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A node id and the address to dial it at; ``addr`` is "" behind NAT (never dialled)."""

    node_id: str
    addr: str


@dataclass(frozen=True, slots=True)
class Join:
    """First message on a link the joiner opened to its contact."""

    peer: PeerInfo


@dataclass(frozen=True, slots=True)
class ForwardJoin:
    """A random walk announcing ``joiner``; ``ttl`` hops are left."""

    joiner: PeerInfo
    ttl: int


@dataclass(frozen=True, slots=True)
class Neighbour:
    """Asks the receiver to add the sender to its active view.

    ``high_priority`` requests must be accepted (the sender kept half its view
    or less, a join walk ended here, or it re-links a lost neighbour); others
    only fill a free slot.
    """

    peer: PeerInfo
    high_priority: bool


@dataclass(frozen=True, slots=True)
class NeighbourReply:
    """Answer to ``Neighbour``."""

    accepted: bool


@dataclass(frozen=True, slots=True)
class Disconnect:
    """The sender removed the receiver from its active view (or never had it)."""


@dataclass(frozen=True, slots=True)
class Shuffle:
    """A random walk carrying a sample of ``origin``'s views; ``ttl`` hops are left."""

    origin: PeerInfo
    peers: tuple[PeerInfo, ...]
    ttl: int


@dataclass(frozen=True, slots=True)
class ShuffleReply:
    """A sample of the passive view sent back to a Shuffle's origin (and to joiners)."""

    peers: tuple[PeerInfo, ...]


@dataclass(frozen=True, slots=True)
class Ping:
    """Liveness probe of an idle neighbour link."""

    nonce: int


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer to ``Ping`` with the same nonce."""

    nonce: int


_Walks = Join | ForwardJoin | Neighbour | NeighbourReply | Disconnect | Shuffle
HyParViewMessage = _Walks | ShuffleReply | Ping | Pong
# Top-level messages in the order the wire module registers them (append only).
ALL_MESSAGES: tuple[type, ...] = (Join, ForwardJoin, Neighbour, NeighbourReply, Disconnect)
ALL_MESSAGES += (Shuffle, ShuffleReply, Ping, Pong)
NESTED_TYPES: tuple[type, ...] = (PeerInfo,)
_MESSAGE_TYPES = frozenset(ALL_MESSAGES)


# --- effects (local instructions to the shell) ---


@dataclass(frozen=True, slots=True)
class Connect:
    """Open a link to ``peer`` by dialling ``addr``."""

    peer: str
    addr: str


@dataclass(frozen=True, slots=True)
class CloseLink:
    """Close the link to ``peer`` after flushing what was sent on it."""

    peer: str


@dataclass(frozen=True, slots=True)
class NeighbourUp:
    """``peer`` entered the active view."""

    peer: str


@dataclass(frozen=True, slots=True)
class NeighbourDown:
    """``peer`` left the active view."""

    peer: str


MembershipEffect = Send | Connect | CloseLink | NeighbourUp | NeighbourDown


class HyParView:
    """Membership state of one node.

    Args:
        me: this node's id and dialable address ("" behind NAT).
        config: overlay parameters (``overlay_config``).
        rng: the only source of randomness (seeded in tests and simulations).
        now: the current time in seconds; timers start from it.
        salt: the passive view's secret bucketing key (``passive_view``); the
            shell passes ``os.urandom(16)``, simulations leave it to ``rng``.

    ``active`` and ``passive`` map node ids to addresses: read them, never write them.
    """

    def __init__(
        self, me: PeerInfo, config: OverlayConfig, rng: random.Random, now: float = 0.0,
        salt: bytes | None = None,
    ) -> None:
        self.me = me
        self.config = config
        self._rng = rng
        self.active: dict[str, str] = {}
        self._links: set[str] = set()  # peers with an open link (as the shell reported)
        self._dialling: dict[str, float] = {}  # peer -> deadline of our Connect
        self._outbox: dict[str, list[HyParViewMessage]] = {}  # waiting for a link
        self._pending: dict[str, tuple[float, str]] = {}  # asked peer -> (deadline, addr)
        self._joining: dict[str, str] = {}  # contact dialled with a Join -> addr
        self._rejected: set[str] = set()  # refused us since the last keepalive tick
        self._heard: dict[str, float] = {}  # active peer -> last time a message came
        self._pings: dict[str, float] = {}  # active peer -> deadline of its unanswered Ping
        self._idle_links: dict[str, float] = {}  # linked but not needed -> since when
        self._failed: dict[str, tuple[str, float]] = {}  # peer -> (addr, first failure time)
        self._contacts: list[PeerInfo] = []
        # Not before: an isolated node whose contact takes the link and drops it
        # at once (it is quarantined or revoked there) would re-Join in a loop,
        # a handshake each time; one rejoin per neighbour_timeout bounds it.
        self._rejoin_after = -math.inf
        self._shuffle_sent: set[str] = set()  # ids we offered in our last Shuffle
        self._guard = AdmissionGuard(config)
        self._nonce = 0
        # Topping up a view that is short of the target without a failure
        # (a refused request, a Disconnect) backs off exponentially: in a
        # settled overlay most passive peers are full and would refuse anyway.
        self._refill_delay = config.keepalive_interval
        self._next_refill = now
        self._next_keepalive = now + config.keepalive_interval * rng.uniform(0.5, 1.0)
        self._next_shuffle = now + config.shuffle_interval * rng.uniform(0.5, 1.0)
        self._next_reconnect = now + config.reconnect_interval * rng.uniform(0.5, 1.0)
        self._passive = PassiveView(config.passive_view_size,
                                    salt if salt is not None else rng.randbytes(16), rng)
        self.passive = self._passive.entries
        self._tried_active: set[str] = set()  # neighbours that go back to the tried table

    # --- public API ---

    def join(self, contacts: Sequence[PeerInfo], now: float) -> list[MembershipEffect]:
        """Join through a random one of ``contacts`` (kept for rejoining when isolated).

        An empty list makes this node the first of its network: it waits for joins.
        """
        self._contacts = [c for c in contacts if c.node_id != self.me.node_id and c.addr]
        out: list[MembershipEffect] = []
        self._rejoin(now, out)
        return out

    def join_through(self, contact: PeerInfo, now: float) -> list[MembershipEffect]:
        """Join through ``contact`` now, as the operator asked (``hartnode join``):
        no backoff holds it back, and ``contact`` joins the contacts kept for
        rejoining instead of replacing them."""
        out: list[MembershipEffect] = []
        if contact.node_id == self.me.node_id or not contact.addr:
            return out
        self._contacts = [c for c in self._contacts if c.node_id != contact.node_id]
        self._contacts.append(contact)
        self._join_via(contact, now, out)
        return out

    def on_link_up(
        self, peer: str, now: float, facts: LinkFacts | None = None
    ) -> list[MembershipEffect]:
        """A link to ``peer`` is open, whichever side dialled it; ``facts`` from the shell."""
        out: list[MembershipEffect] = []
        self._links.add(peer)
        self._guard.link_up(peer, facts)
        self._dialling.pop(peer, None)
        box = self._outbox.pop(peer, None)
        if box:
            out.extend(Send(peer, m) for m in box)
        addr = self._joining.pop(peer, None)
        if addr is not None:
            # The contact adds us when our Join arrives (links are FIFO): symmetric views.
            self._guard.chosen.add(peer)
            self._add_active(peer, addr, now, out)
        if not self._needed(peer):
            if box:
                self._close(peer, out)  # a one-off exchange (ShuffleReply): flushed, then closed
            else:
                self._idle_links[peer] = now
        return out

    def on_link_down(self, peer: str, now: float) -> list[MembershipEffect]:
        """The link to ``peer`` ended (not by our ``CloseLink``) or our dial failed."""
        out: list[MembershipEffect] = []
        dial_failed = self._dialling.pop(peer, None) is not None and peer not in self._links
        self._links.discard(peer)
        self._guard.link_down(peer)
        self._outbox.pop(peer, None)
        self._idle_links.pop(peer, None)
        if peer in self.active:
            self._fail(peer, now, out)
        elif peer in self._pending or peer in self._joining or dial_failed:
            self._give_up(peer)
            self._repair(now, out)
        return out

    def on_message(self, peer: str, msg: object, now: float) -> list[MembershipEffect]:
        """Handle ``msg`` that arrived on the link to ``peer``.

        Raises:
            LocalProtocolError: ``msg`` is not a HyParView message.
            RemoteProtocolError: ``msg`` breaks the protocol (state is unchanged).
        """
        if type(msg) not in _MESSAGE_TYPES:
            raise LocalProtocolError(f"not a HyParView message: {type(msg).__name__}")
        if peer in self.active:
            # Any traffic proves the neighbour alive (DESIGN §3: liveness by ping).
            self._heard[peer] = now
            self._pings.pop(peer, None)
        self._idle_links.pop(peer, None)
        out: list[MembershipEffect] = []
        if isinstance(msg, Ping):
            self._on_ping(peer, msg, out)
        elif isinstance(msg, Pong):
            pass  # liveness was recorded above
        elif isinstance(msg, Shuffle):
            self._on_shuffle(peer, msg, now, out)
        elif isinstance(msg, ShuffleReply):
            self._on_shuffle_reply(peer, msg, out)
        elif isinstance(msg, ForwardJoin):
            self._on_forward_join(peer, msg, now, out)
        elif isinstance(msg, Neighbour):
            self._on_neighbour(peer, msg, now, out)
        elif isinstance(msg, NeighbourReply):
            self._on_neighbour_reply(peer, msg, now, out)
        elif isinstance(msg, Disconnect):
            self._on_disconnect(peer, now, out)
        elif isinstance(msg, Join):
            self._on_join(peer, msg, now, out)
        if peer in self._links and not self._needed(peer) and peer not in self._idle_links:
            self._idle_links[peer] = now
        return out

    def handle_timer(self, now: float) -> list[MembershipEffect]:
        """Run every timer that is due at ``now``."""
        out: list[MembershipEffect] = []
        cfg = self.config
        expired = [p for p, (d, _) in self._pending.items() if d <= now]
        expired += [p for p, d in self._dialling.items() if d <= now and p not in self._pending]
        for peer in expired:
            # A dial or a Neighbour request that hangs counts as a failed peer.
            self._close(peer, out)
            self._give_up(peer)
        for peer in [p for p, d in self._pings.items() if d <= now]:
            # An unanswered Ping: the neighbour is gone without a word (power
            # loss, partition), which only this timeout can tell us.
            self._close(peer, out)
            self._fail(peer, now, out)
        if now >= self._next_keepalive:
            self._next_keepalive = now + cfg.keepalive_interval
            self._keepalive(now, out)
        elif expired:
            self._repair(now, out)
        if now >= self._next_shuffle:
            self._next_shuffle = now + cfg.shuffle_interval * self._rng.uniform(0.75, 1.25)
            self._shuffle(out)
        if now >= self._next_reconnect:
            self._next_reconnect = now + cfg.reconnect_interval * self._rng.uniform(0.75, 1.25)
            self._reconnect(now, out)
        return out

    def get_timer(self) -> float:
        """The time at which ``handle_timer`` must run next."""
        deadline = min(self._next_keepalive, self._next_shuffle)
        if self._failed and self._next_reconnect < deadline:
            deadline = self._next_reconnect
        for d, _ in self._pending.values():
            deadline = min(deadline, d)
        for d in self._dialling.values():
            deadline = min(deadline, d)
        for d in self._pings.values():
            deadline = min(deadline, d)
        return deadline

    def is_asking(self, peer: str) -> bool:
        """True while our Neighbour request to ``peer`` awaits its reply."""
        return peer in self._pending

    def is_isolated(self) -> bool:
        """True when no neighbour is linked, being asked or being joined."""
        return not self.active and not self._pending and not self._joining

    # --- message handlers (DESIGN §3; the paper's Algorithm 1) ---

    def _on_join(self, peer: str, msg: Join, now: float, out: list[MembershipEffect]) -> None:
        joiner = msg.peer
        if joiner.node_id != peer:
            raise RemoteProtocolError("join_peer_mismatch", f"{joiner.node_id} on link {peer}")
        again = peer in self.active and self.config.admission_guard
        admitted = (not self._full(peer) or self._guard.may_force(peer, now)) and (
            self._add_active(peer, joiner.addr, now, out))
        if joiner.addr and admitted and not again:  # a re-Join walks no further
            walk = ForwardJoin(joiner, self.config.active_random_walk_length)
            out.extend(Send(p, walk) for p in self.active if p != peer)
        # Seed the joiner's passive view. A joiner behind NAT has no other way to
        # learn dialable peers, because no walk can end in a link to it.
        sample = self._sample(self.config.shuffle_passive_count + 2, peer, with_active=True)
        if sample:
            out.append(Send(peer, ShuffleReply(sample)))
        if not admitted:
            # No slot here (the guard's rules): the joiner repairs from the sample.
            out.append(Send(peer, Disconnect()))
            self._close(peer, out)

    def _full(self, peer: str) -> bool:
        """Would adding ``peer`` need an eviction?"""
        return peer not in self.active and len(self.active) >= self.config.active_view_size

    def _on_forward_join(
        self, peer: str, msg: ForwardJoin, now: float, out: list[MembershipEffect]
    ) -> None:
        if not 0 <= msg.ttl <= MAX_TTL:
            raise RemoteProtocolError("bad_ttl", str(msg.ttl))
        joiner = msg.joiner
        jid = joiner.node_id
        if jid == self.me.node_id or not joiner.addr:
            return
        others = [p for p in self.active if p != peer and p != jid]
        if msg.ttl == 0 or not others:
            # The walk ends here: link to the joiner, which must accept. Into a
            # full view only as a forced admission: else every Join a sybil
            # gets admitted would force a second link at the walk's end.
            if jid in self.active or jid in self._pending:
                return
            if self._full(jid) and not self._guard.may_force(jid, now):
                self._add_passive(jid, joiner.addr, peer)
                return
            self._request(jid, joiner.addr, True, now, out)
            return
        if msg.ttl == self.config.passive_random_walk_length:
            self._add_passive(jid, joiner.addr, peer)
        out.append(Send(self._rng.choice(others), ForwardJoin(joiner, msg.ttl - 1)))

    def _on_neighbour(
        self, peer: str, msg: Neighbour, now: float, out: list[MembershipEffect]
    ) -> None:
        if msg.peer.node_id != peer:
            raise RemoteProtocolError("neighbour_peer_mismatch", f"{msg.peer.node_id} on {peer}")
        if (
            not self._full(peer)
            or (self._known(peer) and self._guard.may_force_known(now))
            or (msg.high_priority and self._guard.may_force(peer, now))
        ) and self._add_active(peer, msg.peer.addr, now, out):
            self._pending.pop(peer, None)  # crossing requests: one link, both accepted
            out.append(Send(peer, NeighbourReply(True)))
        else:
            if msg.high_priority and self.config.admission_guard:
                # The asker is down to half its view or less and the guard
                # said no: hand it other peers to ask (before the refusal, on
                # which it repairs), as a contact does for a joiner.
                sample = self._sample(self.config.shuffle_passive_count + 2, peer,
                                      with_active=True)
                if sample:
                    out.append(Send(peer, ShuffleReply(sample)))
            out.append(Send(peer, NeighbourReply(False)))
            self._add_passive(peer, msg.peer.addr, peer)

    def _on_neighbour_reply(
        self, peer: str, msg: NeighbourReply, now: float, out: list[MembershipEffect]
    ) -> None:
        asked = self._pending.pop(peer, None)
        if msg.accepted:
            if peer in self.active:
                return
            if asked is None or not self._add_active(peer, asked[1], now, out):
                # A late acceptance after we gave up, or no slot left that the
                # guard lets go of: undo it on their side.
                out.append(Send(peer, Disconnect()))
                self._close(peer, out)
        elif asked is not None:
            self._rejected.add(peer)
            self._guard.chosen.discard(peer)
            self._close(peer, out)
            if not self.active:
                # Only an empty view keeps asking at once: in a settled overlay most
                # passive peers are full, and asking all 30 in a row is a storm.
                self._repair(now, out)

    def _on_disconnect(self, peer: str, now: float, out: list[MembershipEffect]) -> None:
        addr = self.active.pop(peer, None)
        if addr is None:
            return
        tried = self._forget_neighbour(peer, now, out)
        self._keep_former(peer, addr, tried)
        self._rejected.add(peer)  # it just chose to leave us: ask others first
        if peer not in self._pending:
            self._close(peer, out)
        self._repair(now, out)

    def _on_shuffle(self, peer: str, msg: Shuffle, now: float, out: list[MembershipEffect]) -> None:
        if not 0 <= msg.ttl <= MAX_TTL:
            raise RemoteProtocolError("bad_ttl", str(msg.ttl))
        if len(msg.peers) > MAX_PEER_LIST:
            raise RemoteProtocolError("peer_list_too_long", str(len(msg.peers)))
        origin = msg.origin
        if origin.node_id == self.me.node_id:
            return
        others = [p for p in self.active if p != peer and p != origin.node_id]
        if msg.ttl > 1 and others:
            out.append(Send(self._rng.choice(others), Shuffle(origin, msg.peers, msg.ttl - 1)))
            return
        reply = self._sample(len(msg.peers) + 1, origin.node_id, with_active=False)
        if reply:
            self._send(origin.node_id, origin.addr, ShuffleReply(reply), now, out)
        self._integrate((origin, *msg.peers), {p.node_id for p in reply}, peer)

    def _on_shuffle_reply(self, peer: str, msg: ShuffleReply, out: list[MembershipEffect]) -> None:
        if len(msg.peers) > MAX_PEER_LIST:
            raise RemoteProtocolError("peer_list_too_long", str(len(msg.peers)))
        self._integrate(msg.peers, self._shuffle_sent, peer)
        if not self._needed(peer):
            self._close(peer, out)

    def _on_ping(self, peer: str, msg: Ping, out: list[MembershipEffect]) -> None:
        if peer in self.active:
            out.append(Send(peer, Pong(msg.nonce)))
        elif peer not in self._pending:
            # The peer thinks we are neighbours and we are not (a Disconnect or
            # NeighbourReply was lost): say so, and the views become symmetric.
            out.append(Send(peer, Disconnect()))

    # --- views ---

    def _add_active(self, peer: str, addr: str, now: float, out: list[MembershipEffect]) -> bool:
        """Make ``peer`` a neighbour, evicting one when full; False when every one is protected."""
        if peer == self.me.node_id:
            return False
        if peer in self.active:
            return True
        if self._full(peer):
            victim = self._guard.victim(self.active, self._rng, self._keep(now))
            if victim is None:
                return False
            self._drop(victim, now, out)
        if peer in self._guard.chosen or self._passive.is_tried(peer):
            self._tried_active.add(peer)  # our own pick that accepted: addrman's "good"
        self.active[peer] = addr
        self._passive.remove(peer)
        self._failed.pop(peer, None)
        self._idle_links.pop(peer, None)
        self._heard[peer] = now
        self._guard.added(peer, now)
        out.append(NeighbourUp(peer))
        return True

    def _keep(self, now: float) -> set[str]:
        """Neighbours a forced admission spares while it can: our picks, long-lived links."""
        return {p for p in self.active if p in self._tried_active
                or self._guard.age(p, now) >= self.config.tried_after}

    def _drop(self, victim: str, now: float, out: list[MembershipEffect]) -> None:
        """Evict a neighbour to make room: tell it, close, keep its address."""
        victim_addr = self.active.pop(victim)
        tried = self._forget_neighbour(victim, now, out)
        out.append(Send(victim, Disconnect()))
        self._close(victim, out)
        self._keep_former(victim, victim_addr, tried)

    def _forget_neighbour(self, peer: str, now: float, out: list[MembershipEffect]) -> bool:
        """Drop a neighbour's state; True when it goes back to the tried table.

        Our own picks do, and so do neighbours linked for ``tried_after``
        seconds either way: both ends of a long-lived link count each other
        as known, while a stranger's forced admission stays young (the
        guard evicts the younger half first).
        """
        tried = (peer in self._tried_active
                 or self._guard.age(peer, now) >= self.config.tried_after)
        self._tried_active.discard(peer)
        self._guard.removed(peer)
        self._heard.pop(peer, None)
        self._pings.pop(peer, None)
        out.append(NeighbourDown(peer))
        return tried

    def _fail(self, peer: str, now: float, out: list[MembershipEffect]) -> None:
        """An active neighbour died: replace it from the passive view at once (DESIGN §3)."""
        addr = self.active.pop(peer)
        self._forget_neighbour(peer, now, out)
        self._remember_failed(peer, addr, now)
        self._refill_delay = self.config.keepalive_interval
        self._next_refill = now
        self._repair(now, out)

    def _give_up(self, peer: str) -> None:
        """A dial, Join or Neighbour request to ``peer`` failed: it is no replacement.

        Not remembered for reconnecting: only lost neighbours are (``_fail``),
        which is what a partition leaves behind; a passive entry that timed
        out once is not worth forcing a link to later.
        """
        self._pending.pop(peer, None)
        self._joining.pop(peer, None)
        self._passive.remove(peer)
        self._dialling.pop(peer, None)
        self._outbox.pop(peer, None)
        self._guard.chosen.discard(peer)

    def _add_passive(
        self, peer: str, addr: str, source: str, evictable: set[str] | None = None
    ) -> None:
        """Keep an address heard on the link to ``source`` in the new table (``passive_view``)."""
        if not addr or peer == self.me.node_id or peer in self.active or peer in self.passive:
            return
        if self.config.admission_guard:
            self._passive.add_new(peer, addr, self._guard.group(source), evictable or set())
            return
        # The paper's flat view (the simulator's baseline): a random entry makes room.
        if len(self.passive) >= self.config.passive_view_size:
            victims = [p for p in self.passive if p in evictable] if evictable else []
            if not victims:
                victims = [p for p in self.passive if p not in self._pending]
            if not victims:
                return
            victim = self._rng.choice(victims)
            self._passive.remove(victim)
            if evictable:
                evictable.discard(victim)
        self.passive[peer] = addr

    def _keep_former(self, peer: str, addr: str, tried: bool) -> None:
        """A neighbour left the active view: back to the tried table if it was ours."""
        if not addr or peer in self.passive:
            return
        if tried and self.config.admission_guard:
            self._passive.add_tried(peer, addr)
        else:
            self._add_passive(peer, addr, peer)

    def _integrate(self, peers: Sequence[PeerInfo], prefer_evict: set[str], source: str) -> None:
        evictable = set(prefer_evict)  # entries we just handed out go first (the paper's rule)
        for p in peers:
            self._add_passive(p.node_id, p.addr, source, evictable)

    def _remember_failed(self, peer: str, addr: str, now: float) -> None:
        if not addr or peer in self._failed:
            return  # keep the first failure time, so the entry expires
        self._failed[peer] = (addr, now)
        if len(self._failed) > self.config.failed_memory:
            del self._failed[next(iter(self._failed))]

    def _sample(self, k: int, exclude: str, *, with_active: bool) -> tuple[PeerInfo, ...]:
        pool = [PeerInfo(p, a) for p, a in self.passive.items() if p != exclude]
        if with_active:
            pool += [PeerInfo(p, a) for p, a in self.active.items() if a and p != exclude]
        return tuple(self._rng.sample(pool, min(k, len(pool))))

    # --- links ---

    def _needed(self, peer: str) -> bool:
        return (
            peer in self.active
            or peer in self._pending
            or peer in self._joining
            or peer in self._outbox
        )

    def _send(
        self, peer: str, addr: str, msg: HyParViewMessage, now: float, out: list[MembershipEffect]
    ) -> bool:
        """Send ``msg``, dialling first when there is no link; False when impossible."""
        if peer in self._links:
            out.append(Send(peer, msg))
            return True
        box = self._outbox.get(peer)
        if box is not None:
            box.append(msg)
            return True
        if not addr:
            return False
        self._outbox[peer] = [msg]
        if peer not in self._dialling:
            self._dialling[peer] = now + self.config.neighbour_timeout
            out.append(Connect(peer, addr))
        return True

    def _close(self, peer: str, out: list[MembershipEffect]) -> None:
        self._idle_links.pop(peer, None)
        self._outbox.pop(peer, None)
        if peer in self._links or self._dialling.pop(peer, None) is not None:
            # Closing a dial still in progress cancels it (or ends it once open).
            self._links.discard(peer)
            self._guard.link_down(peer)
            out.append(CloseLink(peer))

    def _request(
        self, peer: str, addr: str, high: bool, now: float, out: list[MembershipEffect]
    ) -> None:
        """Ask ``peer`` to become a neighbour."""
        if self._send(peer, addr, Neighbour(self.me, high), now, out):
            self._pending[peer] = (now + self.config.neighbour_timeout, addr)

    # --- repair, keepalive, shuffle, reconnect ---

    def _repair(self, now: float, out: list[MembershipEffect]) -> None:
        """Fill free active slots from the passive view, all at once (DESIGN §3).

        Requests are high priority when at most half the view is left, not
        only when it is empty (the paper's rule): a handful of nodes whose
        links to the rest were all dropped for joiners can be left holding
        only each other, and since every outside view is full, low-priority
        requests would never reconnect them. A forced drop leaves the victim
        with more than half its view, so this cannot cascade.
        """
        need = self.config.active_view_size - len(self.active)
        need -= len(self._pending) + len(self._joining)
        if need <= 0:
            return
        high = 2 * len(self.active) <= self.config.active_view_size
        for peer in self._replacements(need):
            self._request(peer, self.passive[peer], high, now, out)
            self._guard.chosen.add(peer)  # picked by us, not by a walk someone started
        if self.is_isolated() and not self.passive:
            self._rejoin(now, out)

    def _replacements(self, need: int) -> list[str]:
        """Up to ``need`` passive peers to ask, best first (issue #8.5).

        Tried peers (our own earlier picks) before heard-of ones, and one per
        address group not yet among the neighbours before any second one: a
        sybil that accepts every request thus gains nothing by it while an
        honest tried peer or a fresh address group is known.
        """
        busy = self._rejected.union(self._pending, self._dialling)
        if not self.config.admission_guard:  # the paper: any, at random
            pool = [p for p in self.passive if p not in busy]
            return self._rng.sample(pool, min(need, len(pool)))
        used = {self._group_of(p, a) for p, a in self.active.items()}
        used.update(self._group_of(p, a) for p, (_, a) in self._pending.items())
        tried: list[str] = []
        new: list[str] = []
        for p in self.passive:
            if p not in busy:
                (tried if self._passive.is_tried(p) else new).append(p)
        self._rng.shuffle(tried)
        self._rng.shuffle(new)
        picked: list[str] = []
        for diverse in (True, False):
            for p in tried + new:
                if len(picked) == need:
                    return picked
                group = self._group_of(p, self.passive[p])
                if p not in picked and (group not in used or not diverse):
                    picked.append(p)
                    used.add(group)
        return picked

    def _known(self, peer: str) -> bool:
        """Is ``peer`` in our tried table (a long-lived neighbour or our own pick)?

        Its request may displace a neighbour (one that is neither first), from
        a budget of its own (issue #8.5): when strangers fill every slot they
        can take, an honest node that lost a link still gets back into the
        views it held before, and each such admission mostly turns a young
        link into an old one, so the displacements it sets off die out.
        """
        return self.config.admission_guard and self._passive.is_tried(peer)

    def _group_of(self, peer: str, addr: str) -> str:
        return address_group(addr) if addr else self._guard.group(peer)

    def _rejoin(self, now: float, out: list[MembershipEffect]) -> None:
        candidates = [c for c in self._contacts if c.node_id not in self._dialling]
        if not candidates or self._joining or now < self._rejoin_after:
            return
        self._rejoin_after = now + self.config.neighbour_timeout
        self._join_via(self._rng.choice(candidates), now, out)

    def _join_via(self, contact: PeerInfo, now: float, out: list[MembershipEffect]) -> None:
        self._guard.chosen.add(contact.node_id)
        if contact.node_id in self._links:
            out.append(Send(contact.node_id, Join(self.me)))
            self._add_active(contact.node_id, contact.addr, now, out)
        elif self._send(contact.node_id, contact.addr, Join(self.me), now, out):
            self._joining[contact.node_id] = contact.addr

    def _keepalive(self, now: float, out: list[MembershipEffect]) -> None:
        cfg = self.config
        for peer in self.active:
            if peer in self._pings:
                continue
            if now - self._heard.get(peer, now) >= cfg.keepalive_interval:
                self._nonce = (self._nonce + 1) & 0xFFFFFFFF
                out.append(Send(peer, Ping(self._nonce)))
                self._pings[peer] = now + cfg.ping_timeout
        # Links nobody needs (an exchange whose last message was lost) get closed.
        for peer, since in list(self._idle_links.items()):
            if now - since >= cfg.neighbour_timeout and not self._needed(peer):
                self._close(peer, out)
        for peer in [p for p, (_, t) in self._failed.items() if now - t >= cfg.failed_ttl]:
            del self._failed[peer]
        self._rejected.clear()
        if not self.active:
            self._repair(now, out)
        elif len(self.active) < cfg.active_view_size and now >= self._next_refill:
            self._refill_delay = min(2 * self._refill_delay, 4 * cfg.shuffle_interval)
            self._next_refill = now + self._refill_delay
            self._repair(now, out)

    def _shuffle(self, out: list[MembershipEffect]) -> None:
        if not self.active:
            return
        cfg = self.config
        target = self._rng.choice(list(self.active))
        actives = [PeerInfo(p, a) for p, a in self.active.items() if a and p != target]
        passives = [PeerInfo(p, a) for p, a in self.passive.items()]
        sample = self._rng.sample(actives, min(cfg.shuffle_active_count, len(actives)))
        sample += self._rng.sample(passives, min(cfg.shuffle_passive_count, len(passives)))
        self._shuffle_sent = {p.node_id for p in sample}
        out.append(Send(target, Shuffle(self.me, tuple(sample), cfg.shuffle_walk_length)))

    def _reconnect(self, now: float, out: list[MembershipEffect]) -> None:
        """Try one remembered failed peer again, which heals partitions once they end.

        Like Serf's reconnect of failed members. High priority, because after a
        long partition every view on both sides is full and would refuse us.
        """
        busy = self._pending.keys() | self._dialling.keys() | self.active.keys()
        candidates = [p for p in self._failed if p not in busy]
        if candidates:
            peer = self._rng.choice(candidates)
            self._request(peer, self._failed[peer][0], True, now, out)
            self._guard.chosen.add(peer)
