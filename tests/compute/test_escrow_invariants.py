"""Invariants of the escrow book as a hypothesis state machine over many nodes' views.

Facts (grants, openings, releases, disputes, refunds, resolutions, receipts,
including invalid and backdated ones) are created by a handful of actors and
delivered to several nodes in any order, some twice. At every step, on
every node: Σ wallets + Σ open escrows = Σ minted, no wallet below zero, no
escrow paid out twice. At the end every node has every fact, and all their
views are equal to each other and to a book rebuilt from scratch.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hartnode.compute import escrow

CENTRAL = "c" * 64
REGIONAL = "r" * 64
ACTORS = [f"{i:x}" * 64 for i in range(1, 4)]
NODES = 4
DEADLINE = 1_000


def _central_only(grant: escrow.Grant) -> bool:
    return grant.origin == CENTRAL


class EscrowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.facts: list[escrow.Fact] = []
        self.books = [escrow.Book(_central_only) for _ in range(NODES)]
        self.delivered: list[set[int]] = [set() for _ in range(NODES)]
        self.seq: dict[str, int] = {}
        self.escrows: list[escrow.Open] = []

    def _next(self, origin: str) -> int:
        self.seq[origin] = self.seq.get(origin, 0) + 1
        return self.seq[origin]

    def _new(self, fact: escrow.Fact) -> None:
        self.facts.append(fact)

    @rule(to=st.sampled_from(ACTORS), amount=st.integers(1_000, 10_000),
          forged=st.booleans())
    def grant(self, to: str, amount: int, forged: bool) -> None:
        origin = ACTORS[0] if forged else CENTRAL
        n = self._next(origin)
        self._new(escrow.Grant(f"g{origin[:4]}{n}", origin, to, amount))

    @rule(borrower=st.sampled_from(ACTORS), lender=st.sampled_from(ACTORS),
          amount=st.integers(1, 3_000), regional=st.booleans())
    def open(self, borrower: str, lender: str, amount: int, regional: bool) -> None:
        n = self._next(borrower)
        op = escrow.Open(f"o{borrower[:4]}{n}", borrower, n, lender, amount, DEADLINE,
                         REGIONAL if regional else "", CENTRAL)
        self.escrows.append(op)
        self._new(op)

    @precondition(lambda self: self.escrows)
    @rule(data=st.data(), verb=st.sampled_from(["release", "dispute", "refund"]),
          late=st.booleans(), by_borrower=st.booleans())
    def act(self, data: st.DataObject, verb: str, late: bool, by_borrower: bool) -> None:
        op = data.draw(st.sampled_from(self.escrows))
        origin = op.borrower if by_borrower else op.lender
        n = self._next(origin)
        self._new(escrow.Action(f"a{origin[:4]}{n}", op.escrow_id, origin, n,
                                DEADLINE + 5 if late else DEADLINE - 5, verb))

    @precondition(lambda self: self.escrows)
    @rule(data=st.data(), outcome=st.sampled_from(["lender", "borrower"]),
          rightful=st.booleans())
    def resolve(self, data: st.DataObject, outcome: str, rightful: bool) -> None:
        op = data.draw(st.sampled_from(self.escrows))
        origin = escrow.arbiter(op) if rightful else op.lender
        n = self._next(origin)
        self._new(escrow.Resolution(f"r{origin[:4]}{n}", op.escrow_id, origin, n, outcome))

    @precondition(lambda self: self.escrows)
    @rule(data=st.data())
    def receipt(self, data: st.DataObject) -> None:
        op = data.draw(st.sampled_from(self.escrows))
        n = self._next(op.lender)
        self._new(escrow.Receipt(f"p{op.lender[:4]}{n}", op.escrow_id, op.lender))

    @precondition(lambda self: self.facts)
    @rule(data=st.data(), node=st.integers(0, NODES - 1))
    def deliver(self, data: st.DataObject, node: int) -> None:
        """Any fact, in any order, possibly again (a duplicate)."""
        i = data.draw(st.integers(0, len(self.facts) - 1))
        self.books[node].add(self.facts[i])
        self.delivered[node].add(i)

    @invariant()
    def conserved_and_never_negative(self) -> None:
        for book in self.books:
            assert sum(book.balance.values()) + book.open_total() == book.minted()
            assert min(book.balance.values(), default=0) >= 0
            assert min(book.held.values(), default=0) >= 0
            assert all(n == 1 for n in book.settled_count().values())

    def teardown(self) -> None:
        for node, book in enumerate(self.books):
            for i, fact in enumerate(self.facts):
                if i not in self.delivered[node]:
                    book.add(fact)
        rebuilt = escrow.Book(_central_only)
        rebuilt.add_all(self.facts)
        expected = rebuilt.snapshot()
        for book in self.books:
            assert book.snapshot() == expected
            assert all(n == 1 for n in book.settled_count().values())


TestEscrowInvariants = EscrowMachine.TestCase
TestEscrowInvariants.settings = settings(max_examples=150, stateful_step_count=60,
                                         deadline=None)
