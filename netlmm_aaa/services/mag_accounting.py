"""The MAG's RADIUS accounting front: the listener for its NASes, each accepted record stored
(and spooled for the upstream accounting server) before its answer, turned into the core's
:class:`AccountingReported`; refused, duplicated and unforwardable input counted, not written
per packet."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from netlmm_aaa.adapters.radius_accounting_forwarder import AccountingForwarder
from netlmm_aaa.adapters.radius_accounting_listener import (
    AccountingListener,
    AccountingReceived,
    Nas,
)
from netlmm_aaa.config import MagConfig, NasConfig
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.events import AccountingReported, AccountingSession
from netlmm_aaa.core.security_events import SecurityEvents
from netlmm_aaa.metrics import Metrics
from netlmm_aaa.persistence.store import SqlStore
from netlmm_aaa.services.accounting import StoreThenAcknowledge
from netlmm_aaa.wire.radius_accounting import AccountingRequest


class MagAccounting:
    """Started by :meth:`start`, closed by :meth:`close`; ``deliver`` takes each accepted
    record (the MAG's queue), which :meth:`reported` then turns into the core's event."""

    def __init__(
        self,
        config: MagConfig,
        store: SqlStore,
        security: SecurityEvents,
        metrics: Metrics,
        clock: Callable[[], Now],
        deliver: Callable[[AccountingReceived], None],
    ) -> None:
        self.config, self.store, self.security, self.clock = config, store, security, clock
        self._nases = {n.name: n for n in config.nases}
        self.listener = AccountingListener(
            _listener_nases(config.nases),
            deliver=deliver,
            rejected=self._rejected,
            duplicate=self._duplicate,
        )
        self.forwarder: AccountingForwarder | None = None
        up = config.accounting_upstream
        if up is not None:
            self.forwarder = AccountingForwarder(
                up.address, up.port, up.secret, failed=self._upstream_failed,
                done=self._upstream_answered,
            )  # fmt: skip
            forwarder = self.forwarder
            metrics.callbacks["netlmm_upstream_backlog"] = lambda: forwarder.backlog
        self._record = StoreThenAcknowledge(store, self.listener, forwarder=self.forwarder)

    def set_nases(self, nases: tuple[NasConfig, ...]) -> None:
        """A reload: these NASes from now on. A NAS that left stays known for the records it
        sent before (queued, or waiting for the store); the listener refuses its new ones."""
        self._nases.update({n.name: n for n in nases})
        self.listener.set_nases(_listener_nases(nases))

    async def start(self) -> None:
        if self.forwarder is not None:
            await self.forwarder.start()
            # What the upstream had not answered before the restart goes first.
            self.forwarder.resume(await asyncio.to_thread(self.store.load_spool))
        await self.listener.start(self.config.accounting_listen, self.config.accounting_port)

    def close(self) -> None:
        self.listener.close()
        if self.forwarder is not None:
            self.forwarder.close()

    def reported(self, item: AccountingReceived, now: Now) -> AccountingReported:
        """Record ``item`` (durably before its answer, spooled for the upstream) and say what
        it reports to the core."""
        request = item.request
        nas = self._nases[item.nas.name]
        self._record(item, now.utc)
        return AccountingReported(
            session=AccountingSession(
                nas=nas.name,
                status=int(request.status),
                mac=request.calling_station_id,
                user_name=request.user_name,
                chargeable_user_identity=request.chargeable_user_identity,
                authentic=request.authentic,
                interface=nas.interface,
                called_station_id=request.called_station_id,
                session_id=request.session_id,
                event_timestamp=request.event_timestamp,
                delay_time=request.delay_time,
                nas_port_type=request.nas_port_type,
                service_type=request.service_type,
                akm_suite=request.akm_suite,
            )
        )

    def _rejected(self, source: str, reason: str, detail: str) -> None:
        # Counted, not written per packet: a flood of forged packets must not flood the store.
        self.security.note(AuditKind.ACCOUNTING_REJECTED, source, reason, detail, self.clock())

    def _duplicate(self, nas: Nas, request: AccountingRequest | None, count: int = 1) -> None:
        """Counted per NAS and interval, not written per copy: a flood of replayed copies of
        one valid datagram must not grow the store per packet."""
        detail = (
            f"session {request.session_id} status {int(request.status)}"
            if request is not None
            else "exact copy of an answered datagram"
        )
        self.security.note(AuditKind.ACCOUNTING_DUPLICATE, nas.name, "duplicate", detail,
                           self.clock(), count)  # fmt: skip

    def _upstream_answered(self, seq: int) -> None:
        self.store.submit(unspool=[seq])

    def _upstream_failed(self, reason: str, detail: str) -> None:
        """Counted per interval (an outage of hours is one row a second at most); the record
        stays spooled and is sent again."""
        up = self.config.accounting_upstream
        origin = up.address if up is not None else "?"
        self.security.note(AuditKind.ACCOUNTING_FORWARD_FAILED, origin, reason, detail,
                           self.clock())  # fmt: skip


def _listener_nases(nases: tuple[NasConfig, ...]) -> list[Nas]:
    return [
        Nas(n.name, n.address, n.secret, n.identifier, n.ip_address, float(n.rate_limit))
        for n in nases
    ]
