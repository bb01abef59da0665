"""Dispatching a goal as a compute job through escrow: reserve, request, settle or release.

The order is the point (issue #12, and the original's failing-open budget
checks in issue #11):
1. **reserve** the amount in a guarded write (``writes.reserve``): the goal must be
   active, its budget and the wallet must cover it; anything unreadable refuses;
2. **request** the job through ``ComputeService.request``, which opens the
   escrow (the wallet's own same-write check) and runs the job on the peer;
3. a finished job turns the reservation into spending (``goals.budget.spent``
   with the escrow id); a job the provider did not admit is a **deferral**,
   any other outcome or error a **failure**: both **release** the reservation.
   Cancellation releases too (shielded), and a process that died in step 2
   has its reservation released on the next start (``writes.release_orphans``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from hartnode.apps.goals import queries, writes
from hartnode.compute.jobs import JobError
from hartnode.compute.wallet import EscrowError
from hartnode.ledger.committer import StoreAccess
from hartnode.ledger.envelope import Event
from hartnode.ledger.node_ledger import NodeLedger

DEFAULT_TIMEOUT_S = 300.0


class Outcome(Protocol):
    """What ``ComputeService.request`` answers (``compute.service.JobOutcome``)."""

    job_id: str
    escrow_id: str
    admitted: bool
    reason: str
    output: dict[str, Any] | None


class Requester(Protocol):
    def candidates(self, kind: str, model: str, amount_msp: int) -> list[str]: ...

    async def request(self, peer: str, kind: str, params: dict[str, Any], *, amount_msp: int,
                      central: str, regional: str = "", timeout_s: float = ...) -> Outcome: ...


@dataclass(frozen=True)
class DispatchRequest:
    goal: str
    peer: str
    central: str
    amount_msp: int
    regional: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass
class Dispatcher:
    nl: NodeLedger
    access: StoreAccess
    requester: Requester | None
    read_wallet: writes.WalletReader
    announce: Callable[[list[Event]], None] = lambda events: None

    async def _write(self, fn: Callable[..., Event | None], *args: Any) -> Event | None:
        event = await self.access.run(fn, *args)
        if event is not None:
            self.announce([event])
        return event

    def _provider(self, kind: str, params: dict[str, Any], amount_msp: int) -> str:
        """The best provider the peer records offer for this job (``ComputeService.candidates``)."""
        assert self.requester is not None
        found = self.requester.candidates(kind, str(params.get("model", "")), amount_msp)
        if not found:
            raise JobError("no_provider", f"no peer record offers {kind} at {amount_msp} msp; "
                           "name one with peer")
        return found[0]

    async def dispatch(self, req: DispatchRequest) -> dict[str, Any]:
        """Reserve, run, then spend or release. Returns what happened.

        Raises:
            gate.GateRefused: nothing was reserved (and no job was sent).
        """
        reservation = await self._write(writes.reserve, self.nl, req.goal, req.amount_msp,
                                        self.read_wallet)
        assert reservation is not None
        rid = reservation.hash_hex
        out: dict[str, Any] = {"goal": req.goal, "reservation": rid, "amount_msp": req.amount_msp}
        settled = False
        try:
            if self.requester is None:
                raise JobError("unavailable", "compute is not running on this node")
            goal = await self.access.run(queries.show, self.nl.views.state, req.goal)
            config = goal["config"]
            kind, params = str(config["job_kind"]), dict(config["params"] or {})
            peer = req.peer or self._provider(kind, params, req.amount_msp)
            outcome = await self.requester.request(
                peer, kind, params,
                amount_msp=req.amount_msp, central=req.central, regional=req.regional,
                timeout_s=req.timeout_s)
            out.update(job_id=outcome.job_id, escrow_id=outcome.escrow_id,
                       reason=outcome.reason, output=outcome.output)
            if outcome.reason == "done":
                await self._write(writes.spend, self.nl, rid, outcome.escrow_id, req.amount_msp)
                out["result"] = "spent"
            else:
                why = ("deferred: " if not outcome.admitted else "failed: ") + outcome.reason
                await self._write(writes.release, self.nl, rid, why)
                out["result"] = "deferred" if not outcome.admitted else "failed"
            settled = True
        except (JobError, EscrowError) as e:
            await self._write(writes.release, self.nl, rid, f"failed: {e}")
            out.update(result="failed", reason=str(e))
            settled = True
        finally:
            if not settled:  # cancelled or an unexpected error: give the Spark back first
                with trio.CancelScope(shield=True):
                    await self._write(writes.release, self.nl, rid, "failed: interrupted")
        return out


def parse_request(body: dict[str, Any], goal: str) -> DispatchRequest:
    """A dispatch request from an API body; raises queries.QueryError naming the field.
    Without ``peer`` the provider is the best peer record offering the goal's job."""
    body = {"peer": "", **body}
    for name in ("peer", "central"):
        value = body.get(name)
        from_records = name == "peer" and value == ""
        if not isinstance(value, str) or (len(value) != 64 and not from_records):
            raise queries.QueryError(name, "expected a node id (64 hex digits)")
    amount = body.get("amount_msp")
    if type(amount) is not int or amount <= 0:
        raise queries.QueryError("amount_msp", "expected a positive integer (milli-Spark)")
    timeout = body.get("timeout_s", DEFAULT_TIMEOUT_S)
    if type(timeout) not in (int, float) or not 0 < timeout <= 3600:
        raise queries.QueryError("timeout_s", "expected 0 to 3600 seconds")
    regional = body.get("regional", "")
    if not isinstance(regional, str):
        raise queries.QueryError("regional", "expected a node id or empty")
    return DispatchRequest(goal, body["peer"], body["central"], amount, regional, float(timeout))



