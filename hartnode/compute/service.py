"""The trio shell of compute lending: job offers, admission, results and receipts on links.

One ``LinkService`` (``gossip.register``) claims ``JobOffer``, ``JobAdmit``
and ``JobResult`` (wire 90-92, ``messages``).

Provider: an offer is checked in the callback, cheaply and without blocking:
the job kind and its params (``jobs.validate``), the signed escrow opening
(signature, this node as lender, amount at least ``price_msp``, deadline not
past), the policy (``policy.admit``), and the peer's share of the queue
(``MAX_JOBS_PER_PEER`` in flight, ``QUEUE_JOBS`` in all). Admitted jobs run
one at a time in the service's task; the result goes back with this node's
signed ``compute.receipt.signed`` binding escrow, job and result hash.

A job on a metered backend (``metered``: config ``compute.metered``) is
admitted only when ``allow_metered_for_hive``, and before the backend hears
a byte its most cost is reserved against ``metered_daily_limit_usd``
(``metering.reserve``, in the ledger write that checks the day's total); a
reservation past the limit fails the job with ``daily_limit``. The actual
cost is settled after the call.

Requester: ``request`` opens the escrow (balance checked in the write),
sends the offer with the signed opening, waits for admission and result up
to ``timeout_s``, checks the receipt's signature and what it binds (escrow,
job, params hash, result hash), stores it, and releases the escrow when the
policy auto-settles. A refused or silent provider leaves the escrow open
until its deadline (then refund). A bad message from a peer raises
``RemoteProtocolError``: only its link ends.

``submit`` is the job path with redundant execution (``replication``): the
providers come from peer records (``providers``, ``capabilities``), the
``Replicator`` decides whether a second provider runs the job too, each
replica against its own escrow, in parallel; results are compared by hash
(for ``inference.chat``: the normalised text and the model id, ``jobs``).
Agreement releases both; a mismatch asks a third provider, the two that
agree are released, the odd one's escrow is disputed (its arbiter decides)
and its signed receipt, with the other two, goes out as a
``trust.result_alert.raised`` that any node re-verifies
(``attestation.fraud.check_result_alert``). Escrows are settled only after
the verdict.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import blake3
import trio

from hartnode.attestation.fraud import result_alert_draft
from hartnode.canonical import canonical_text
from hartnode.compute import jobs, metering, policy, wallet
from hartnode.compute.capabilities import Provider, find_providers
from hartnode.compute.events import ESCROW_OPENED, RECEIPT_SIGNED
from hartnode.compute.gpu_probe import GpuFacts
from hartnode.compute.messages import (
    COMPUTE_TYPES,
    JOB_ID_BYTES,
    MAX_OUTPUT_BYTES,
    MAX_PARAMS_BYTES,
    JobAdmit,
    JobOffer,
    JobResult,
)
from hartnode.compute.openai_client import Backend, BackendError
from hartnode.compute.replication import Replicator, pick
from hartnode.gossip.link_service import LinkService
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import EnvelopeError, Event, decode_event
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.protocol import RemoteProtocolError
from hartnode.replication.messages import FeedEvent

if TYPE_CHECKING:  # only the type: catalog imports compute (its views), not the reverse
    from hartnode.catalog import Catalog

MAX_JOBS_PER_PEER = 2  # a peer's jobs admitted and not yet answered
QUEUE_JOBS = 8  # jobs admitted and waiting, all peers together
DEFAULT_TIMEOUT_S = 300.0
MAX_CANDIDATES = 32  # providers from the records a job's replicas are drawn from
REPLICA_TRIES = 3  # providers tried for one replica slot (refused, silent, failed)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Sender(Protocol):
    """What the service needs of the overlay (``GossipService``)."""

    def send(self, peer: str, msg: object) -> bool: ...

    def register(self, service: LinkService) -> None: ...


@dataclass
class JobOutcome:
    job_id: str
    escrow_id: str
    admitted: bool
    reason: str
    output: dict[str, Any] | None = None
    result_hash: str = ""
    receipt: str = ""  # the receipt event's hash
    released: bool = False
    provider: str = ""
    # The lender's signed receipt itself: evidence if replicas disagree.
    receipt_event: Event | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "receipt_event"}


@dataclass
class SubmitOutcome:
    """A job run by ``submit``: the result taken, and how replication judged it.

    ``verdict``: ``single`` (one result, unchecked), ``agreed`` (two replicas
    agree), ``decided`` (2 of 3 after a mismatch; ``cheaters`` lost), ``undecided``
    (no majority: every replica's escrow is disputed), ``failed`` (no result).
    """

    outcome: JobOutcome
    verdict: str
    replicas: list[JobOutcome] = field(default_factory=list)
    cheaters: tuple[str, ...] = ()
    alerts: list[str] = field(default_factory=list)  # result alert event hashes

    def to_json(self) -> dict[str, Any]:
        return {**self.outcome.to_json(), "replication": {
            "verdict": self.verdict, "cheaters": list(self.cheaters), "alerts": self.alerts,
            "replicas": [{"provider": r.provider, "reason": r.reason,
                          "result_hash": r.result_hash, "escrow_id": r.escrow_id,
                          "released": r.released} for r in self.replicas]}}


@dataclass
class _Waiting:
    escrow_id: str
    peer: str
    admit: JobAdmit | None = None
    result: JobResult | None = None
    changed: trio.Event = field(default_factory=trio.Event)


@dataclass(frozen=True)
class _Work:
    peer: str
    job_id: bytes
    kind: str
    params: dict[str, Any]
    escrow_id: str


class ComputeService:
    def __init__(self, gossip: Sender, node_ledger: NodeLedger, access: StoreAccess,
                 catalog: Catalog, *, append: Callable[[Draft], Awaitable[Event]],
                 load_policy: Callable[[], policy.Policy], gpu: GpuFacts, price_msp: int,
                 backend_url: str = "", clock_ms: Callable[[], int] = now_ms,
                 announce: Callable[[list[Event]], None] | None = None,
                 peer_allowed: Callable[[str], bool] = lambda peer: True,
                 providers: Callable[[], Sequence[Provider]] = lambda: (),
                 metered_price: metering.Price | None = None,
                 replicator: Replicator | None = None,
                 rng: random.Random | None = None) -> None:
        self.gossip = gossip
        self.nl = node_ledger
        self.access = access
        self.catalog = catalog
        self.append = append
        self.load_policy = load_policy  # reads the store: called through ``access``
        self.policy: policy.Policy | None = None
        self.gpu = gpu
        self.price_msp = price_msp
        self.backend = Backend(backend_url) if backend_url else None
        self.clock_ms = clock_ms
        # Own events written here, not through the committer (their checks must
        # run in the write): handed to what the committer would tell, so that
        # replication announces them at once instead of at the next round.
        self.announce = announce or (lambda events: None)
        # Integrity (issue 10): a quarantined or probationary peer neither lends
        # to nor borrows from this node (``TrustService.compute_allowed``).
        self.peer_allowed = peer_allowed
        # Requester: who offers compute (from peer records), and the one
        # replication rule (``replication``; the simulator runs the same).
        self.providers = providers
        self.replicator = replicator or Replicator()
        # Replicas are drawn unpredictably: a provider must not guess when it is checked.
        self.rng = rng or random.SystemRandom()
        # Provider: None, or the backend's price (``compute.metered``).
        self.metered_price = metered_price
        self.backend_url = backend_url
        identity = node_ledger.ledger.identity
        assert identity is not None
        self.node_id = identity.node_id
        self.stats: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._waiting: dict[bytes, _Waiting] = {}
        self._send, self._receive = trio.open_memory_channel[_Work](QUEUE_JOBS)
        gossip.register(LinkService("compute", message_types=frozenset(COMPUTE_TYPES),
                                    on_message=self._on_message))

    # -- provider -----------------------------------------------------------------------

    def _refuse(self, peer: str, job_id: bytes, reason: str) -> None:
        self.stats[f"refused_{reason}"] += 1
        self.gossip.send(peer, JobAdmit(job_id, False, reason))

    def _on_message(self, peer: str, msg: object) -> None:
        if isinstance(msg, JobOffer):
            self._on_offer(peer, msg)
        elif isinstance(msg, JobAdmit | JobResult):
            waiting = self._waiting.get(msg.job_id)
            if waiting is None or waiting.peer != peer:
                self.stats["unexpected_answer"] += 1
                return  # a late answer to a job we gave up on: not a protocol error
            if isinstance(msg, JobAdmit):
                waiting.admit = msg
            else:
                if len(msg.output) > MAX_OUTPUT_BYTES:
                    raise RemoteProtocolError("job_result_too_large",
                                              f"output over {MAX_OUTPUT_BYTES} bytes")
                waiting.result = msg
            waiting.changed.set()

    def _on_offer(self, peer: str, offer: JobOffer) -> None:
        if len(offer.job_id) != JOB_ID_BYTES or len(offer.params) > MAX_PARAMS_BYTES:
            raise RemoteProtocolError("job_offer_bad", "a bad job id or params over "
                                      f"{MAX_PARAMS_BYTES} bytes")
        if not self.peer_allowed(peer):
            return self._refuse(peer, offer.job_id, "quarantined")
        try:
            params = json.loads(offer.params)
            if not isinstance(params, dict):
                raise ValueError("params must be an object")
            kind = jobs.validate(offer.kind, params)
        except (ValueError, RecursionError) as e:
            reason = e.reason if isinstance(e, jobs.JobError) else "bad_params"
            return self._refuse(peer, offer.job_id, reason)
        try:
            opening = decode_event(offer.escrow.envelope, offer.escrow.sig)
            self.catalog.kinds.check(opening.kind, opening.payload)
        except (EnvelopeError, ValueError, KeyError):
            return self._refuse(peer, offer.job_id, "bad_escrow")
        p = opening.payload
        if (opening.kind != ESCROW_OPENED.kind or opening.origin != peer
                or p["lender"] != self.node_id or p["job_kind"] != offer.kind
                or p["job_id"] != offer.job_id.hex()):
            return self._refuse(peer, offer.job_id, "bad_escrow")
        if p["amount_msp"] < self.price_msp:
            return self._refuse(peer, offer.job_id, "price")
        if p["deadline_ms"] <= self.clock_ms():
            return self._refuse(peer, offer.job_id, "past_deadline")
        util = self.gpu.gpus[0].utilization_pct if self.gpu.gpus else None
        if self.policy is None:
            return self._refuse(peer, offer.job_id, "starting")
        verdict = policy.admit(self.policy, from_hive=True, needs_gpu=kind.needs_gpu,
                               gpu_util_pct=util, hive_gpu_pct_in_use=0,
                               job_gpu_pct=0,
                               metered_backend=self.metered_price is not None and kind.uses_backend)
        if not verdict.admitted:
            return self._refuse(peer, offer.job_id, verdict.reason)
        if kind.needs_gpu and self.backend is None:
            return self._refuse(peer, offer.job_id, "no_backend")
        if self._in_flight[peer] >= MAX_JOBS_PER_PEER:
            return self._refuse(peer, offer.job_id, "busy")
        try:
            self._send.send_nowait(_Work(peer, offer.job_id, offer.kind, params,
                                         opening.hash_hex))
        except trio.WouldBlock:
            return self._refuse(peer, offer.job_id, "busy")
        self._in_flight[peer] += 1
        self.stats["admitted"] += 1
        self.gossip.send(peer, JobAdmit(offer.job_id, True, "admitted"))

    async def _serve_one(self, work: _Work) -> None:
        kind = jobs.validate(work.kind, work.params)
        call_id = None
        if self.metered_price is not None and kind.uses_backend:
            try:  # before the backend hears a byte (metering)
                call_id = await self.access.run(self._reserve, work)
            except metering.MeteringError as e:
                self.stats["refused_daily_limit"] += 1
                self.gossip.send(work.peer, JobResult(work.job_id, False, b"", b"", None,
                                                      e.reason))
                return
        try:
            ctx = jobs.JobContext(self.backend)
            result = await trio.to_thread.run_sync(
                asyncio.run, jobs.run(work.kind, work.params, ctx))
        except (jobs.JobError, BackendError) as e:
            if call_id is not None:  # what was reserved counts: the call may have cost it
                await self.access.run(self._settle_metered, call_id, work, None)
            self.stats["failed"] += 1
            self.gossip.send(work.peer, JobResult(work.job_id, False, b"", b"", None,
                                                  getattr(e, "reason", "failed")))
            return
        if call_id is not None:
            await self.access.run(self._settle_metered, call_id, work, result)
        output = canonical_text(result.output).encode()
        receipt = await self.append(Draft(RECEIPT_SIGNED.kind, {
            "escrow_id": work.escrow_id, "job_id": work.job_id.hex(),
            "result_hash": result.result_hash, "tokens_in": result.tokens_in,
            "tokens_out": result.tokens_out, "estimated": result.estimated,
            "model_hash": str(result.output.get("model", ""))[:128],
            "job_kind": work.kind, "params_hash": jobs.params_hash(work.params)}))
        self.stats["served"] += 1
        self.gossip.send(work.peer, JobResult(
            work.job_id, True, output, bytes.fromhex(result.result_hash),
            FeedEvent(*receipt.wire()), ""))

    def _reserve(self, work: _Work) -> str:
        assert self.metered_price is not None and self.policy is not None
        return metering.reserve(
            self.nl, limit_uusd=self.policy.metered_daily_limit_uusd, price=self.metered_price,
            prompt_tokens=jobs.prompt_bytes(work.params),
            max_tokens=int(work.params.get("max_tokens", 256)), backend=self.backend_url,
            model=str(work.params.get("model", "")), task_source="hive", now_ms=self.clock_ms())

    def _settle_metered(self, call_id: str, work: _Work, result: jobs.JobResult | None) -> None:
        assert self.metered_price is not None
        if result is None:  # failed: settle at the reservation, which erred high
            tokens_in, tokens_out = jobs.prompt_bytes(work.params), int(
                work.params.get("max_tokens", 256)) + 1
        else:
            tokens_in, tokens_out = result.tokens_in, result.tokens_out
        metering.settle(self.nl, call_id, price=self.metered_price, tokens_in=tokens_in,
                        tokens_out=tokens_out, estimated=result is None or result.estimated,
                        ok=result is not None)

    async def refresh_policy(self) -> policy.Policy:
        """Read the policy again (after a ``compute.config.set``); the callbacks,
        which must not touch the store, use this cached copy."""
        self.policy = await self.access.run(self.load_policy)
        return self.policy

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        await self.refresh_policy()
        task_status.started()
        async for work in self._receive:
            try:
                await self._serve_one(work)
            finally:
                self._in_flight[work.peer] -= 1

    # -- requester ----------------------------------------------------------------------

    async def request(self, peer: str, kind: str, params: dict[str, Any], *, amount_msp: int,
                      central: str, regional: str = "", model: str = "",
                      deadline_ms: int | None = None,
                      timeout_s: float = DEFAULT_TIMEOUT_S, settle: bool = True) -> JobOutcome:
        """Run one job on ``peer`` against a new escrow; see the module doc.
        ``settle`` False leaves the escrow to the caller (``submit`` settles
        replicas after comparing them).

        Raises:
            jobs.JobError: ``params`` are not valid for ``kind``, or ``peer`` is
                quarantined (``quarantined``); nothing was signed.
            wallet.EscrowError: the balance does not cover ``amount_msp``.
        """
        jobs.validate(kind, params)
        if not self.peer_allowed(peer):
            raise jobs.JobError("quarantined", f"{peer[:12]} is quarantined or on probation: "
                                "it takes no compute from this node")
        job_id = secrets.token_bytes(JOB_ID_BYTES)
        deadline = deadline_ms if deadline_ms is not None else (
            self.clock_ms() + int(timeout_s * 2000))
        req = wallet.OpenRequest(lender=peer, amount_msp=amount_msp, deadline_ms=deadline,
                                 central=central, regional=regional, job_id=job_id.hex(),
                                 job_kind=kind, model=model)

        def open_escrow() -> Event:  # one call: another job's opening may follow at once
            return self._own_event(wallet.open_escrow(self.nl, self.catalog, req))
        opening = await self.access.run(open_escrow)
        escrow_id = opening.hash_hex
        self.announce([opening])
        waiting = self._waiting[job_id] = _Waiting(escrow_id, peer)
        outcome = JobOutcome(job_id.hex(), escrow_id, False, "no_answer", provider=peer)
        try:
            self.gossip.send(peer, JobOffer(job_id, kind, canonical_text(params).encode(),
                                            FeedEvent(*opening.wire())))
            with trio.move_on_after(timeout_s):
                while waiting.result is None and not (waiting.admit is not None
                                                      and not waiting.admit.admitted):
                    waiting.changed = trio.Event()
                    await waiting.changed.wait()
        finally:
            del self._waiting[job_id]
        if waiting.admit is not None:
            outcome.admitted, outcome.reason = waiting.admit.admitted, waiting.admit.reason
        if waiting.result is None:
            return outcome
        return await self._take_result(waiting.result, outcome, peer,
                                       jobs.params_hash(params), kind, settle)

    def _own_event(self, escrow_id: str) -> Event:
        """The opening just appended (the newest own event: ``access`` serialises writes)."""
        head = self.nl.ledger.head(self.node_id)
        event = self.nl.ledger.feed(self.node_id, head.seq, 1)[0] if head else None
        if event is None or event.hash_hex != escrow_id:
            raise RuntimeError("the escrow opening is not this node's newest event")
        return event

    async def _take_result(self, result: JobResult, outcome: JobOutcome, peer: str,
                           params_hash: str, kind: str, settle: bool) -> JobOutcome:
        if not result.ok or result.receipt is None:
            outcome.reason = result.reason or "failed"
            return outcome
        digest = blake3.blake3(result.output).hexdigest()
        try:
            receipt = decode_event(result.receipt.envelope, result.receipt.sig)
            output = json.loads(result.output)
        except (EnvelopeError, ValueError):
            outcome.reason = "bad_receipt"
            return outcome
        p = receipt.payload
        if (receipt.kind != RECEIPT_SIGNED.kind or receipt.origin != peer
                or p.get("escrow_id") != outcome.escrow_id or p.get("job_id") != outcome.job_id
                or p.get("result_hash") != digest or result.result_hash.hex() != digest
                or p.get("params_hash") != params_hash or p.get("job_kind") != kind):
            outcome.reason = "bad_receipt"  # evidence for a dispute, not a release
            return outcome
        outcome.output, outcome.result_hash, outcome.receipt = output, digest, receipt.hash_hex
        outcome.receipt_event = receipt
        outcome.reason = "done"
        await self.access.run(self.nl.ingest, [receipt.wire()])
        if settle and (self.policy or await self.refresh_policy()).auto_settle:
            await self._settle(outcome, "release", "")
        return outcome

    async def _settle(self, outcome: JobOutcome, step: str, reason: str) -> None:
        """Release or dispute one escrow of this node's (checked in the write)."""
        def write() -> list[Event]:
            if step == "release":
                wallet.release(self.nl, self.catalog, outcome.escrow_id, now_ms=self.clock_ms())
            else:
                wallet.dispute(self.nl, self.catalog, outcome.escrow_id, reason[:500],
                               now_ms=self.clock_ms())
            return self.nl.ledger.tail(1)  # in the same call: the step just signed
        try:
            signed = await self.access.run(write)
        except wallet.EscrowError as e:  # past its deadline, say: the refund path remains
            self.stats[f"settle_{e.reason}"] += 1
            return
        outcome.released = step == "release"
        self.announce(signed)

    # -- requester, with redundant execution -----------------------------------------------

    def candidates(self, kind: str, model: str, amount_msp: int) -> list[str]:
        """Providers of ``kind``/``model`` at no more than ``amount_msp`` from peer
        records, best first; not this node, none quarantined."""
        fit = find_providers(self.providers(), model=model, kind=kind,
                             max_price_msp=amount_msp, limit=MAX_CANDIDATES)
        return [p.node_id for p in fit if p.node_id != self.node_id
                and self.peer_allowed(p.node_id)]

    async def submit(self, kind: str, params: dict[str, Any], *, amount_msp: int, central: str,
                     regional: str = "", model: str = "", peer: str | None = None,
                     timeout_s: float = DEFAULT_TIMEOUT_S) -> SubmitOutcome:
        """Run one job with redundant execution; see the module doc. ``peer`` picks
        the provider (else the best of the records); each replica costs
        ``amount_msp`` in its own escrow.

        Raises:
            jobs.JobError: bad params, or no provider (``no_provider``).
            wallet.EscrowError: the balance does not cover an escrow.
        """
        jobs.validate(kind, params)
        model = model or str(params.get("model", ""))  # a chat job names its model
        candidates = self.candidates(kind, model, amount_msp)
        primary = peer or (candidates[0] if candidates else None)
        if primary is None:
            raise jobs.JobError("no_provider", f"no peer record offers {kind}"
                                + (f" of {model}" if model else "") + f" at {amount_msp} msp")
        # Three rounds at most (two in parallel, then a third): the escrows
        # must outlive them all, since they are settled after the verdict.
        deadline = self.clock_ms() + int(timeout_s * 3000)
        tried: set[str] = set()

        async def ask(provider: str) -> JobOutcome:
            tried.add(provider)
            return await self.request(provider, kind, params, amount_msp=amount_msp,
                                      central=central, regional=regional, model=model,
                                      deadline_ms=deadline, timeout_s=timeout_s, settle=False)

        async def replica(exclude: set[str], first: str | None = None) -> JobOutcome | None:
            """A result from another provider, trying a few (refused, silent, failed)."""
            for _ in range(REPLICA_TRIES):
                other = first or pick(candidates, exclude | tried, self.rng)
                first = None
                if other is None:
                    return None
                out = await ask(other)
                if out.reason == "done":
                    return out
                replicas.append(out)
            return None

        replicas: list[JobOutcome] = []
        chosen = self.replicator.plan((primary, kind, model), candidates, self.rng)
        got: dict[str, JobOutcome] = {}

        async def first() -> None:
            got["primary"] = await ask(primary)

        async def second() -> None:
            out = await replica({primary}, chosen[1])  # the plan's draw, then others
            if out is not None:
                got["second"] = out
        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            if len(chosen) > 1:
                nursery.start_soon(second)
        main = got["primary"]
        done = [o for o in (main, got.get("second")) if o is not None and o.reason == "done"]
        replicas.extend(o for o in (main, got.get("second")) if o is not None)
        if len(done) < 2:  # nothing to compare with: the result stands alone, unchecked
            taken = done[0] if done else main
            if taken.reason == "done":
                await self._settle_if_auto(taken)
            return SubmitOutcome(taken, "single" if done else "failed", replicas)
        verdict = self.replicator.judge(kind, model, {o.provider: o.result_hash for o in done})
        if not verdict.decided:
            self.stats["replica_mismatch"] += 1
            third = await replica({o.provider for o in done})
            if third is not None:
                done.append(third)
                replicas.append(third)
                verdict = self.replicator.judge(kind, model,
                                                {o.provider: o.result_hash for o in done})
        if not verdict.decided:  # no majority: nobody is paid blind, the arbiters decide
            for o in done:
                await self._settle(o, "dispute", "replicas disagree and no majority")
            main.reason = "replicas_disagree"
            return SubmitOutcome(main, "undecided", replicas)
        alerts: list[str] = []
        for o in done:
            if o.provider in verdict.cheaters:
                await self._settle(o, "dispute", f"result_mismatch: lost 2 of 3 on job "
                                                 f"{jobs.params_hash(params)[:16]}")
                receipts = [r.receipt_event for r in done if r.receipt_event is not None]
                alert = await self.append(result_alert_draft(o.provider, receipts))
                alerts.append(alert.hash_hex)
                self.stats["cheater_caught"] += 1
            else:
                await self._settle_if_auto(o)
        taken = next(o for o in done if o.result_hash == verdict.valid_hash)
        return SubmitOutcome(taken, "decided" if verdict.cheaters else "agreed", replicas,
                             verdict.cheaters, alerts)

    async def _settle_if_auto(self, outcome: JobOutcome) -> None:
        if (self.policy or await self.refresh_policy()).auto_settle:
            await self._settle(outcome, "release", "")

