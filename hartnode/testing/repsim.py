"""Ledger replication on SimNet: the real ``Replicator`` core on every simulated node.

``ReplicationApp`` executes the real ``Replicator``'s effects on SimNet as
``ReplicationService`` (the daemon's trio shell) executes them on sockets;
the protocol (digests, pulls, probes, want shares, fork handling with its
``EvidenceGate``, push verdicts, evidence on link-up) is the core's, not
re-written here. What is the shell's is done the daemon's way: each node is
woken at its core's ``get_timer()`` and calls ``handle_timer`` (a round every
``sync_interval`` seconds, at a phase drawn from the net's rng), ``Serve`` answers with a
``Batch`` from the ledger, ``Ingest`` runs the verified ingest then
``stored`` and ``on_ingested``, fresh events are pushed as ``NewEvents``
over the node's real Plumtree core, built with ``validate``: a delivered
push is relayed on only once judged (``push_verdict``; evidence: it proves a
fork and the gate admits it), so nothing unverified is forwarded.
``RaiseAlert`` appends a fraud alert (``equivocation_alert``), ``Spread``
broadcasts the proof (with the daemon's content-derived message id, so a
proof found by many nodes is one broadcast), ``SendEvidence`` hands a new
neighbour the known proofs before the digest. Each node's ledger is a
``MemLedger`` (its verdict is ``ledger.verdict.place``, as ``Ledger``'s).
The simulator passes its heads to the core on every call (seq-only ledgers,
and a forger's lies); the daemon's core keeps its own.

Where it differs from the daemon, on purpose:
- the core hears active-view changes (``NeighbourUp``/``Down``), not every
  transport link: the daemon also exchanges digests on the short-lived links
  HyParView opens for joins and shuffles;
- handling takes no virtual time: the figures are protocol time (latency,
  rounds, byte budgets), not CPU time (verifying is ~75 µs per event);
- the inbox never overflows (the daemon drops beyond ``INBOX`` messages);
- a ``NewEvents`` push gets a random message id (the daemon: its payload's
  BLAKE3); no two pushes here carry the same bytes, so nothing changes;
- misbehaving nodes neither report nor spread forks.

Misbehaving nodes (``Role``): a *forger* lies about its heads so that every
neighbour pulls from it, serves an impostor event at the top of every feed,
and pushes forged events (impostor signatures, tampered bytes, non-canonical
bytes, broken chain links); a *forker* signs two events at one seq, serves
one (``fork_serve``), pushes the other later (``fork_push``), and goes on
writing on the served branch.

Byte counts: ``replication_size`` is the exact msgpack size of each message
(``tests/replication/test_replication_sim.py`` checks it against ``wire.encode``).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping, Sequence

import blake3

from hartnode.attestation.fraud import equivocation_alert
from hartnode.gossip import wire
from hartnode.identity import NodeIdentity
from hartnode.ledger.envelope import EnvelopeError, Event, decode_event, sign_event
from hartnode.ledger.items import Draft, IngestResult, Withheld
from hartnode.ledger.kinds import KindRegistry
from hartnode.protocol import Send, is_due
from hartnode.replication.core import (
    REPLICATION_TYPES,
    Batch,
    FeedEvent,
    FeedWithheld,
    Heads,
    HeadsDigest,
    HeadsRequest,
    Ingest,
    NewEvents,
    RaiseAlert,
    ReplicationEffect,
    Replicator,
    SendEvidence,
    Serve,
    Spread,
    Want,
    pack_batch,
)
from hartnode.replication.fork_evidence import (
    MAX_ON_LINK,
    MAX_ON_LINK_BYTES,
    ForkEvidence,
    check_evidence,
    fork_evidence,
)
from hartnode.replication.service import PUSH_SENDER, push_chunks
from hartnode.testing.mem_ledger import MemLedger, Verifier
from hartnode.testing.simnet import SimNet, SimNode

NETWORK = frozenset({"network"})  # what a flat link carries (``reaches_for``)
TEXT = "x" * 96  # note text: a ~420-byte envelope, a typical small event


# --- exact msgpack sizes of the replication messages ---


def _bin(n: int) -> int:
    return n + (2 if n < 256 else 3 if n < 65536 else 5)


def _str(n: int) -> int:
    return n + (1 if n < 32 else 2 if n < 256 else 3 if n < 65536 else 5)


def _arr(n: int) -> int:
    return 1 if n < 16 else 3 if n < 65536 else 5


def _uint(v: int) -> int:
    return 1 if v < 128 else 2 if v < 256 else 3 if v < 65536 else 5 if v < 2**32 else 9


def _feed_event(e: FeedEvent) -> int:
    return 2 + _bin(len(e.envelope)) + _bin(len(e.sig))


def _feed_withheld(w: FeedWithheld) -> int:
    return (2 + _bin(len(w.origin)) + _uint(w.seq) + _bin(len(w.hash)) + _bin(len(w.prev))
            + _str(len(w.reach)) + _bin(len(w.sig)))


def replication_size(msg: object) -> int:
    """Bytes of ``wire.encode(msg)`` for a replication message, computed without encoding.

    Raises:
        KeyError: not a replication message.
    """
    t = type(msg)
    if t is Batch:
        b: Batch = msg  # type: ignore[assignment]
        return (2 + _bin(len(b.origin)) + _arr(len(b.events)) + sum(map(_feed_event, b.events))
                + _arr(len(b.withheld)) + sum(map(_feed_withheld, b.withheld)))
    if t is HeadsDigest:
        d: HeadsDigest = msg  # type: ignore[assignment]
        return 2 + _arr(len(d.digests)) + sum(_bin(len(x)) for x in d.digests)
    if t is HeadsRequest:
        r: HeadsRequest = msg  # type: ignore[assignment]
        return 2 + _arr(len(r.buckets)) + sum(map(_uint, r.buckets))
    if t is Heads:
        h: Heads = msg  # type: ignore[assignment]
        return (2 + _arr(len(h.origins)) + sum(_bin(len(o)) for o in h.origins)
                + _arr(len(h.seqs)) + sum(map(_uint, h.seqs))
                + _arr(len(h.hashes)) + sum(_bin(len(x)) for x in h.hashes))
    if t is Want:
        w: Want = msg  # type: ignore[assignment]
        return 2 + _bin(len(w.origin)) + _uint(w.from_seq) + _uint(w.limit)
    if t is NewEvents:
        n: NewEvents = msg  # type: ignore[assignment]
        return 2 + _arr(len(n.events)) + sum(map(_feed_event, n.events))
    if t is ForkEvidence:
        f: ForkEvidence = msg  # type: ignore[assignment]
        return 2 + _feed_event(f.a) + _feed_event(f.b)
    raise KeyError(t)


# --- the nodes ---


class Role(enum.Enum):
    HONEST = "honest"
    FORGER = "forger"
    FORKER = "forker"


class RepNode:
    """One node's replication state: its key, ledger and (per incarnation) core."""

    __slots__ = ("core", "identity", "incarnation", "ledger", "role", "sim", "wake_at")

    def __init__(self, sim: SimNode, identity: NodeIdentity, ledger: MemLedger,
                 role: Role, core: Replicator) -> None:
        self.sim = sim
        self.identity = identity
        self.ledger = ledger  # survives crashes: it is on disk in a real node
        self.role = role
        self.core = core
        self.incarnation = sim.incarnation
        self.wake_at: float | None = None  # the pending wake-up (``ReplicationApp._arm``)

    @property
    def origin(self) -> str:
        return self.identity.node_id


class ReplicationApp:
    """Drives one ``Replicator`` + ``MemLedger`` per node of ``net`` (see the module docstring).

    Args:
        net: the simulated network (this app registers itself as ``net.app``).
        kinds: the event kinds every node knows (the daemon's catalog).
        sync_interval: seconds between anti-entropy rounds (``network.sync_interval``).
    """

    types = REPLICATION_TYPES | {ForkEvidence}

    def __init__(self, net: SimNet, kinds: KindRegistry, *, sync_interval: float = 10.0) -> None:
        self.net = net
        self.verifier = Verifier(kinds)
        self.sync_interval = sync_interval
        self.nodes: dict[str, RepNode] = {}  # by overlay node id
        self.by_origin: dict[str, RepNode] = {}
        self.written: list[Event] = []  # every event appended by a node, in order
        self.forged: set[tuple[bytes, bytes]] = set()  # wire forms of forged events
        self.forged_hashes: set[bytes] = set()  # BLAKE3 of each forged envelope's bytes
        self.honest_pushes: list[bytes] = []  # msg ids of NewEvents honest nodes broadcast
        self.forged_pushes: list[bytes] = []  # msg ids of NewEvents a forger broadcast
        # msg id of each forged push -> indices of the forger and its neighbours then
        self.forged_push_allowed: dict[bytes, set[int]] = {}
        self.forwarded_forged = 0  # forged events an honest node served or pushed
        self.fork: tuple[RepNode, Event, Event] | None = None  # forker, pushed A, served B
        self.saw_fork_version: dict[str, set[bytes]] = {}  # node -> fork hashes offered to it
        self.stored_after_detection = 0  # forker events stored by a node that knew of its fork
        self.alerts = 0
        self.fork_pushed_at: float | None = None  # when version A was pushed
        self.fork_known_at: dict[str, float] = {}  # honest node -> when the fork was new to it
        self.evidence_refused = 0  # ForkEvidence that proved nothing (daemon: evidence_*)
        self._impostors: dict[tuple[str, int], FeedEvent] = {}
        self._fork_wires: dict[tuple[bytes, bytes], bytes] = {}
        self._payloads: dict[bytes, object] = {}  # wire.decode memo (pure function of bytes)
        net.app = self

    # --- building ---

    def add(self, sim: SimNode, role: Role = Role.HONEST) -> RepNode:
        """Give ``sim`` a key (drawn from the net's seeded generator) and a ledger."""
        identity = NodeIdentity.from_seed(self.net.rng.randbytes(32))
        node = RepNode(sim, identity, MemLedger(self.verifier, identity), role, self.new_core())
        self.nodes[sim.node_id] = node
        self.by_origin[identity.node_id] = node
        return node

    def start_rounds(self, nodes: Sequence[RepNode] | None = None) -> None:
        """Start the round timers of ``nodes`` (all when None): each core draws its
        first round's phase from the net's seeded rng (``Replicator.start``)."""
        for node in self.nodes.values() if nodes is None else nodes:
            node.core.start(self.net.now)
            self._arm(node)

    def _arm(self, node: RepNode) -> None:
        """Wake ``node`` at its core's timer; one wake-up is pending per node, as
        the timer moves only when it is handled."""
        due = node.wake_at = node.core.get_timer()
        if due is not None:
            self.net.call_at(due, self._wake(node))

    def _wake(self, node: RepNode) -> Callable[[], None]:
        def tick() -> None:
            if not node.sim.alive:
                # A stopped node's core is not called; the wake-up keeps its
                # phase, and a restarted core is armed at it (``_fresh``).
                node.wake_at = self.net.now + node.core.round_interval
                self.net.call_at(node.wake_at, tick)
                return
            self._fresh(node)
            if is_due(node.core, self.net.now):
                self._apply(node, node.core.handle_timer(self.net.now, self._heads(node)))
            self._arm(node)

        return tick

    # --- writing ---

    def write(self, node: RepNode, drafts: Sequence[Draft]) -> list[Event]:
        """Append ``drafts`` to ``node``'s feed and push them (the committer's path)."""
        events = node.ledger.append(drafts, ts_ms=int(self.net.now * 1000))
        self.written += events
        self._announce(node, events)
        return events

    def note(self, node: RepNode, text: str = TEXT) -> Event:
        [event] = self.write(node, [Draft("note.created", {"text": text})])
        return event

    def _announce(self, node: RepNode, events: Sequence[Event]) -> None:
        # The daemon's chunks (``push_chunks``): by count and by bytes.
        for chunk in push_chunks([FeedEvent(*e.wire()) for e in events if e.reach == "network"]):
            self._push(node, NewEvents(chunk))

    def _push(self, node: RepNode, msg: NewEvents) -> bytes:
        if node.role is Role.HONEST:
            self._check_outgoing(msg.events)
        payload = wire.encode(msg)
        self._payloads[payload] = msg
        msg_id = self.net.broadcast(node.sim, payload)
        if node.role is Role.HONEST:
            self.honest_pushes.append(msg_id)
        return msg_id

    # --- SimApp ---

    def size(self, msg: object) -> int:
        return replication_size(msg)

    def on_neighbour(self, sim: SimNode, peer: str, up: bool) -> None:
        node = self._fresh(self.nodes[sim.node_id])
        if up:
            self._apply(node, node.core.on_link_up(peer, self._heads(node)))
        else:
            node.core.on_link_down(peer)

    def on_message(self, sim: SimNode, peer: str, msg: object) -> None:
        node = self._fresh(self.nodes[sim.node_id])
        if isinstance(msg, ForkEvidence):
            self._take_evidence(node, msg, peer)
            return
        self._apply(node, node.core.on_message(peer, msg, self._heads(node)))

    def on_deliver(self, sim: SimNode, msg_id: bytes, payload: bytes) -> None:
        node = self._fresh(self.nodes[sim.node_id])
        self.net.validated(sim, msg_id, self._take_push(node, payload))

    # --- the shell's duties (as ReplicationService) ---

    def _take_push(self, node: RepNode, payload: bytes) -> bool:
        """Take a delivered broadcast; whether it is fit to relay (as the daemon's)."""
        msg = self._payloads.get(payload)
        if msg is None:
            try:
                msg = wire.decode(payload)
            except wire.DecodeError:
                return False  # the daemon counts it as ``push_undecodable``
            self._payloads[payload] = msg
        if isinstance(msg, NewEvents):
            result = self._ingest(node, [(e.envelope, e.sig) for e in msg.events])
            return node.core.push_verdict(result)
        if isinstance(msg, ForkEvidence):
            return self._take_evidence(node, msg, PUSH_SENDER)
        return False

    def _take_evidence(self, node: RepNode, msg: ForkEvidence, sender: str) -> bool:
        """As ``ReplicationService._take_evidence``: check, admit (the core's
        ``EvidenceGate``, on virtual time), record; the core's effects if new.

        Returns whether it is true evidence taken (new or known)."""
        try:
            check_evidence(msg)
            a, b = decode_event(msg.a.envelope, msg.a.sig), decode_event(msg.b.envelope, msg.b.sig)
            held = node.ledger.head(a.origin) is not None
            if node.core.admit_evidence(sender, msg, held, self.net.now) is not None:
                self.evidence_refused += 1
                return False
            pair = node.ledger.record_fork(a, b)
        except (wire.DecodeError, EnvelopeError):
            self.evidence_refused += 1
            return False
        if pair is not None and self._reports(node):
            self._apply(node, node.core.fork(*pair, held=held, how="fork_proven",
                                             now=self.net.now))
        return True

    def _reports(self, node: RepNode) -> bool:
        """Misbehaving nodes keep their ledger's verdicts but neither report nor spread."""
        return node.role is Role.HONEST and node.sim.alive

    def _alert(self, node: RepNode, a: Event, b: Event) -> None:
        self.alerts += 1
        self.write(node, [equivocation_alert(a, b)])

    def _spread(self, node: RepNode, evidence: ForkEvidence) -> None:
        # ``GossipService.spread``: the daemon's id is the payload's BLAKE3, so
        # a proof this node got by broadcast is already being relayed.
        self.fork_known_at.setdefault(node.sim.node_id, self.net.now)
        payload = wire.encode(evidence)
        msg_id = blake3.blake3(payload).digest(length=16)
        if not node.sim.bc.has_seen(msg_id):
            self.net.broadcast(node.sim, payload, msg_id)

    def _send_evidence(self, node: RepNode, peer: str) -> None:
        """The forks ``node`` knows, to a new neighbour (bounded as the daemon's)."""
        budget = MAX_ON_LINK_BYTES
        for a, b in node.ledger.evidence(MAX_ON_LINK):
            size = len(a[0]) + len(a[1]) + len(b[0]) + len(b[1])
            if size > budget:
                break
            budget -= size
            self.net.send(node.sim, peer, fork_evidence(a, b))

    def new_core(self) -> Replicator:
        """A core sized for the network's bandwidth profile, as the daemon's."""
        cfg = self.net.config
        return Replicator.for_link(cfg.link_rate, cfg.link_burst, self.sync_interval,
                                   rng=self.net.rng)

    def _fresh(self, node: RepNode) -> RepNode:
        """A restarted node starts with a new core (its ledger, forks included, survived)."""
        if node.incarnation != node.sim.incarnation:
            node.incarnation = node.sim.incarnation
            node.core = self.new_core()
            if node.wake_at is not None:  # the round timer runs on at its phase (no
                node.core.start(self.net.now, at=node.wake_at)  # draw: the rng's sequence holds)
            for origin in node.ledger.forked():  # as ``ReplicationService.run``
                node.core.mark_forked(origin)
        return node

    def _heads(self, node: RepNode) -> Mapping[str, int]:
        if node.role is Role.FORGER:
            # Claims one more event of every feed than it has, so that every
            # neighbour keeps pulling from it.
            return {o: s + 1 for o, s in node.ledger.heads.items()}
        return node.ledger.heads

    def _apply(self, node: RepNode, effects: list[ReplicationEffect]) -> None:
        """Carry out the core's effects, as ``ReplicationService._apply`` does."""
        for effect in effects:
            if isinstance(effect, Send):
                self.net.send(node.sim, effect.peer, effect.msg)
            elif isinstance(effect, Serve):
                self._serve(node, effect)
            elif isinstance(effect, Ingest):
                before = node.ledger.heads.get(effect.origin, 0)
                self._ingest(node, effect.items)
                self._apply(node, node.core.on_ingested(effect.peer, effect.origin, before,
                                                        self._heads(node)))
            elif isinstance(effect, SendEvidence):
                self._send_evidence(node, effect.peer)
            elif isinstance(effect, RaiseAlert):
                self._alert(node, effect.a, effect.b)
            elif isinstance(effect, Spread):
                self._spread(node, effect.evidence)
            # ConfirmFeed: a MemLedger takes its own feed from no one anyway.

    def _serve(self, node: RepNode, s: Serve) -> None:
        items = node.ledger.serve(s.origin, s.from_seq, s.limit, NETWORK)
        batch, _ = pack_batch(s.origin, items, s.max_bytes)
        events, markers = batch.events, batch.withheld
        if node.role is Role.FORGER and len(items) < s.limit and s.origin != node.origin:
            events += (self._impostor(node, s.origin),)
        elif node.role is Role.HONEST:
            self._check_outgoing(events)
        self.net.send(node.sim, s.peer, Batch(bytes.fromhex(s.origin), events, markers))

    def _ingest(self, node: RepNode,
                items: list[tuple[bytes, bytes] | Withheld]) -> IngestResult:
        fork = self.fork
        knew = fork is not None and fork[0].origin in node.ledger.forked()
        if fork is not None:
            self._note_fork_versions(node, items)
        result = node.ledger.ingest(items)
        if knew and fork is not None:
            self.stored_after_detection += sum(
                1 for _, e in result.stored if e.origin == fork[0].origin and e.seq > fork[1].seq)
        if self._reports(node):
            self._apply(node, node.core.stored(result, self.net.now))
        return result

    def _check_outgoing(self, events: Sequence[FeedEvent]) -> None:
        if self.forged:
            self.forwarded_forged += sum((e.envelope, e.sig) in self.forged for e in events)

    # --- misbehaviour ---

    def _impostor(self, forger: RepNode, origin: str) -> FeedEvent:
        """An event at the top of ``origin``'s feed, signed with the forger's key."""
        head = forger.ledger.head(origin)
        seq, prev = (head.seq + 1, head.hash.hex()) if head else (1, None)
        known = self._impostors.get((origin, seq))
        if known is not None:
            return known
        event = sign_event(forger.identity, seq=seq, prev=prev, ts_ms=int(self.net.now * 1000),
                           actor="node", kind="note.created", scope="system", reach="network",
                           payload={"text": "impostor"}, provenance={})
        envelope = event.wire()[0].replace(forger.origin.encode(), origin.encode())
        forged = self._impostors[(origin, seq)] = self._forged(envelope, event.sig)
        return forged

    def _forged(self, envelope: bytes, sig: bytes) -> FeedEvent:
        self.forged.add((envelope, sig))
        self.forged_hashes.add(blake3.blake3(envelope).digest())
        return FeedEvent(envelope, sig)

    def forge_push(self, forger: RepNode, rng: random.Random) -> None:
        """Broadcast one ``NewEvents`` of forged events (see the module docstring)."""
        victims = [e for e in self.written[-50:] if e.origin != forger.origin]
        forged: list[FeedEvent] = []
        for victim in rng.sample(victims, min(2, len(victims))):
            env, sig = victim.wire()
            forged.append(self._impostor(forger, victim.origin))
            tampered = env.replace(TEXT.encode(), b"y" * len(TEXT))
            if tampered != env:
                forged.append(self._forged(tampered, sig))
            forged.append(self._forged(env.replace(b'{"actor"', b'{ "actor"'), sig))
        head = forger.ledger.head(forger.origin)
        seq = head.seq + 1 if head else 1
        broken = sign_event(forger.identity, seq=seq, prev=rng.randbytes(32).hex() if seq > 1
                            else None, ts_ms=int(self.net.now * 1000), actor="node",
                            kind="note.created", scope="system", reach="network",
                            payload={"text": "broken link"}, provenance={})
        if seq > 1:  # signed and well-formed, but linked to no event: never storable
            forged.append(self._forged(*broken.wire()))
        allowed = {forger.sim.index} | {self.net.by_id[p].index for p in forger.sim.hv.active}
        msg_id = self._push(forger, NewEvents(tuple(forged)))
        self.forged_pushes.append(msg_id)
        self.forged_push_allowed[msg_id] = allowed

    def fork_serve(self, forker: RepNode) -> None:
        """Append version B at the forker's next seq without pushing it: pulls find it."""
        head = forker.ledger.head(forker.origin)
        seq, prev = (head.seq + 1, head.hash.hex()) if head else (1, None)
        a = sign_event(forker.identity, seq=seq, prev=prev, ts_ms=int(self.net.now * 1000),
                       actor="node", kind="note.created", scope="system", reach="network",
                       payload={"text": "version A"}, provenance={})
        [b] = forker.ledger.append([Draft("note.created", {"text": "version B"})],
                                   ts_ms=int(self.net.now * 1000))
        self.written.append(b)
        self.fork = (forker, a, b)
        self._fork_wires = {a.wire(): a.hash, b.wire(): b.hash}

    def fork_push(self) -> None:
        """Push version A to everyone (after B had time to spread by pulls)."""
        assert self.fork is not None
        forker, a, _ = self.fork
        self.fork_pushed_at = self.net.now
        self._push(forker, NewEvents((FeedEvent(*a.wire()),)))

    def _note_fork_versions(self, node: RepNode,
                            items: list[tuple[bytes, bytes] | Withheld]) -> None:
        wanted = self._fork_wires
        for item in items:
            if not isinstance(item, Withheld):
                h = wanted.get(item)
                if h is not None:
                    self.saw_fork_version.setdefault(node.sim.node_id, set()).add(h)
