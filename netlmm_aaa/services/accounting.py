"""Accepted RADIUS accounting: its audit record, and the answer only once that is committed
(RFC 2866 §2). Shared by the MAG's listener and the LMA's ``[lma.aaa]`` listener."""

from __future__ import annotations

from netlmm_aaa.adapters.radius_accounting_listener import AccountingListener, AccountingReceived
from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.persistence.store import SqlStore
from netlmm_aaa.wire.radius_accounting import AccountingRequest


def accounting_audit(kind: str, nas: str, request: AccountingRequest, utc: float) -> RecordAudit:
    return RecordAudit(
        kind=kind,
        utc=utc,
        mn_id=request.chargeable_user_identity or (request.user_name or "").encode() or None,
        peer=nas,
        fields={
            "status": int(request.status),
            "session_id": request.session_id,
            "mac": request.calling_station_id,
            "called_station_id": request.called_station_id,
            "authentic": request.authentic,
            "delay": request.delay_time,
        },
    )


def store_then_acknowledge(
    store: SqlStore, listener: AccountingListener, item: AccountingReceived, utc: float
) -> None:
    """Audit an accepted accounting request; its Accounting-Response (to every copy received)
    goes out only once that record is committed (RFC 2866: the NAS may then forget it)."""
    audit = accounting_audit("accounting", item.nas.name, item.request, utc)
    committed = store.submit(audit=[audit])
    key = item.key
    # The store's thread completes the future; the answer goes out from the event loop.
    committed.add_done_callback(lambda _f: listener.acknowledge_threadsafe(key))
