"""HyParView's passive view as Bitcoin's addrman keeps addresses, sans-I/O (issue #8.5).

The paper's passive view is one flat list that every Shuffle, ForwardJoin and
ShuffleReply overwrites at random, so sybils that walk and shuffle often fill
it, and a node that loses a neighbour then repairs from their addresses.
After Bitcoin Core's addrman (Heilman et al., "Eclipse attacks on Bitcoin's
peer-to-peer network", USENIX Security 2015) the view is two tables:

- **tried**: peers this node chose itself and linked to (its own Neighbour
  request accepted, its join contact). Nothing others send can put an entry
  here or push one out: a Shuffle's entries go to *new* only. An entry's slot
  is fixed by a salted hash of its address group, so one group holds at most
  ``TRIED_SLOTS_PER_GROUP`` slots; a tried peer displaced by another of its
  slot goes back to *new*, as in addrman. Up to a third of the view.
- **new**: addresses heard from others, in buckets keyed by a secret per-node
  ``salt``, the *source*'s address group (the link the entry came on) and the
  entry's own address group. One source group reaches at most
  ``NEW_BUCKETS_PER_SOURCE`` buckets of ``NEW_BUCKET_SLOTS`` entries. Once
  the view is full, an entry displaces one of its own bucket when that is
  full, else one of the fullest bucket: whatever a source sends, it churns
  only its own few buckets, and what it crowded in while there was room is
  the first to go. So one source (or a crowd of addresses it relays) holds
  a small share of a contested table.

The salt comes from the shell (``os.urandom``) or, in simulations, from the
seeded rng: an attacker who cannot read it cannot aim at a slot.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random

NEW_BUCKET_SLOTS = 2  # entries per bucket of the new table
NEW_BUCKETS_PER_SOURCE = 4  # buckets of the new table one source address group reaches
TRIED_SLOTS_PER_GROUP = 2  # slots of the tried table one entry address group reaches
TRIED_SHARE = 3  # one entry in TRIED_SHARE of the passive view is kept for tried peers
IPV6_GROUP_PREFIX = 32  # bits of an IPv6 address that name one network (addrman's /32)
IPV4_GROUP_PREFIX = 16  # bits of an IPv4 address that name one network (addrman's /16)


def address_group(addr: str) -> str:
    """The network ``addr`` ("host:port") belongs to: its IPv4 /16 or IPv6 /32, as in addrman.

    Wider than the transport's per-host key: one operator easily owns many
    hosts of a /16 but seldom many /16s. A host that is no IP address (a
    test's or simulator's address) is its own group.
    """
    host = addr.rsplit(":", 1)[0] if addr.count(":") == 1 or addr.startswith("[") else addr
    host = host.strip("[]")
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return addr
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    bits = IPV4_GROUP_PREFIX if isinstance(ip, ipaddress.IPv4Address) else IPV6_GROUP_PREFIX
    return str(ipaddress.ip_network((ip, bits), strict=False))


class PassiveView:
    """The passive view's two tables. ``entries`` (node id -> address) is their union.

    Args:
        size: the passive view's bound (``passive_view_size``); up to a third
            of it is the tried table, and the new table takes the rest.
        salt: this node's secret bucketing key (16 bytes or more from the shell).
        rng: picks which new entry a tried one displaces when the view is full.
    """

    def __init__(self, size: int, salt: bytes, rng: random.Random) -> None:
        self.size = size
        self._salt = salt
        self._rng = rng
        self.tried_size = max(1, size // TRIED_SHARE)
        self.new_buckets = max(1, size // NEW_BUCKET_SLOTS)
        self.entries: dict[str, str] = {}
        self._new: dict[int, set[str]] = {}  # bucket -> node ids
        self._tried: dict[int, str] = {}  # slot -> node id
        self._where: dict[str, tuple[bool, int]] = {}  # node id -> (tried, bucket or slot)

    def __len__(self) -> int:
        return len(self.entries)

    def is_tried(self, peer: str) -> bool:
        where = self._where.get(peer)
        return where is not None and where[0]

    def tried_count(self) -> int:
        return len(self._tried)

    def _hash(self, *parts: str | int) -> int:
        h = hashlib.blake2b(key=self._salt[:64], digest_size=8)
        for part in parts:
            data = str(part).encode()
            h.update(len(data).to_bytes(4, "big") + data)
        return int.from_bytes(h.digest(), "big")

    def new_bucket(self, addr: str, source_group: str) -> int:
        """The bucket of the new table an address heard from ``source_group`` goes to.

        Addrman's rule: the entry's group picks one of the source's
        ``NEW_BUCKETS_PER_SOURCE`` buckets, so a source reaches only those.
        """
        choice = self._hash("n1", source_group, address_group(addr)) % NEW_BUCKETS_PER_SOURCE
        return self._hash("n2", source_group, choice) % self.new_buckets

    def tried_slot(self, peer: str, addr: str) -> int:
        """The one slot of the tried table ``peer`` may take (its group reaches a few)."""
        choice = self._hash("t1", peer) % TRIED_SLOTS_PER_GROUP
        return self._hash("t2", address_group(addr), choice) % self.tried_size

    def add_new(self, peer: str, addr: str, source_group: str, evictable: set[str]) -> bool:
        """Keep a heard-of address; in a full view it displaces one of the fullest bucket.

        Its own bucket when that is full (a source churns only its own few
        buckets), else the fullest one (a source that filled its buckets
        while the view had room loses entries first). Within it an entry of
        ``evictable`` (those we just handed out) goes first, else one at
        random as the paper replaces: the view must stay fresh for repairs to
        find live peers with free slots. Tried entries never go. False when
        there is no room (a view of tried entries only).
        """
        if peer in self.entries:
            return False
        bucket = self.new_bucket(addr, source_group)
        held = self._new.setdefault(bucket, set())
        if len(self.entries) >= self.size:
            pool = held
            if len(held) < NEW_BUCKET_SLOTS:
                most = max((len(b) for b in self._new.values()), default=0)
                if most == 0:
                    return False
                pool = set().union(*(b for b in self._new.values() if len(b) == most))
            ordered = sorted(pool)
            gone = next((p for p in ordered if p in evictable), None)
            if gone is None:
                gone = self._rng.choice(ordered)
            evictable.discard(gone)
            self.remove(gone)
        held.add(peer)
        self._where[peer] = (False, bucket)
        self.entries[peer] = addr
        return True

    def add_tried(self, peer: str, addr: str) -> None:
        """Keep ``peer``, which this node chose and linked to.

        The holder of its slot goes back to the new table, and in a full view
        a random new entry makes room: what others send never displaces a
        tried entry, but our own experience displaces hearsay.
        """
        self.remove(peer)
        slot = self.tried_slot(peer, addr)
        held = self._tried.pop(slot, None)
        if held is not None:
            held_addr = self.entries.pop(held)
            del self._where[held]
            self.add_new(held, held_addr, "tried", set())
        if len(self.entries) >= self.size:
            new = sorted(p for p in self.entries if not self.is_tried(p))
            if not new:
                return
            self.remove(self._rng.choice(new))
        self._tried[slot] = peer
        self._where[peer] = (True, slot)
        self.entries[peer] = addr

    def remove(self, peer: str) -> str | None:
        """Forget ``peer``; its address, or None when it was not here."""
        addr = self.entries.pop(peer, None)
        where = self._where.pop(peer, None)
        if where is not None:
            if where[0]:
                if self._tried.get(where[1]) == peer:
                    del self._tried[where[1]]
            else:
                self._new.get(where[1], set()).discard(peer)
        return addr
