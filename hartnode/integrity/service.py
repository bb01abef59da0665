"""The trust service: integrity challenges on the overlay's links (DESIGN §4; issue 10).

The trio shell around the sans-I/O cores (``challenge``, ``reputation``):

- attaches to gossip with one ``LinkService``: wire messages ``Challenge``
  (type 80) and ``ChallengeAnswer`` (81), and ``refuse_link``: a link to a
  quarantined peer is refused right after the handshake, before membership
  or any service sees it (as a revoked peer's), and an open one is closed
  when the peer is quarantined;
- every ``round_interval`` (jittered) challenges a random neighbour whose
  record claims our code hash, or no release we know (peers of another
  published release are left to their own version's peers); answers from
  the installed files of every trusted published release;
- records each challenge (``trust.challenge.issued``, local) and verdict
  (``trust.attestation.recorded``), raises a fail as an integrity alert, and
  at start closes the challenges a restart left pending as ``unknown``;
- re-verifies the integrity alerts and the result alerts (redundant
  execution of compute jobs, ``attestation.fraud``) other nodes raise (a
  forged one counts against its sender), folds in the attestations of its
  children when it is a regional (publishing ``policy.quarantine.decided``
  down), and mirrors its
  parent's decisions;
- keeps its scores in ``trust_reputation`` and each judged peer's
  ``peer_nodes.integrity_status``.

Reading 8 × 4 KiB of the install per answer happens in the trio thread: it
is ~32 KiB from the page cache a few times an hour, cheaper than a thread hop.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from hartnode.attestation import fraud
from hartnode.attestation import trust_events as te
from hartnode.attestation.challenge import (
    Ask,
    Challenge,
    ChallengeAnswer,
    ChallengeError,
    ChallengeIssuer,
    ChallengeParams,
    ChallengeResponder,
    LocalChallengeError,
    Outcome,
    RangeReader,
    Verdict,
    paced,
    restart_verdicts,
)
from hartnode.attestation.manifest import Manifest, ReleaseBytes
from hartnode.attestation.reputation import Decision, Reputation, ReputationParams, Standing
from hartnode.compute.events import RECEIPT_SIGNED
from hartnode.gossip.link_service import LinkService
from hartnode.gossip.overlay_config import OverlayConfig
from hartnode.gossip.service import GossipService
from hartnode.gossip.wire import wire_message
from hartnode.hierarchy.direction import Roles
from hartnode.identity import is_node_id
from hartnode.ledger import store
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.items import IngestResult
from hartnode.ledger.log import Draft
from hartnode.ledger.node_ledger import NodeLedger

log = logging.getLogger(__name__)
INBOX = 256  # challenge messages and link events waiting; beyond it they are dropped
SAVE_S = 30.0  # seconds between writes of the reputation table
# Result alerts remembered as counted (by the wrong receipt's signature); in
# memory, so a restart may count a relayed copy once more: one fail, bounded.
COUNTED_RECEIPTS = 4096
CODE_PREFIX = "code:"


@wire_message("integrity")
@dataclass(frozen=True)
class ChallengeMessage:
    """A signed integrity challenge (``challenge.Challenge`` on the wire)."""

    body: bytes
    sig: bytes


@wire_message("integrity")
@dataclass(frozen=True)
class ChallengeAnswerMessage:
    """A target's signed answer (``challenge.ChallengeAnswer`` on the wire)."""

    body: bytes
    sig: bytes


def for_overlay(config: OverlayConfig, per_round: int = 1) -> ChallengeParams:
    """Challenge params of a bandwidth profile (``challenge_interval``, ``challenge_timeout``)."""
    return paced(config.challenge_interval, config.challenge_timeout, per_round)


def code_capability(root_hex: str) -> str:
    """The peer-record capability naming a code hash (its first 128 bits)."""
    return CODE_PREFIX + root_hex[:32]


def claimed_code(capabilities: tuple[str, ...]) -> str | None:
    for cap in capabilities:
        if cap.startswith(CODE_PREFIX):
            return cap[len(CODE_PREFIX):]
    return None


@dataclass(frozen=True)
class TrustSettings:
    install_root: Path  # the directory the manifest's paths are relative to
    manifest: Manifest  # this node's installed files (its root is the code hash)
    master_public_key: bytes | None
    params: ChallengeParams
    reputation: ReputationParams = field(default_factory=ReputationParams)
    regional: bool = False  # fold in children's attestations and decide for them


class TrustService:
    def __init__(self, gossip: GossipService, node_ledger: NodeLedger, access: StoreAccess,
                 append: Callable[[Draft], Awaitable[Event]], settings: TrustSettings, *,
                 roles: Roles | None = None, rng: random.Random | None = None) -> None:
        self.gossip = gossip
        self.node_ledger = node_ledger
        self.access = access
        self.append = append
        self.settings = settings
        self.roles = roles
        self.rng = rng or random.Random()
        identity = node_ledger.ledger.identity
        assert identity is not None
        self.node_id = identity.node_id
        self.code_hash = settings.manifest.root_hex
        self.issuer = ChallengeIssuer(identity, settings.params)
        self.responder = ChallengeResponder(identity, settings.params)
        self.own = Reputation(settings.reputation)
        self.parent_view = Reputation(settings.reputation)  # our regional's decisions
        self.region = Reputation(settings.reputation)  # a regional's view of its locals
        self.releases: dict[str, RangeReader] = {}
        self.stats: Counter[str] = Counter()
        self._release_rows = -1
        self._waiters: dict[str, list[trio.MemorySendChannel[Verdict]]] = {}
        self._counted_receipts: dict[str, None] = {}  # result alerts counted, oldest first
        self._send, self._inbox = trio.open_memory_channel[tuple[str, str, object]](INBOX)
        gossip.register(LinkService(
            "trust", message_types=frozenset({ChallengeMessage, ChallengeAnswerMessage}),
            on_message=lambda peer, msg: self._enqueue("msg", peer, msg),
            refuse_link=lambda peer: "quarantined" if self.refused(peer) else None))

    # -- what others read -------------------------------------------------------

    def refused(self, peer: str) -> bool:
        """Links to ``peer`` are closed and refused (quarantined here or by our regional)."""
        return self.own.links_refused(peer) or self.parent_view.links_refused(peer)

    def compute_allowed(self, peer: str) -> bool:
        """Whether ``peer`` may take part in compute (trusted in both views)."""
        return self.own.compute_allowed(peer) and self.parent_view.compute_allowed(peer)

    def integrity_status(self, peer: str) -> str:
        if self.parent_view.standing(peer) is not Standing.TRUSTED:
            return self.parent_view.standing(peer).value
        return self.own.integrity_status(peer)

    def rows(self) -> list[dict[str, Any]]:
        """Per judged peer: score, outcomes, integrity_status, quarantine until."""
        rows = self.own.rows()
        judged = {r["node_id"] for r in rows}
        for row in rows:
            row["integrity_status"] = self.integrity_status(row["node_id"])
            parent = self.parent_view.peers.get(row["node_id"])
            if parent is not None and parent.until is not None:
                row["quarantine_until_ms"] = max(row["quarantine_until_ms"] or 0,
                                                 int(parent.until * 1000))
        for peer, rep in self.parent_view.peers.items():
            if peer not in judged:
                rows.append({"node_id": peer, "score": None, "outcomes": {},
                             "integrity_status": rep.standing.value,
                             "quarantine_until_ms": None if rep.until is None
                             else int(rep.until * 1000), "decided_by": "regional"})
        return sorted(rows, key=lambda r: str(r["node_id"]))

    def overview(self) -> dict[str, Any]:
        return {"code_hash": self.code_hash, "release": self.code_hash in self.releases,
                "releases": sorted(self.releases), "pending": len(self.issuer.pending()),
                "stats": dict(self.stats)}

    async def challenge_now(self, peer: str) -> Verdict:
        """Challenge ``peer`` now and wait for the verdict (``hartnode trust challenge``).

        One already in flight to ``peer`` is waited for instead of a second.
        A verdict ``unknown`` says why none could run (``no_link``,
        ``no_release``: our install is not a trusted release, ...).
        """
        send, receive = trio.open_memory_channel[Verdict](1)
        self._enqueue("now", peer, send)
        async with receive:
            return await receive.receive()

    def on_ingested(self, result: IngestResult) -> None:
        """Events from other nodes: alerts to re-verify, attestations, decisions, releases."""
        for _, event in result.stored:
            if event.kind.startswith(("trust.", "policy.release", "policy.quarantine")):
                self._enqueue("event", event.origin, event)

    # -- trio side ------------------------------------------------------------------

    def _enqueue(self, kind: str, peer: str, item: object) -> None:
        try:
            self._send.send_nowait((kind, peer, item))
        except trio.WouldBlock:
            self.stats["dropped"] += 1

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        state = self.node_ledger.views.state
        await self.access.run(te.load_reputation, state, self.own)
        await self._refresh_releases()
        for verdict in restart_verdicts(await self.access.run(te.pending_challenges, state,
                                                              self.node_id)):
            await self._record(verdict)
        self.issuer.start_rounds(trio.current_time(), self.rng)
        if self.code_hash not in self.releases:
            log.warning("trust: this node's installed files match no trusted published release"
                        "; it answers challenges but issues none", extra={"fields": {
                            "code_hash": self.code_hash}})
        task_status.started()
        next_save = trio.current_time() + SAVE_S
        try:
            while True:
                deadline = min(t for t in (self.issuer.get_timer(), next_save,
                                           self._wall_timer()) if t is not None)
                with trio.move_on_at(deadline):
                    kind, peer, item = await self._inbox.receive()
                    await self._handle(kind, peer, item)
                now = trio.current_time()
                for d in self.own.handle_timer(time.time()):
                    await self._decided(d, publish=False)
                for d in self.region.handle_timer(time.time()):
                    await self._decided(d, publish=True)
                if self.issuer.round_due(now):
                    await self._round(now)
                for action in self.issuer.handle_timer(now):
                    await self._act(action)
                if now >= next_save:
                    await self._save()
                    next_save = now + SAVE_S
        finally:
            with trio.CancelScope(shield=True):
                await self._save()

    def _wall_timer(self) -> float | None:
        """The next quarantine end, on trio's clock (reputation runs on the wall clock)."""
        ends = [t for t in (self.own.get_timer(), self.region.get_timer()) if t is not None]
        if not ends:
            return None
        return trio.current_time() + max(0.0, min(ends) - time.time())

    async def _handle(self, kind: str, peer: str, item: object) -> None:
        now = trio.current_time()
        if kind == "msg" and isinstance(item, ChallengeMessage):
            await self._answer(peer, item, now)
        elif kind == "msg" and isinstance(item, ChallengeAnswerMessage):
            try:
                verdict = self.issuer.receive(ChallengeAnswer(item.body, item.sig), sender=peer,
                                              now=now)
            except ChallengeError as e:
                self.stats[f"answer_refused_{e.reason}"] += 1
                return
            await self._record(verdict)
        elif kind == "now":
            await self._challenge_now(peer, item)  # type: ignore[arg-type]
        elif kind == "event" and isinstance(item, Event):
            await self._event(item)

    async def _answer(self, peer: str, msg: ChallengeMessage, now: float) -> None:
        challenge = Challenge(msg.body, msg.sig)
        for attempt in range(2):
            try:
                answer = self.responder.answer(challenge, sender=peer, releases=self.releases,
                                               now=now)
            except ChallengeError as e:
                if e.reason == "unknown_release" and attempt == 0:
                    await self._refresh_releases()  # it may have been published just now
                    continue
                self.stats[f"challenge_refused_{e.reason}"] += 1
                return
            except OSError as e:  # our own install is unreadable: our error, answer nothing
                self.stats["challenge_unreadable"] += 1
                log.warning("trust: cannot read our own install to answer", extra={
                    "fields": {"error": str(e)}})
                return
            self.stats["answered"] += 1
            self.gossip.send(peer, ChallengeAnswerMessage(answer.body, answer.sig))
            return

    def _candidates(self) -> list[str]:
        out = []
        for peer in self.gossip.neighbours():
            if self.refused(peer):
                continue
            entry = self.gossip.peers.entries.get(peer)
            claimed = claimed_code(entry.record.capabilities) if entry is not None else None
            ours = self.code_hash[:32]
            other_release = claimed is not None and claimed != ours and any(
                root[:32] == claimed for root in self.releases)
            if not other_release:  # that release's own peers judge it
                out.append(peer)
        return out

    async def _round(self, now: float) -> None:
        await self._refresh_releases()  # one published here (or ingested) since
        targets = self.issuer.pick_targets(self._candidates(), now, self.rng)
        for target in targets:
            await self._issue(target, now)

    async def _issue(self, target: str, now: float) -> str | None:
        """Start a challenge; None when we cannot (the reason is counted)."""
        reader = self.releases.get(self.code_hash)
        if reader is None:
            self.stats["no_release"] += 1
            return "no_release"
        try:
            ask = self.issuer.issue(target, reader, nonce=os.urandom(32),
                                    challenge_id=os.urandom(16), now=now,
                                    now_ms=time.time_ns() // 1_000_000)
        except LocalChallengeError as e:
            self.stats[f"not_issued_{e.reason}"] += 1
            return e.reason
        except OSError:
            self.stats["own_install_unreadable"] += 1
            return "own_install_unreadable"
        cid = self.issuer.pending()[-1][0]
        await self.append(te.issued_draft(cid, target, self.code_hash))
        self.stats["issued"] += 1
        await self._act(ask)
        return None

    async def _challenge_now(self, peer: str, reply: trio.MemorySendChannel[Verdict]) -> None:
        if peer not in self.issuer.pending_targets():  # else: the verdict of that one
            if not self.gossip.has_link(peer):
                reply.send_nowait(Verdict("", peer, Outcome.UNKNOWN, "no_link"))
                return
            reason = await self._issue(peer, trio.current_time())
            if reason is not None:
                reply.send_nowait(Verdict("", peer, Outcome.UNKNOWN, reason))
                return
        self._waiters.setdefault(peer, []).append(reply)

    async def _act(self, action: Ask | Verdict) -> None:
        if isinstance(action, Verdict):
            await self._record(action)
        elif not self.gossip.send(action.target,
                                  ChallengeMessage(action.challenge.body, action.challenge.sig)):
            self.stats["ask_not_sent"] += 1  # no link now: the deadline runs, a re-ask follows

    async def _record(self, verdict: Verdict) -> None:
        """A verdict: score, attestation, an alert for a signed wrong answer."""
        self.stats[f"verdict_{verdict.outcome.value}"] += 1
        for waiter in self._waiters.pop(verdict.target, []):
            waiter.send_nowait(verdict)
        log.info("trust_verdict", extra={"fields": {
            "peer": verdict.target[:12], "outcome": verdict.outcome.value,
            "reason": verdict.reason}})
        await self.append(te.attestation_draft(verdict, self.code_hash))
        if (verdict.outcome is Outcome.FAIL and verdict.challenge is not None
                and verdict.answer is not None):
            await self.append(te.integrity_alert_draft(verdict.challenge, verdict.answer,
                                                       verdict.target))
        decision = self.own.observe(verdict.target, verdict.outcome, time.time())
        if decision is not None:
            await self._decided(decision, publish=False)

    async def _decided(self, d: Decision, *, publish: bool) -> None:
        log.warning("trust_standing", extra={"fields": {
            "peer": d.peer[:12], "standing": d.standing.value, "score": round(d.score, 4),
            "reason": d.reason, "by": "region" if publish else "self"}})
        if d.standing is Standing.QUARANTINED:
            self.gossip.close_link(d.peer, "quarantined")
        if publish:
            until_ms = 0 if d.until is None else int(d.until * 1000)
            await self.append(te.quarantine_draft(d.peer, d.standing.value, until_ms, d.score,
                                                  d.reason))
        await self._save()

    async def _event(self, event: Event) -> None:
        p = event.payload
        now = time.time()
        if event.kind == te.INTEGRITY_ALERT_RAISED.kind:
            result = te.check_integrity_alert(event, self.releases, self.settings.params)
            self.stats[f"alert_{result.check.value}"] += 1
            if result.check is te.AlertCheck.VERIFIED and result.subject != self.node_id:
                d = self.own.observe(result.subject, Outcome.FAIL, now)
            elif result.check is te.AlertCheck.FORGED:
                d = self.own.penalise(event.origin, now, f"forged alert: {result.reason}")
            else:
                return
            if d is not None:
                await self._decided(d, publish=False)
        elif event.kind == fraud.RESULT_ALERT_RAISED.kind:
            # Redundant execution's verdict (compute): re-verified from the three
            # signed receipts alone; a forged one counts against its sender.
            problem = fraud.check_result_alert(event, RECEIPT_SIGNED)
            self.stats["result_alert_" + ("verified" if problem is None else "forged")] += 1
            if problem is None and p["node_id"] != self.node_id:
                # One wrong receipt is one fail, however many nodes relay it
                # (any node could re-sign the same three receipts as its alert).
                receipt = fraud.accused_receipt(event)
                if receipt in self._counted_receipts:
                    self.stats["result_alert_repeated"] += 1
                    return
                self._counted_receipts[receipt] = None
                while len(self._counted_receipts) > COUNTED_RECEIPTS:
                    del self._counted_receipts[next(iter(self._counted_receipts))]
                d = self.own.observe(p["node_id"], Outcome.FAIL, now)
            elif problem is not None:
                d = self.own.penalise(event.origin, now, f"forged result alert: {problem}")
            else:
                return
            if d is not None:
                await self._decided(d, publish=False)
        elif event.kind == te.ATTESTATION_RECORDED.kind:
            child = self.roles is not None and self.roles.role(event.origin) == "child"
            if self.settings.regional and child and p["verdict"] != "unknown":
                d = self.region.observe(p["subject"], Outcome(p["verdict"]), now)
                if d is not None:
                    await self._decided(d, publish=True)
        elif event.kind == te.QUARANTINE_DECIDED.kind:
            if self.roles is not None and self.roles.role(event.origin) == "parent" \
                    and is_node_id(p["subject"]) and p["subject"] != self.node_id:
                d = self.parent_view.apply(Decision(
                    p["subject"], Standing(p["standing"]),
                    p["until_ms"] / 1000 if p["until_ms"] else None,
                    p["score_ppm"] / 1e6, p["reason"]), now)
                if d is not None and d.standing is Standing.QUARANTINED:
                    self.gossip.close_link(d.peer, "quarantined by the regional")
        elif event.kind == te.RELEASE_PUBLISHED.kind:
            await self._refresh_releases()

    async def _refresh_releases(self) -> None:
        """Trusted published releases we can answer for, read from our own install."""
        state = self.node_ledger.views.state
        count = await self.access.run(
            lambda: int(store.scalar(state, "SELECT COUNT(*) FROM release_manifests")))
        if count == self._release_rows:
            return
        self._release_rows = count
        events = await self.access.run(self._release_events)
        now_ms = time.time_ns() // 1_000_000
        revocations = self.gossip.trust.current.revocations if self.gossip.trust.current else None
        for event in events:
            manifest = te.trusted_release(event, master_public_key=self.settings.master_public_key,
                                          now_ms=now_ms, revocations=revocations)
            if manifest is not None and manifest.root_hex not in self.releases:
                self.releases[manifest.root_hex] = ReleaseBytes(self.settings.install_root,
                                                                manifest)
                log.info("trust_release", extra={"fields": {
                    "version": manifest.version, "root": manifest.root_hex[:16],
                    "ours": manifest.root_hex == self.code_hash}})

    def _release_events(self) -> list[Event]:
        state = self.node_ledger.views.state
        ids = [r[0] for r in state.execute(
            "SELECT source_event FROM release_manifests ORDER BY id DESC LIMIT 32")]
        ledger = self.node_ledger.ledger
        out = []
        for i in ids:
            batch = ledger.read_after(i - 1, 1)
            if batch and batch[0][0] == i:
                out.append(batch[0][1])
        return out

    async def _save(self) -> None:
        state = self.node_ledger.views.state
        statuses = [(self.integrity_status(p), p) for p in
                    set(self.own.peers) | set(self.parent_view.peers)]

        def write() -> None:
            te.save_reputation(state, self.own, time.time_ns() // 1_000_000)
            with state:
                state.executemany("UPDATE peer_nodes SET integrity_status = ? WHERE node_id = ?",
                                  statuses)

        await self.access.run(write)
