"""What both ends do with an RFC 5847 Heartbeat: answer a request with our Restart Counter, and
read (and audit) the Restart Counter of a response. Liveness bookkeeping stays with each side."""

from __future__ import annotations

from netlmm_aaa.core.actions import RecordAudit, SendMessage, reply_to
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.events import MobilityMessageReceived
from netlmm_aaa.core.messages import Heartbeat
from netlmm_aaa.core.options import RestartCounterOption


def answer_request(
    event: MobilityMessageReceived, request: Heartbeat, restart_counter: int, peer: str, now: Now
) -> tuple[SendMessage, RecordAudit]:
    """The response to a Heartbeat request (§3.1: its sequence number, our Restart Counter),
    and its audit record."""
    counter = RestartCounterOption(restart_counter)
    reply = reply_to(event, Heartbeat(request.sequence, True, False, (counter,)))
    audit = RecordAudit(
        kind=AuditKind.HEARTBEAT_ANSWERED,
        utc=now.utc,
        peer=peer,
        fields={"sequence": request.sequence},
    )
    return reply, audit


def read_response(response: Heartbeat, peer: str, now: Now) -> tuple[int | None, RecordAudit]:
    """A Heartbeat response's Restart Counter (None without the option) and its audit record."""
    option = next((o for o in response.options if type(o) is RestartCounterOption), None)
    counter = option.counter if option is not None else None
    audit = RecordAudit(
        kind=AuditKind.HEARTBEAT_RESPONSE,
        utc=now.utc,
        peer=peer,
        fields={"sequence": response.sequence, "restart_counter": counter},
    )
    return counter, audit
