"""Plumtree keeps one broadcast tree through membership churn: small networks of cores.

Each test wires a few ``Plumtree`` cores with FIFO links (``Net``), replays a
fixed schedule of link changes and broadcasts that once left a node, or a
part of the overlay, off every eager path (the forests behind the flaky
``test_concurrent_first_broadcasts_still_leave_a_broadcast_tree`` in
tests/gossip/test_service.py), and checks that the next broadcast reaches
every node by eager push alone: timers run only where a test says so, so a
node that depends on IHAVE + GRAFT does not get the message at all.
"""

from __future__ import annotations

import random
from collections import deque

from hartnode.gossip.overlay_config import full
from hartnode.gossip.plumtree import BroadcastEffect, Deliver, Gossip, Graft, Plumtree, Prune
from hartnode.protocol import Send

CFG = full()
M0, M1, MA, MB, MX = (bytes([i]) * 16 for i in range(5))


class Net:
    """Plumtree cores and the links between them; messages arrive in the order sent."""

    def __init__(self, *names: str) -> None:
        self.cores = {n: Plumtree(n, CFG, random.Random(1)) for n in names}
        self.links: set[frozenset[str]] = set()
        self.queue: deque[tuple[str, str, object]] = deque()
        self.delivered: dict[str, list[bytes]] = {n: [] for n in names}
        self.sent: list[tuple[str, str, object]] = []
        self.now = 0.0

    def up(self, node: str, peer: str) -> None:
        """``node``'s membership core reports ``peer`` as a new neighbour."""
        self.links.add(frozenset((node, peer)))
        self._apply(node, self.cores[node].on_neighbour_up(peer, self.now))

    def link(self, a: str, b: str) -> None:
        self.up(a, b)
        self.up(b, a)

    def unlink(self, a: str, b: str) -> None:
        self.links.discard(frozenset((a, b)))
        self._apply(a, self.cores[a].on_neighbour_down(b, self.now))
        self._apply(b, self.cores[b].on_neighbour_down(a, self.now))

    def broadcast(self, node: str, msg_id: bytes) -> None:
        self._apply(node, self.cores[node].broadcast(msg_id, b"payload", self.now))

    def settle(self) -> None:
        """Deliver every message in flight (and those they cause), running no timer."""
        while self.queue:
            src, dst, msg = self.queue.popleft()
            if frozenset((src, dst)) in self.links:
                self._apply(dst, self.cores[dst].on_message(src, msg, self.now))

    def advance(self, until: float) -> None:
        """Run every timer due up to ``until``, in time order, settling after each."""
        while True:
            due = [(t, n) for n, c in self.cores.items()
                   if (t := c.get_timer()) is not None and t <= until]
            if not due:
                break
            when, node = min(due)
            self.now = max(self.now, when)
            self._apply(node, self.cores[node].handle_timer(self.now))
            self.settle()
        self.now = until

    def _apply(self, node: str, effects: list[BroadcastEffect]) -> None:
        for e in effects:
            if isinstance(e, Send):
                self.sent.append((node, e.peer, e.msg))
                self.queue.append((node, e.peer, e.msg))
            elif isinstance(e, Deliver):
                self.delivered[node].append(e.msg_id)

    def pushed_everywhere(self, msg_id: bytes) -> list[str]:
        """The nodes a broadcast did not reach by eager push (run no timer before)."""
        return [n for n, ids in self.delivered.items() if msg_id not in ids]


def test_a_tree_link_lost_while_carrying_messages_is_replaced_by_the_next_newcomer() -> None:
    # x hangs below a. Right after the first message, membership drops a-x and
    # gives x a new neighbour b, which both ends would make lazy (a message was
    # seen): x would hear of every later broadcast by IHAVE only.
    net = Net("s", "a", "b", "x")
    for pair in (("s", "a"), ("s", "b"), ("a", "x")):
        net.link(*pair)
    net.broadcast("s", M0)
    net.settle()
    net.now = 0.1  # within graft_timeout of a's push: a carried a broadcast
    net.unlink("a", "x")
    net.link("x", "b")
    net.settle()
    net.now = 5.0
    net.broadcast("s", M1)
    net.settle()
    assert net.pushed_everywhere(M1) == []


def test_a_node_left_with_lazy_links_alone_grafts_one() -> None:
    net = Net("s", "a", "b", "x")
    for pair in (("s", "a"), ("s", "b"), ("a", "x")):
        net.link(*pair)
    net.broadcast("s", M0)
    net.settle()
    net.link("x", "b")  # after the first message: lazy at both ends
    net.now = 3.0  # a has been quiet: no newcomer is owed, but x's last tree link goes
    net.unlink("a", "x")
    net.settle()
    assert ("x", "b", Graft(b"", 1)) in net.sent
    net.now = 5.0
    net.broadcast("s", M1)
    net.settle()
    assert net.pushed_everywhere(M1) == []


def test_a_lost_tree_link_is_replaced_even_after_grafting_a_lazy_neighbour() -> None:
    # x's last tree link a goes while it carries broadcasts; the lazy neighbour
    # x grafts at once is y, which hangs on x alone: the graft keeps y on x's
    # tree, but {x, y} is still cut off. The newcomer b must replace a.
    net = Net("s", "a", "b", "x", "y")
    for pair in (("s", "a"), ("s", "b"), ("a", "x")):
        net.link(*pair)
    net.broadcast("s", M0)
    net.broadcast("y", MX)  # alone: y has seen a message, so its newcomers start lazy
    net.settle()
    net.link("x", "y")  # lazy at both ends
    net.now = 0.1
    net.unlink("a", "x")
    net.link("x", "b")
    net.settle()
    net.now = 5.0
    net.broadcast("s", M1)
    net.settle()
    assert net.pushed_everywhere(M1) == []


def test_a_graft_that_comes_before_the_neighbour_up_makes_the_link_eager() -> None:
    # The two membership cores add each other one at a time: x's GRAFT for the
    # link that replaces a reaches b before b's own NeighbourUp for x.
    net = Net("s", "a", "b", "x")
    for pair in (("s", "a"), ("s", "b"), ("a", "x")):
        net.link(*pair)
    net.broadcast("s", M0)
    net.settle()
    net.now = 0.1
    net.unlink("a", "x")
    net.up("x", "b")
    net.settle()  # b gets the GRAFT from a peer that is not its neighbour yet
    net.up("b", "x")
    assert "x" in net.cores["b"].eager
    net.now = 5.0
    net.broadcast("s", M1)
    net.settle()
    assert net.pushed_everywhere(M1) == []


def test_feeders_that_prune_a_grafted_node_at_once_keep_pushing_to_it() -> None:
    # x has lazy links only (it joined after the tree formed) and grafts a and
    # b at the same instant, for two different messages. Each then gets from x
    # the message the other sent it, a duplicate, and prunes x. Both links fed
    # x a moment ago, so x keeps them: it must say so (GRAFT), or a and b keep
    # x lazy while x keeps them eager, and x is off the tree again.
    net = Net("s", "a", "b", "x")
    net.link("s", "a")
    net.link("s", "b")
    net.broadcast("s", M0)
    net.broadcast("x", MX)  # alone: x has seen a message, so its newcomers start lazy
    net.settle()
    net.link("x", "a")
    net.link("x", "b")
    net.now = 1.0
    net.broadcast("a", MA)
    net.broadcast("b", MB)
    net.settle()
    net.advance(1.0 + CFG.ihave_interval + CFG.graft_timeout)
    assert {(m.msg_id, p) for n, p, m in net.sent
            if n == "x" and isinstance(m, Graft) and m.msg_id} == {(MA, "a"), (MB, "b")}
    assert {(n, m.msg_id) for n, p, m in net.sent if p == "x" and isinstance(m, Prune)} == {
        ("a", MB), ("b", MA)}
    net.now = 5.0
    net.broadcast("s", M1)
    net.settle()
    assert net.pushed_everywhere(M1) == []


def test_a_lazy_peer_that_pushes_a_first_copy_is_grafted() -> None:
    # Our Prune and b's next push crossed: b is a tree link after all, but b
    # has us lazy by now, so only a GRAFT brings its pushes back.
    pt = Plumtree("me", CFG, random.Random(1))
    pt.on_neighbour_up("a", 0.0)
    pt.on_neighbour_up("b", 0.0)
    pt.on_message("a", Gossip(M0, 1, b"x"), 1.0)
    assert pt.on_message("b", Gossip(M0, 2, b"x"), 1.1) == [Send("b", Prune(M0))]
    out = pt.on_message("b", Gossip(M1, 1, b"y"), 3.0)
    assert out[0] == Send("b", Graft(b"", 1)) and "b" in pt.eager


def test_the_last_tree_link_is_kept() -> None:
    pt = Plumtree("me", CFG, random.Random(1))
    pt.on_neighbour_up("a", 0.0)
    pt.on_neighbour_up("b", 0.0)
    assert pt.on_message("b", Prune(MX), 0.0) == []  # b lazy: a is our one tree link
    pt.on_message("a", Gossip(M0, 1, b"x"), 1.0)
    quiet = 1.0 + 2 * CFG.graft_timeout
    # A Prune from a, long after it fed us: honouring it would leave us on lazy links.
    assert pt.on_message("a", Prune(M1), quiet) == [Send("a", Graft(b"", 1))]
    assert list(pt.eager) == ["a"]
    # Nor do we prune it for a duplicate.
    pt.on_message("b", Gossip(M1, 1, b"y"), quiet)  # first copy from b: b eager again
    pt.on_neighbour_down("b", quiet)
    assert pt.on_message("a", Gossip(M1, 3, b"y"), quiet + 2 * CFG.graft_timeout) == []
    assert list(pt.eager) == ["a"]
