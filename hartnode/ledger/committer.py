"""Group commit for the daemon: many concurrent appends, one transaction.

Callers ``await committer.append(draft)`` from any trio task. One writer task
takes everything queued (up to ``max_batch``), commits it in a worker thread
as one transaction, wakes each caller with its event only once the commit is
durable, and then brings the views up to date. Under load, batches grow by
themselves, which is what turns per-event fsyncs into per-batch fsyncs.

Every use of the node's APSW connections goes through ``StoreAccess`` so no
two threads ever touch a connection at once (apsw refuses that).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from hartnode.ledger.envelope import Event
from hartnode.ledger.log import Draft, check_draft
from hartnode.ledger.node_ledger import NodeLedger
from hartnode.metrics import NodeMetrics

T = TypeVar("T")


class StoreAccess:
    """Runs store calls in a worker thread, one at a time."""

    def __init__(self) -> None:
        self._limiter = trio.CapacityLimiter(1)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)


@dataclass
class _Pending:
    draft: Draft
    texts: tuple[str, str]  # check_draft's canonical payload and provenance
    done: trio.Event = field(default_factory=trio.Event)
    event: Event | None = None
    error: BaseException | None = None


class Committer:
    def __init__(self, node_ledger: NodeLedger, access: StoreAccess, *, max_batch: int,
                 metrics: NodeMetrics | None = None,
                 on_committed: Callable[[list[Event]], None] | None = None,
                 gate: trio.Event | None = None) -> None:
        self.node_ledger = node_ledger
        self.access = access
        self.max_batch = max_batch
        self.metrics = metrics
        self.on_committed = on_committed  # e.g. replication pushes the new events
        if gate is None:  # nothing holds own appends back
            gate = trio.Event()
            gate.set()
        self.gate = gate
        self._send, self._receive = trio.open_memory_channel[_Pending](max_batch)

    async def append(self, draft: Draft) -> Event:
        """Sign and durably store ``draft``; returns once it is on disk.

        Raises:
            UnknownKindError, PayloadError, EnvelopeError: checked before
                queueing, so one bad draft never fails a whole batch.
        """
        pending = _Pending(draft, check_draft(self.node_ledger.ledger.kinds, draft))
        await self._send.send(pending)
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.event is not None
        return pending.event

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        # Appends queue up (callers wait) until the feed's head is known: see
        # node.confirm_own_feed. Set from the start when nothing gates it.
        await self.gate.wait()
        async with self._receive:
            while True:
                batch = [await self._receive.receive()]
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                await self._commit(batch)

    async def _commit(self, batch: Sequence[_Pending]) -> None:
        try:
            stored = await self.access.run(self.node_ledger.ledger.append,
                                           [p.draft for p in batch],
                                           [p.texts for p in batch])
        except Exception as e:  # a store failure: every caller of the batch learns it
            for p in batch:
                p.error = e
                p.done.set()
            return
        for p, (_, event) in zip(batch, stored, strict=True):
            p.event = event
            p.done.set()
        if self.on_committed is not None:
            self.on_committed([event for _, event in stored])
        if self.metrics is not None:
            self.metrics.events_appended.inc(len(stored))
            self.metrics.ledger_events.set(float(stored[-1][0]))  # ids are 1..N
        await self.access.run(self.node_ledger.views.catch_up)
