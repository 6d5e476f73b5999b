"""Binding revocation toward MAGs (RFC 5846): the Binding Revocation Indications we sent, their
retransmission, and matching the acknowledgements."""

from __future__ import annotations

from dataclasses import dataclass

from netlmm_aaa.core.actions import MH_UDP_PORT, LmaAction, RecordAudit, SendMessage
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.codes import RevocationFlag
from netlmm_aaa.core.events import MobilityMessageReceived, Transport
from netlmm_aaa.core.lma.binding_cache import BindingEntry
from netlmm_aaa.core.lma.pba import v4_packed
from netlmm_aaa.core.lma.timers import Timer, TimerHeap
from netlmm_aaa.core.lma_policy import LmaPolicy
from netlmm_aaa.core.messages import (
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
)
from netlmm_aaa.core.options import (
    IPv4HomeAddressRequestOption,
    MobileNodeIdentifierOption,
    MobilityOption,
)
from netlmm_aaa.core.sequence_numbers import next_sequence


@dataclass(slots=True)
class _Outstanding:
    mn_id: bytes
    message: BindingRevocationIndication
    destination: str
    transport: Transport
    port: int
    retries_left: int
    deadline: float


class Revocations:
    """One outstanding BRI per node; retransmitted every ``bri_retransmit_delay`` up to
    ``bri_max_retries`` times, then given up (and audited)."""

    def __init__(self, policy: LmaPolicy, timers: TimerHeap) -> None:
        self._policy = policy
        self._timers = timers
        self._outstanding: dict[bytes, _Outstanding] = {}
        self._sequence = 0

    def reconfigure(self, policy: LmaPolicy) -> None:
        """A reload: the timers and limits of ``policy`` from the next event on."""
        self._policy = policy

    def send(
        self,
        entry: BindingEntry,
        trigger: int,
        destination: str,
        transport: Transport,
        port: int,
        now: Now,
        actions: list[LmaAction],
    ) -> None:
        """Revoke ``entry``'s session at the MAG reached at ``destination``."""
        self._sequence = next_sequence(self._sequence)
        port = port or MH_UDP_PORT
        options: list[MobilityOption] = [MobileNodeIdentifierOption(entry.mn_id)]
        options.extend(entry.hnp_options)
        if entry.ipv4_home_address is not None:
            options.append(
                IPv4HomeAddressRequestOption(
                    v4_packed(entry.ipv4_home_address), self._policy.ipv4_prefix_length
                )
            )
        bri = BindingRevocationIndication(trigger, self._sequence, RevocationFlag.P, tuple(options))
        outstanding = _Outstanding(
            mn_id=entry.mn_id,
            message=bri,
            destination=destination,
            transport=transport,
            port=port,
            retries_left=self._policy.bri_max_retries,
            deadline=now.monotonic + self._policy.bri_retransmit_delay,
        )
        self._outstanding[entry.mn_id] = outstanding
        self._timers.push(outstanding.deadline, Timer.BRI_RETRANSMIT, entry.mn_id)
        actions.append(
            SendMessage(
                message=bri, destination=destination, transport=transport, destination_port=port
            )
        )
        actions.append(
            RecordAudit(
                kind=AuditKind.BRI_SENT,
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=destination,
                fields={"trigger": int(trigger), "sequence": bri.sequence},
            )
        )

    def acknowledged(
        self,
        event: MobilityMessageReceived,
        message: BindingRevocationAcknowledgement,
        now: Now,
        actions: list[LmaAction],
    ) -> None:
        """A BRA: it settles the BRI of the same sequence (and MN-ID, when it names one) that
        went to the address it came from; anything else is audited as unmatched."""
        named = next((o for o in message.options if type(o) is MobileNodeIdentifierOption), None)
        match = None
        for mn_id, outstanding in self._outstanding.items():
            if outstanding.message.sequence == message.sequence and (
                named is None or named.identifier == mn_id
            ):
                match = mn_id
                break
        if match is None or self._outstanding[match].destination != event.source:
            actions.append(
                RecordAudit(
                    kind=AuditKind.BRA_UNMATCHED,
                    utc=now.utc,
                    peer=event.source,
                    fields={"sequence": message.sequence},
                )
            )
            return
        del self._outstanding[match]
        actions.append(
            RecordAudit(
                kind=AuditKind.BRA_RECEIVED,
                utc=now.utc,
                mn_id=match,
                peer=event.source,
                fields={"status": int(message.status), "sequence": message.sequence},
            )
        )

    def forget(self, mn_id: bytes) -> None:
        """No more retransmissions of ``mn_id``'s BRI (it was never sent)."""
        self._outstanding.pop(mn_id, None)

    def is_current(self, deadline: float, mn_id: bytes) -> bool:
        outstanding = self._outstanding.get(mn_id)
        return outstanding is not None and outstanding.deadline == deadline

    def retransmit(self, mn_id: bytes, now: Now, actions: list[LmaAction]) -> None:
        """The BRI of ``mn_id`` is due again: resend it, or give up when out of retries."""
        outstanding = self._outstanding[mn_id]
        if outstanding.retries_left > 0:
            outstanding.retries_left -= 1
            outstanding.deadline = now.monotonic + self._policy.bri_retransmit_delay
            self._timers.push(outstanding.deadline, Timer.BRI_RETRANSMIT, mn_id)
            actions.append(_send(outstanding))
            return
        del self._outstanding[mn_id]
        actions.append(
            RecordAudit(
                kind=AuditKind.BRI_UNANSWERED,
                utc=now.utc,
                mn_id=mn_id,
                peer=outstanding.destination,
            )
        )


def _send(outstanding: _Outstanding) -> SendMessage:
    return SendMessage(
        message=outstanding.message,
        destination=outstanding.destination,
        transport=outstanding.transport,
        destination_port=outstanding.port,
    )
