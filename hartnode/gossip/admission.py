"""Who may take a full active view's slot: HyParView's eclipse guard, sans-I/O (issue #8.5).

In the paper every Join, and every high-priority Neighbour request, must be
accepted and evicts a random neighbour. Six sybils that re-joined a node over
and over held its active view 92% of the time. The guard keeps the protocol
but changes who pays for a forced admission, after S/Kademlia's and
gossipsub's IP-colocation ideas and Bitcoin's outbound-slot rule:

- **Protected neighbours are never evicted**: certified peers (the shell says
  which, from their verified certificate chain) and up to
  ``protected_outbound`` neighbours this node chose itself (repairs from its
  passive view, reconnects, its join contact), which an attacker cannot pick.
- **The victim is one of the younger half of the unprotected neighbours**,
  one sharing an address group with another neighbour first, and never one
  the core asks to ``keep`` (its own picks, links older than ``tried_after``)
  while another can go: a stream of joiners mostly displaces earlier
  joiners, not the long-lived links.
- **Forced admissions are rate-limited**: one per ``join_eviction_interval``
  seconds on average (a burst of a view's size, for repairs after a
  partition), and none for an address group that forced one within
  ``join_group_interval`` seconds. A refused Join is still
  walked on (the joiner joins the network elsewhere) but gets no slot here.
- **Known peers have their own budget** (``may_force_known``): a peer of the
  node's tried table (``passive_view``) asking back into a full view draws
  on it, so strangers that spend the other one cannot lock out a node's
  old neighbours.

The shell reports each link's address group (``inbound_slots.address_key``)
and whether the peer is certified; the core reports whom it chose. With
``admission_guard`` off the paper's rules apply unchanged (the simulator's
baseline).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Set
from dataclasses import dataclass

from hartnode.gossip.overlay_config import OverlayConfig

MAX_GROUPS_REMEMBERED = 1024  # address groups whose last forced admission is remembered


@dataclass(frozen=True, slots=True)
class LinkFacts:
    """What the shell knows of a link's peer that the core cannot check itself."""

    group: str = ""  # address group of the remote end ("" unknown: its own group)
    certified: bool = False  # the peer proved a tier with a valid certificate chain


class AdmissionGuard:
    """Eviction and forced-admission rules of one node's active view."""

    def __init__(self, config: OverlayConfig) -> None:
        self.config = config
        self._facts: dict[str, LinkFacts] = {}  # peers with an open link
        self._since: dict[str, float] = {}  # active peer -> when it became a neighbour
        self.chosen: set[str] = set()  # peers this node asked of its own accord
        self._forced: dict[str, float] = {}  # group -> last forced admission
        self._tokens = float(config.active_view_size)
        self._refilled = 0.0
        # Known peers' forced admissions draw on their own bucket: strangers
        # that use up theirs must not lock a node's old neighbours out.
        self._known_tokens = float(config.active_view_size)
        self._known_refilled = 0.0

    def link_up(self, peer: str, facts: LinkFacts | None) -> None:
        if facts is not None:
            self._facts[peer] = facts

    def link_down(self, peer: str) -> None:
        self._facts.pop(peer, None)

    def added(self, peer: str, now: float) -> None:
        self._since[peer] = now

    def removed(self, peer: str) -> None:
        self._since.pop(peer, None)
        self.chosen.discard(peer)

    def age(self, peer: str, now: float) -> float:
        """Seconds ``peer`` has been a neighbour (0 when it is none)."""
        since = self._since.get(peer)
        return 0.0 if since is None else now - since

    def may_force_known(self, now: float) -> bool:
        """May a peer from this node's tried table take a slot of a full view? Records it."""
        burst = float(self.config.active_view_size)
        refill = (now - self._known_refilled) / self.config.join_eviction_interval
        self._known_tokens = min(burst, self._known_tokens + refill)
        self._known_refilled = now
        if self._known_tokens < 1.0:
            return False
        self._known_tokens -= 1.0
        return True

    def group(self, peer: str) -> str:
        facts = self._facts.get(peer)
        return facts.group if facts is not None and facts.group else f"peer:{peer}"

    def may_force(self, peer: str, now: float) -> bool:
        """May ``peer`` take a slot of a full view (Join, high-priority Neighbour)? Records it."""
        cfg = self.config
        if not cfg.admission_guard:
            return True
        group = self.group(peer)
        last = self._forced.get(group)
        if last is not None and now - last < cfg.join_group_interval:
            return False
        # A token bucket, a view's worth deep: after a partition or a mass
        # failure several neighbours of a node repair through it at once.
        burst = float(cfg.active_view_size)
        refill = (now - self._refilled) / cfg.join_eviction_interval
        self._tokens = min(burst, self._tokens + refill)
        self._refilled = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        self._forced.pop(group, None)
        self._forced[group] = now
        if len(self._forced) > MAX_GROUPS_REMEMBERED:
            del self._forced[next(iter(self._forced))]
        return True

    def victim(
        self, active: Mapping[str, str], rng: random.Random, keep: Set[str] = frozenset()
    ) -> str | None:
        """The neighbour to evict for a newcomer; None when every one is protected.

        ``keep``: neighbours to spare while another candidate exists (our own
        picks and long-lived links: the first to go are the young strangers).
        """
        peers = list(active)
        if not self.config.admission_guard:
            return rng.choice(peers)
        protected = {p for p in peers if self._facts.get(p, LinkFacts()).certified}
        chosen = sorted((p for p in peers if p in self.chosen), key=lambda p: self._since.get(p, 0))
        # One slot at least stays open to joiners, whatever the settings say.
        protected.update(chosen[:min(self.config.protected_outbound, len(peers) - 1)])
        candidates = [p for p in peers if p not in protected]
        if not candidates:
            return None
        fresh = [p for p in candidates if p not in keep]
        if fresh:
            candidates = fresh
        groups: dict[str, int] = {}
        for p in peers:
            groups[self.group(p)] = groups.get(self.group(p), 0) + 1
        colocated = [p for p in candidates if groups[self.group(p)] > 1]
        if colocated:
            candidates = colocated
        # At random among the younger half: long-lived links are kept, yet the
        # view keeps mixing (always evicting the youngest would let the first
        # few nodes of a network close into a clique that joiners never break).
        candidates.sort(key=lambda p: self._since.get(p, 0.0), reverse=True)
        return rng.choice(candidates[:(len(candidates) + 1) // 2])
