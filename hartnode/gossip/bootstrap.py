"""Joining the overlay: seed URLs first, then the peers heard from most recently.

``bootstrap`` dials the configured seeds (learning their node ids), falls
back to the peers remembered in ``peer_nodes`` across restarts, and joins
through whoever answered, retrying with exponential backoff (1 s to 60 s)
while none does, so a lonely node never spins. A node without seeds is the
first of its network: it joins alone if no remembered peer answers either.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence

import trio

from hartnode.gossip.hyparview import PeerInfo
from hartnode.gossip.peer_record import PeerTable
from hartnode.gossip.peer_store import bootstrap_urls

log = logging.getLogger(__name__)

BOOTSTRAP_BACKOFF = (1.0, 60.0)  # seconds: first retry, cap
REMEMBERED_CONTACTS = 4  # remembered peers dialled when no seed answers
_URL_RE = re.compile(r"wss?://(\[[0-9a-fA-F:.]+\]|[^\s/:]+):(\d{1,5})(/\S*)?")


def parse_url(url: str) -> tuple[str, int]:
    """``ws://HOST:PORT/path`` → (host, port). Raises ValueError."""
    m = _URL_RE.fullmatch(url)
    if not m or int(m.group(2)) > 65535:
        raise ValueError(f"not a ws://HOST:PORT/PATH URL: {url!r}")
    return m.group(1).strip("[]"), int(m.group(2))


async def bootstrap(seeds: Sequence[str], peers: PeerTable,
                    dial_contacts: Callable[[Sequence[str]], Awaitable[list[PeerInfo]]],
                    join: Callable[[list[PeerInfo]], None]) -> None:
    """Dial contacts until some answer (or there are no seeds), then ``join`` through them."""
    delay, cap = BOOTSTRAP_BACKOFF
    while True:
        contacts = await dial_contacts(seeds)
        if not contacts:
            remembered = bootstrap_urls(peers, REMEMBERED_CONTACTS, exclude=tuple(seeds))
            contacts = await dial_contacts(remembered)
        if contacts or not seeds:
            join(contacts)
            return
        log.info("no seed answered; retrying in %.0f s", delay)
        await trio.sleep(delay)  # backoff between bootstrap rounds, not a readiness wait
        delay = min(delay * 2, cap)
