"""Accepted RADIUS accounting: its audit record, and the answer only once that is committed
(RFC 2866 §2). Shared by the MAG's listener and the LMA's ``[lma.aaa]`` listener."""

from __future__ import annotations

import asyncio

from netlmm_aaa.adapters.radius_accounting_forwarder import AccountingForwarder
from netlmm_aaa.adapters.radius_accounting_listener import (
    AccountingListener,
    AccountingReceived,
    Key,
)
from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.persistence.store import SqlStore
from netlmm_aaa.wire.radius_accounting import AccountingRequest


def accounting_audit(
    kind: AuditKind, nas: str, request: AccountingRequest, utc: float, nas_address: str = ""
) -> RecordAudit:
    """The audit record of an accepted request: what the accounting tables (and ``radacct``,
    whose session it opens, updates or closes) keep of it. Absent attributes add no field."""
    fields: dict[str, object] = {
        "status": int(request.status),
        "session_id": request.session_id,
        "mac": request.calling_station_id,
        "called_station_id": request.called_station_id,
        "authentic": request.authentic,
        "delay": request.delay_time,
    }
    extra = {
        "user_name": request.user_name,
        "event_timestamp": request.event_timestamp,
        "session_time": request.session_time,
        "terminate_cause": request.terminate_cause,
        "nas_ip": request.nas_ip_address or request.nas_ipv6_address or nas_address or None,
        "nas_port_id": request.nas_port_id
        or (str(request.nas_port) if request.nas_port is not None else None),
        "nas_port_type": request.nas_port_type,
        "service_type": request.service_type,
        "framed_ip": request.framed_ip_address,
        "framed_ipv6_prefix": request.framed_ipv6_prefix,
    }
    fields.update((k, v) for k, v in extra.items() if v is not None)
    usage = request.usage
    if usage is not None:
        fields.update(in_octets=usage.input_octets, out_octets=usage.output_octets)
        if usage.input_packets is not None:
            fields["in_packets"] = usage.input_packets
        if usage.output_packets is not None:
            fields["out_packets"] = usage.output_packets
    return RecordAudit(
        kind=kind,
        utc=utc,
        mn_id=request.chargeable_user_identity or (request.user_name or "").encode() or None,
        peer=nas,
        fields=fields,
    )


class StoreThenAcknowledge:
    """Audit accepted accounting requests; the Accounting-Response to a request (to every copy
    received) goes out only once its record is committed (RFC 2866: the NAS may then forget it).

    Requests accepted within one event-loop callback (a socket burst drained by the listener)
    go to the store together, in chunks of up to ``chunk`` (one queue entry, one future, one hop
    back to the loop each): the first chunk is being committed while the burst is still read.
    """

    def __init__(
        self,
        store: SqlStore,
        listener: AccountingListener,
        chunk: int = 16,
        forwarder: AccountingForwarder | None = None,
    ) -> None:
        """``forwarder``: each record also goes upstream, spooled in the same commit as its
        audit record (un-spooled when the upstream answers)."""
        self._store = store
        self._chunk = chunk
        self._listener = listener
        self._forwarder = forwarder
        self._audits: list[RecordAudit] = []
        self._keys: list[Key] = []
        self._spool: list[tuple[int, bytes, float]] = []

    def __call__(self, item: AccountingReceived, utc: float) -> None:
        """Record ``item`` (call on the listener's event loop)."""
        if not self._audits:
            asyncio.get_running_loop().call_soon(self._submit)
        self._audits.append(
            accounting_audit(
                AuditKind.ACCOUNTING, item.nas.name, item.request, utc, item.nas.address
            )
        )
        self._keys.append(item.key)
        if self._forwarder is not None:
            self._spool.append((self._forwarder.forward(item.data), item.data, utc))
        if len(self._keys) >= self._chunk:
            self._submit()  # the scheduled call submits the rest, if any

    def _submit(self) -> None:
        if not self._keys:
            return
        audits, keys, spool = self._audits, self._keys, self._spool
        self._audits, self._keys, self._spool = [], [], []
        committed = self._store.submit(audit=audits, spool=spool)
        listener = self._listener
        # The store's thread completes the future; the answers go out from the event loop.
        committed.add_done_callback(lambda _f: listener.acknowledge_threadsafe(keys))
