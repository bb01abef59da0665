"""``python -m hartnode.testing.sim escrow``: Spark escrow across many nodes, seeded.

    python -m hartnode.testing.sim escrow --nodes 1000 --seed 1

One central mints a grant to every node; borrowers open escrows with random
providers and run ``cpu.hash_chain`` jobs; every job of a (provider, kind)
is replicated by the ``replication.Replicator`` rule (all until 10 valid in a
row, then max(1/n, 5%)), chosen by its ``plan`` and ``pick`` as the daemon's
requester chooses (``ComputeService.submit``); one provider is a cheater that behaves until it is
trusted (``--cheat-after`` jobs) and then returns a wrong result with
probability ``--cheat-rate``. A mismatch takes a third replica; the loser's
escrow is disputed and its regional resolves it for the borrower, the
others are released. Every escrow fact is delivered to ``--observers``
nodes' escrow books over a lossy, duplicating, reordering network (a lost
message is recovered by anti-entropy at the end), and an observer that
crashes rebuilds its book from the facts it had stored (its ledger).

Prints one JSON line: ``conserved`` (Σ wallets + Σ open escrows = Σ minted
on every observer at every check), ``double_settled`` (escrows paid twice,
must be 0), ``views_equal`` (every observer's view identical at the end),
``cheater_caught_after`` (the cheater's jobs from its first wrong answer to
its detection; null if never) beside ``detect_bound_median``, the job count
at which 1 − (1 − p·q)ⁿ reaches 1/2 for the rate p in force when it began
cheating. ``--no-cheater-replicates`` keeps the cheater out of other jobs'
replicas, so only its own jobs' replication can catch it: the case the bound
describes. Exit status 0 when conserved, nothing settled twice and views equal.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

from hartnode.compute import escrow
from hartnode.compute.jobs import hash_chain
from hartnode.compute.replication import Replicator, pick

GRANT = 1_000_000  # milli-Spark per node
JOB_PRICE = 1_000


@dataclass(frozen=True)
class EscrowOptions:
    nodes: int = 1000
    seed: int = 1
    jobs: int = 3000
    observers: int = 8
    loss: float = 0.05
    duplicate: float = 0.05
    crash_rate: float = 0.002
    cheat_after: int = 40
    cheat_rate: float = 0.5
    providers: int = 20
    cheater_replicates: bool = True

    def __post_init__(self) -> None:
        if self.nodes < 10 or self.providers < 3 or self.providers >= self.nodes:
            raise ValueError("need nodes >= 10 and 3 <= providers < nodes")
        if not 0 <= self.loss < 1 or not 0 <= self.duplicate < 1:
            raise ValueError("loss and duplicate are probabilities below 1")


@dataclass
class EscrowResult:
    conserved: bool
    double_settled: int
    views_equal: bool
    cheater_caught_after: int | None
    detect_bound_median: int | None
    escrows: int
    released: int
    disputed_for_borrower: int
    replicated_jobs: int
    revisions: int
    crashes: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _node(i: int) -> str:
    return f"{i:064x}"


def run_escrow(o: EscrowOptions) -> EscrowResult:
    rng = random.Random(o.seed)
    central = _node(0)
    regionals = [_node(i) for i in range(1, max(2, o.nodes // 100) + 1)]
    locals_ = [_node(i) for i in range(len(regionals) + 1, o.nodes)]
    providers = locals_[:o.providers]
    cheater = providers[0]
    region_of = {p: regionals[i % len(regionals)] for i, p in enumerate(providers)}
    seqs: dict[str, int] = {}
    facts: list[escrow.Fact] = []

    def seq(origin: str) -> int:
        seqs[origin] = seqs.get(origin, 0) + 1
        return seqs[origin]

    def emit(fact: escrow.Fact) -> None:
        facts.append(fact)

    def mint(grant: escrow.Grant) -> bool:
        return grant.origin == central

    for n in locals_:
        emit(escrow.Grant(f"g{seq(central)}", central, n, GRANT))
    # The requesters' own books (what their same-write balance check sees).
    truth = escrow.Book(mint)
    truth.add_all(facts)

    observers = [escrow.Book(mint) for _ in range(o.observers)]
    stored: list[list[escrow.Fact]] = [[] for _ in observers]
    lost: list[list[escrow.Fact]] = [[] for _ in observers]
    delivered = 0
    conserved = True
    crashes = 0

    def origin_of(fact: escrow.Fact) -> str:
        return fact.borrower if isinstance(fact, escrow.Open) else fact.origin

    def deliver_new() -> None:
        """Each observer gets the new facts interleaved at random across origins but
        in order per origin, as a ledger ingests them; a lost fact holds back its
        origin's later ones until the next round (anti-entropy pulls them)."""
        nonlocal delivered, crashes, conserved
        batch = facts[delivered:]
        delivered = len(facts)
        for k, book in enumerate(observers):
            pending = lost[k] + batch
            lost[k] = []
            feeds: dict[str, list[escrow.Fact]] = {}
            for fact in pending:
                feeds.setdefault(origin_of(fact), []).append(fact)
            queues = list(feeds.values())
            blocked: set[int] = set()
            while queues:
                i = rng.randrange(len(queues))
                fact = queues[i].pop(0)
                if i in blocked or rng.random() < o.loss:
                    blocked.add(i)
                    lost[k].append(fact)
                else:
                    book.add(fact)
                    stored[k].append(fact)
                    if rng.random() < o.duplicate:
                        book.add(fact)
                if not queues[i]:
                    queues.pop(i)
                    blocked = {b - (b > i) for b in blocked if b != i}
            if rng.random() < o.crash_rate * len(batch):
                crashes += 1
                observers[k] = book = escrow.Book(mint)
                book.add_all(stored[k])  # restart: replay the ledger into the views
            if sum(book.balance.values()) + book.open_total() != book.minted():
                conserved = False

    replicator = Replicator()
    cheater_jobs = 0
    cheating_began_rate: float | None = None
    caught_after: int | None = None
    released = disputed = replicated = 0
    for job in range(o.jobs):
        borrower = rng.choice(locals_[o.providers:])
        provider = rng.choice(providers)
        if truth.available(borrower) < JOB_PRICE * 3:
            continue
        seed = f"{o.seed}:{job}"
        correct = hash_chain(seed, 2)
        key = (provider, "cpu.hash_chain", "")
        replicas = [p for p in providers if o.cheater_replicates or p != cheater]
        # The daemon's own rule (``ComputeService.submit`` calls the same methods).
        chosen = replicator.plan(key, replicas, rng)

        def answer(p: str, correct: str = correct) -> str:
            nonlocal cheater_jobs, cheating_began_rate
            if p != cheater:
                return correct
            cheater_jobs += 1
            if cheater_jobs == o.cheat_after + 1:
                cheating_began_rate = replicator.rate((cheater, "cpu.hash_chain", ""))
            if cheater_jobs > o.cheat_after and rng.random() < o.cheat_rate:
                return "f" * 64
            return correct

        results = {p: answer(p) for p in chosen}
        verdict = None
        if len(chosen) > 1:
            replicated += 1
            verdict = replicator.judge("cpu.hash_chain", "", results)
            if not verdict.decided:
                third = pick(replicas, chosen, rng)
                if third is not None:
                    chosen.append(third)
                    results[third] = answer(third)
                    verdict = replicator.judge("cpu.hash_chain", "", results)
            if cheater in verdict.cheaters and caught_after is None:
                caught_after = max(0, cheater_jobs - o.cheat_after)
        for p in chosen:
            s = seq(borrower)
            eid = f"e{borrower[-6:]}:{s}"
            op = escrow.Open(eid, borrower, s, p, JOB_PRICE, 10**12, region_of[p], central)
            emit(op)
            truth.add(op)
            emit(escrow.Receipt(f"r{p[-6:]}:{seq(p)}", eid, p))
            lied = verdict is not None and p in verdict.cheaters
            if lied:
                emit(escrow.Action(f"d{eid}", eid, borrower, seq(borrower), 0, "dispute"))
                emit(escrow.Resolution(f"v{eid}", eid, region_of[p], seq(region_of[p]),
                                       "borrower"))
                disputed += 1
            else:
                emit(escrow.Action(f"a{eid}", eid, borrower, seq(borrower), 0, "release"))
                released += 1
            for fact in facts[-(3 if not lied else 4):]:
                truth.add(fact)
        if job % 50 == 0:
            deliver_new()
    deliver_new()
    for k, book in enumerate(observers):  # anti-entropy: what was lost arrives at last
        book.add_all(lost[k])
        lost[k] = []
    final = escrow.Book(mint)
    final.add_all(facts)
    snaps = [b.snapshot() for b in observers]
    double = sum(1 for b in [*observers, final] for n in b.settled_count().values() if n > 1)
    conserved = conserved and all(
        sum(b.balance.values()) + b.open_total() == b.minted() for b in [*observers, final])
    bound = None
    if cheating_began_rate is not None and o.cheat_rate > 0:
        pq = cheating_began_rate * o.cheat_rate
        bound = 1 if pq >= 1 else math.ceil(math.log(0.5) / math.log(1 - pq))
    return EscrowResult(
        conserved=conserved, double_settled=double,
        views_equal=all(s == final.snapshot() for s in snaps),
        cheater_caught_after=caught_after, detect_bound_median=bound,
        escrows=len(final.opens), released=released, disputed_for_borrower=disputed,
        replicated_jobs=replicated, revisions=sum(b.revisions for b in observers),
        crashes=crashes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hartnode.testing.sim escrow",
                                     description=__doc__)
    for f in fields(EscrowOptions):
        default = f.default
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f"({default})")
    args = vars(parser.parse_args(argv))
    try:
        options = EscrowOptions(**args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = run_escrow(options)
    print(json.dumps(result.as_dict(), sort_keys=True))
    ok = result.conserved and not result.double_settled and result.views_equal
    return 0 if ok else 1
