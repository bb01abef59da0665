"""Wire messages of compute lending, type numbers 90-92 (``hartnode/wire_numbers.py``).

On any link, requester to provider and back:

    requester -> provider   JobOffer(job_id, kind, params, escrow)   the signed escrow opening
    provider  -> requester  JobAdmit(job_id, admitted, reason)       by the provider's policy
    provider  -> requester  JobResult(job_id, ok, output, result_hash, receipt, reason)

``escrow`` and ``receipt`` are signed events as they travel (``FeedEvent``):
the provider checks the opening's signature, that it names itself as lender
and that the amount covers its price before it admits; the requester checks
the receipt's signature, that it binds this escrow and this result's hash,
before it releases. ``params`` and ``output`` are canonical JSON (RFC 8785).
"""

from __future__ import annotations

from dataclasses import dataclass

from hartnode.gossip.wire import wire_message
from hartnode.replication.messages import FeedEvent

MAX_PARAMS_BYTES = 64 * 1024
MAX_OUTPUT_BYTES = 256 * 1024
JOB_ID_BYTES = 16


@wire_message("compute")
@dataclass(frozen=True)
class JobOffer:
    job_id: bytes
    kind: str
    params: bytes
    escrow: FeedEvent


@wire_message("compute")
@dataclass(frozen=True)
class JobAdmit:
    job_id: bytes
    admitted: bool
    reason: str


@wire_message("compute")
@dataclass(frozen=True)
class JobResult:
    job_id: bytes
    ok: bool
    output: bytes
    result_hash: bytes
    receipt: FeedEvent | None
    reason: str


COMPUTE_TYPES: tuple[type, ...] = (JobOffer, JobAdmit, JobResult)
