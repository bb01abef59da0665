"""Escrow and wallets as a pure function of the set of events (DESIGN §4, §8).

The original's escrow locked nothing, paid before it marked an escrow
settled, settled "the" escrow between a pair (so the wrong one), and failed
open on budget checks. Here an escrow is the hash of its opening event, its
amount is locked the moment the opening is *funded*, and its outcome is a
function of the events about it, not of the order they arrived in.

Facts (each a signed event; ``events.py`` has the kinds):

- ``Grant``: the only mint, on a central's feed (``mint_check`` decides).
- ``Open``: the borrower's own feed; escrow id = its event hash.
- ``Action``: the borrower's ``release`` / ``dispute`` (valid only with its
  ``ts_ms`` before the deadline) or ``refund`` (only at or after it).
- ``Resolution``: the arbiter's (the escrow's regional, else its central)
  ``lender`` / ``borrower`` outcome.
- ``Receipt``: the lender's signed receipt; evidence, shown, not money.

Outcome of one escrow, by precedence (so two writers never race):

1. the borrower's earliest (by seq) valid release or dispute: a release pays
   the lender; a dispute hands the escrow to the arbiter, whose earliest
   resolution decides (until then: ``disputed``);
2. with neither, the arbiter's earliest resolution (a silent side);
3. else the borrower's refund after the deadline;
4. else ``open``.

Funding: each borrower's openings are funded in seq order while its balance
covers them; the first that does not fit blocks the later ones until credit
arrives (a strict prefix, so more credit only ever funds more). Balances
only grow as facts arrive, so the result is the least fixpoint of a
monotone system, the same whatever the order. Two facts are not monotone:
a higher-precedence outcome replacing an applied one (a backdated borrower
action, an arbiter overriding a refund) and an opening below an already
funded seq (never from a ledger, which ingests each feed in order); both
trigger a full recompute from the facts, counted in ``revisions``.

Settlement (DESIGN §8): lender ⌊90%⌋, regional ⌊9%⌋, central the rest, so
the parts sum to the amount exactly; with no regional its share goes to
central. Amounts are integer milli-Spark.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

LENDER_PERMILLE = 900
REGIONAL_PERMILLE = 90

STATUS_UNFUNDED = "unfunded"
STATUS_OPEN = "open"
STATUS_DISPUTED = "disputed"
STATUS_RELEASED = "released"
STATUS_REFUNDED = "refunded"
STATUS_RESOLVED_LENDER = "resolved_lender"
STATUS_RESOLVED_BORROWER = "resolved_borrower"
TERMINAL = frozenset({STATUS_RELEASED, STATUS_REFUNDED, STATUS_RESOLVED_LENDER,
                      STATUS_RESOLVED_BORROWER})
PAYS_LENDER = frozenset({STATUS_RELEASED, STATUS_RESOLVED_LENDER})
PAYS_BORROWER = frozenset({STATUS_REFUNDED, STATUS_RESOLVED_BORROWER})


@dataclass(frozen=True, slots=True)
class Grant:
    event_hash: str
    origin: str
    to: str
    amount: int
    ts_ms: int = 0
    chain: tuple[tuple[str, str], ...] = ()  # the central's certificate chain, hex pairs


@dataclass(frozen=True, slots=True)
class Open:
    escrow_id: str  # the opening event's hash
    borrower: str
    seq: int
    lender: str
    amount: int
    deadline_ms: int
    regional: str  # "" when the lender has no regional parent
    central: str


@dataclass(frozen=True, slots=True)
class Action:
    event_hash: str
    escrow_id: str
    origin: str
    seq: int
    ts_ms: int
    verb: str  # release | dispute | refund


@dataclass(frozen=True, slots=True)
class Resolution:
    event_hash: str
    escrow_id: str
    origin: str
    seq: int
    outcome: str  # lender | borrower


@dataclass(frozen=True, slots=True)
class Receipt:
    event_hash: str
    escrow_id: str
    origin: str


Fact = Grant | Open | Action | Resolution | Receipt


@dataclass(frozen=True, slots=True)
class Movement:
    """One line of a wallet's history: ``amount`` (signed) for ``reason``."""

    wallet: str
    amount: int
    reason: str  # grant | escrow_lock | escrow_lender | escrow_regional | escrow_central | refund
    ref: str  # the grant's event hash or the escrow id


def split(amount: int) -> tuple[int, int, int]:
    """(lender, regional, central) parts of ``amount``: ⌊90%⌋, ⌊9%⌋, the rest."""
    lender = amount * LENDER_PERMILLE // 1000
    regional = amount * REGIONAL_PERMILLE // 1000
    return lender, regional, amount - lender - regional


def arbiter(op: Open) -> str:
    return op.regional or op.central


@dataclass
class Changes:
    """What one ``add`` changed, for a view to write back."""

    escrows: set[str] = field(default_factory=set)
    wallets: set[str] = field(default_factory=set)
    movements: list[Movement] = field(default_factory=list)
    revised: bool = False  # everything was recomputed: rewrite every derived row


def _never(_: Grant) -> bool:
    return False


class Book:
    """Every compute fact this node holds and what follows from them.

    Args:
        mint_check: whether a grant was signed by a central (the caller knows
            the pinned master key); without one nothing is ever minted.
    """

    def __init__(self, mint_check: Callable[[Grant], bool] = _never) -> None:
        self.mint_check = mint_check
        self.seen: set[str] = set()
        self.grants: dict[str, Grant] = {}
        self.opens: dict[str, Open] = {}
        self.opens_by_borrower: dict[str, list[Open]] = {}
        self.actions: dict[str, list[Action]] = {}
        self.resolutions: dict[str, list[Resolution]] = {}
        self.receipts: dict[str, Receipt] = {}
        self.revisions = 0
        self.conflicts = 0
        self._reset_derived()

    def _reset_derived(self) -> None:
        self.balance: dict[str, int] = {}
        self.held: dict[str, int] = {}
        self.funded: set[str] = set()
        self.prefix: dict[str, int] = {}
        self.applied: dict[str, str] = {}  # escrow id -> the terminal status paid out
        self.movements: list[Movement] = []
        self.settle_log: list[str] = []

    # -- facts ------------------------------------------------------------------------------

    def add(self, fact: Fact) -> Changes:
        """Take one fact (idempotent by event hash) and bring the state up to date."""
        changes = Changes()
        key = fact.escrow_id if isinstance(fact, Open) else fact.event_hash
        if key in self.seen:
            return changes
        self.seen.add(key)
        work: set[str] = set()
        if isinstance(fact, Grant):
            if not self.mint_check(fact):
                return changes
            self.grants[fact.event_hash] = fact
            self._move(Movement(fact.to, fact.amount, "grant", fact.event_hash), changes)
            work.add(fact.to)
        elif isinstance(fact, Open):
            if fact.lender == fact.borrower or fact.amount <= 0:
                return changes
            self.opens[fact.escrow_id] = fact
            feed = self.opens_by_borrower.setdefault(fact.borrower, [])
            if not feed or feed[-1].seq < fact.seq:
                feed.append(fact)  # the usual case: a ledger ingests a feed in order
                at = len(feed) - 1
            else:
                at = bisect.bisect_left([o.seq for o in feed], fact.seq)
                feed.insert(at, fact)
            changes.escrows.add(fact.escrow_id)
            if at < self.prefix.get(fact.borrower, 0):
                return self._recompute(changes)
            work.add(fact.borrower)
        elif isinstance(fact, Receipt):
            self.receipts.setdefault(fact.escrow_id, fact)
            changes.escrows.add(fact.escrow_id)
            return changes
        else:
            target = self.actions if isinstance(fact, Action) else self.resolutions
            target.setdefault(fact.escrow_id, []).append(fact)  # type: ignore[arg-type]
            changes.escrows.add(fact.escrow_id)
            eid = fact.escrow_id
            if eid in self.applied and self.status(eid) != self.applied[eid]:
                self.conflicts += 1
                return self._recompute(changes)
            if eid in self.funded:
                self._settle(eid, work, changes)
        self._run(work, changes)
        return changes

    def add_all(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            self.add(fact)

    # -- outcome of one escrow --------------------------------------------------------------

    def outcome(self, escrow_id: str) -> str:
        """The status the facts give ``escrow_id``, funding aside (see module doc)."""
        op = self.opens.get(escrow_id)
        if op is None:
            return STATUS_OPEN
        own = sorted((a for a in self.actions.get(escrow_id, ()) if a.origin == op.borrower),
                     key=lambda a: a.seq)
        early = [a for a in own if a.verb in ("release", "dispute") and a.ts_ms < op.deadline_ms]
        judge = arbiter(op)
        ruling = min((r for r in self.resolutions.get(escrow_id, ()) if r.origin == judge),
                     key=lambda r: r.seq, default=None)
        if early and early[0].verb == "release":
            return STATUS_RELEASED
        if early or ruling is not None:
            if ruling is None:
                return STATUS_DISPUTED
            return STATUS_RESOLVED_LENDER if ruling.outcome == "lender" else \
                STATUS_RESOLVED_BORROWER
        if any(a.verb == "refund" and a.ts_ms >= op.deadline_ms for a in own):
            return STATUS_REFUNDED
        return STATUS_OPEN

    def status(self, escrow_id: str) -> str:
        if escrow_id not in self.funded:
            return STATUS_UNFUNDED
        return self.outcome(escrow_id)

    # -- derived state ----------------------------------------------------------------------

    def _move(self, m: Movement, changes: Changes) -> None:
        self.balance[m.wallet] = self.balance.get(m.wallet, 0) + m.amount
        self.movements.append(m)
        changes.movements.append(m)
        changes.wallets.add(m.wallet)

    def _settle(self, eid: str, work: set[str], changes: Changes) -> None:
        """Pay out a funded escrow whose outcome is terminal, once."""
        status = self.outcome(eid)
        if status not in TERMINAL or eid in self.applied:
            return
        op = self.opens[eid]
        self.applied[eid] = status
        self.settle_log.append(eid)
        self.held[op.borrower] -= op.amount
        changes.wallets.add(op.borrower)
        changes.escrows.add(eid)
        if status in PAYS_BORROWER:
            self._move(Movement(op.borrower, op.amount, "refund", eid), changes)
            work.add(op.borrower)
            return
        lender, regional, central = split(op.amount)
        if not op.regional:
            regional, central = 0, regional + central
        parts = [(op.lender, lender, "escrow_lender"), (op.regional, regional, "escrow_regional"),
                 (op.central, central, "escrow_central")]
        for wallet, amount, reason in parts:
            if amount:
                self._move(Movement(wallet, amount, reason, eid), changes)
                work.add(wallet)

    def _run(self, work: set[str], changes: Changes) -> None:
        """Extend funded prefixes until nothing more fits (the least fixpoint)."""
        while work:
            wallet = min(work)
            work.discard(wallet)
            feed = self.opens_by_borrower.get(wallet, [])
            i = self.prefix.get(wallet, 0)
            while i < len(feed) and self.balance.get(wallet, 0) >= feed[i].amount:
                op = feed[i]
                self.funded.add(op.escrow_id)
                self.held[wallet] = self.held.get(wallet, 0) + op.amount
                self._move(Movement(wallet, -op.amount, "escrow_lock", op.escrow_id), changes)
                changes.escrows.add(op.escrow_id)
                i += 1
                self.prefix[wallet] = i
                self._settle(op.escrow_id, work, changes)

    def _recompute(self, changes: Changes) -> Changes:
        self.revisions += 1
        self._reset_derived()
        changes.revised = True
        changes.movements.clear()
        work: set[str] = set()
        for g in self.grants.values():
            self._move(Movement(g.to, g.amount, "grant", g.event_hash), changes)
            work.add(g.to)
        self._run(work, changes)
        changes.movements = list(self.movements)
        changes.escrows = set(self.opens)
        changes.wallets = set(self.balance) | set(self.held)
        return changes

    # -- questions --------------------------------------------------------------------------

    def available(self, wallet: str) -> int:
        """What ``wallet`` can lock in a new escrow now (open escrows already taken out)."""
        return self.balance.get(wallet, 0)

    def minted(self) -> int:
        return sum(g.amount for g in self.grants.values())

    def open_total(self) -> int:
        """Σ amounts of funded escrows not yet settled."""
        return sum(self.held.values())

    def settled_count(self) -> dict[str, int]:
        """How many times each escrow was paid out (each must be at most 1)."""
        counts: dict[str, int] = {}
        for eid in self.settle_log:
            counts[eid] = counts.get(eid, 0) + 1
        return counts

    def snapshot(self) -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
        """(balances, held, status per escrow): what two nodes' views must agree on."""
        balances = {w: b for w, b in self.balance.items() if b or self.held.get(w)}
        held = {w: h for w, h in self.held.items() if h}
        return balances, held, {eid: self.status(eid) for eid in self.opens}
