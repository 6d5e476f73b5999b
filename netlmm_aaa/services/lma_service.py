"""The LMA daemon: configuration, store, data plane and sockets around the sans-IO core.

One task owns the core. Sockets decode and enqueue; the loop takes every event waiting (up to a
batch), feeds each to the core with a fresh ``Now``, then carries out the actions of the whole
batch: route changes first (one netlink batch on the data-plane thread), then the messages (so a
PBA leaves only once its route is in place), then the store writes and audit records (group
commit on the store's thread). Under load this turns many PBUs into one netlink batch and one
transaction; a lone PBU still goes straight through.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from netlmm_aaa.adapters.mobility_socket import MobilityHeaderSocket, Udp5436Socket
from netlmm_aaa.adapters.radius_accounting_listener import (
    AccountingListener,
    AccountingReceived,
    Nas,
)
from netlmm_aaa.config import LmaConfig, load_lma_config
from netlmm_aaa.config.reload import lma_restart_needed
from netlmm_aaa.core.actions import (
    BindingSnapshot,
    DeleteStoredBinding,
    InstallBindingRoutes,
    LmaAction,
    RecordAudit,
    RemoveBindingRoutes,
    SendMessage,
    StoreBinding,
)
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.errors import ConfigError
from netlmm_aaa.core.events import (
    AttachmentReported,
    LmaEvent,
    MobilityMessageReceived,
    RevocationRequested,
    RoutesProgrammed,
    TimerFired,
    Transport,
)
from netlmm_aaa.core.lma import LocalMobilityAnchor
from netlmm_aaa.core.lma_policy import MobileNodePolicy, tunnel_peers
from netlmm_aaa.core.messages import MobilityMessage, find_option
from netlmm_aaa.core.options import MobileNodeIdentifierOption
from netlmm_aaa.core.security_events import SecurityEvents
from netlmm_aaa.core.station_intake import accounting_mn_id
from netlmm_aaa.dataplane.port import (
    DataPlaneError,
    LmaDataPlane,
    RouteOperation,
    RoutesRefused,
    destinations,
)
from netlmm_aaa.logs import log_audit
from netlmm_aaa.metrics import Metrics, serve_metrics
from netlmm_aaa.persistence import migrate
from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.report_rows import mn_id_text
from netlmm_aaa.persistence.store import SqlStore
from netlmm_aaa.services.accounting import StoreThenAcknowledge
from netlmm_aaa.services.config_reload import ConfigReloads
from netlmm_aaa.services.retention_task import prune_periodically
from netlmm_aaa.services.runtime import bulk_loading, schedule_as_daemon, settle_heap
from netlmm_aaa.services.security_flush import flush_security_events
from netlmm_aaa.wire.radius_accounting import AcctStatusType

log = logging.getLogger(__name__)

_BATCH = 2048
#: Records of dropped packets, written aggregated (one row per origin, reason and second).
_AGGREGATED = frozenset(
    {
        AuditKind.MALFORMED_PACKET,
        AuditKind.HEARTBEAT_FROM_UNKNOWN_PEER,
        AuditKind.UNEXPECTED_MESSAGE,
    }
)
# (accounting_rejected, from the [lma.aaa] listener, is noted directly)


def system_now() -> Now:
    return Now(time.monotonic(), time.time())


def _names(message: MobilityMessage) -> bytes | None:
    """The MN-ID a PBA or BRI is about (None for other messages)."""
    option = find_option(message, MobileNodeIdentifierOption)
    return option.identifier if option is not None else None


def describe_binding(b: BindingSnapshot, now_utc: float) -> dict[str, Any]:
    """A binding as JSON for ``netlmm-aaa lma bindings``."""
    return {
        "mn_id": mn_id_text(b.mn_id),
        "home_network_prefixes": list(b.home_network_prefixes),
        "ipv4_home_address": b.ipv4_home_address,
        "mag": b.mag,
        "proxy_coa": b.proxy_coa,
        "state": "deregistered" if b.deregistered else "active",
        "lifetime_left": max(0, round(b.refreshed_utc + b.lifetime - now_utc)),
        "registered_utc": b.registered_utc,
        "last_handover_utc": b.last_handover_utc,
    }


def _profiles(
    configured: Sequence[MobileNodePolicy], stored: Sequence[MobileNodePolicy]
) -> tuple[MobileNodePolicy, ...]:
    """The node profiles of the file and of the mobile_node_policies table; a node in both is
    a ConfigError (neither would be the obvious one to win)."""
    names = {p.mn_id for p in configured}
    clash = sorted(p.mn_id for p in stored if p.mn_id in names)
    if clash:
        raise ConfigError(
            f"mobile node {clash[0].decode(errors='replace')!r} has a profile both in "
            "the configuration file and in the mobile_node_policies table"
        )
    return (*configured, *stored)


_IDLE_GAP = 0.002
"""Seconds without a message after which the next one is handled at once (see _deliver)."""
_FOLLOWUP_DELAY = 0.002
"""Seconds between a lone message's answer and the rest of its work (see _answer_first)."""


class _Plan(NamedTuple):
    """The actions of one batch, by what carries them out."""

    routes: list[RouteOperation]
    sends: list[SendMessage]
    stores: list[BindingSnapshot]
    deletes: list[bytes]
    audits: list[RecordAudit]


class LmaService:
    """Runs one LMA until stopped."""

    def __init__(
        self,
        config: LmaConfig,
        dataplane: LmaDataPlane,
        *,
        clock: Callable[[], Now] = system_now,
        config_path: str | None = None,
    ) -> None:
        self.config = config
        self.reloads = ConfigReloads(
            config_path,
            load=load_lma_config,
            restart_needed=lma_restart_needed,
            current=lambda: self.config,
            apply=self._apply_config,
            submit=lambda records: self.store.submit(audit=records) if self.store else None,
            clock=clock,
        )
        self._aaa: AccountingListener | None = None
        self._aaa_mags: dict[str, str] = {}
        """``[[lma.aaa.nas]]`` name -> the MAG its stations are at."""
        self.dataplane = dataplane
        self.clock = clock
        self.queue: asyncio.Queue[LmaEvent] = asyncio.Queue(maxsize=100_000)
        self.dropped = 0
        self.security = SecurityEvents()
        self.core: LocalMobilityAnchor | None = None
        self.store: SqlStore | None = None
        self._mh: MobilityHeaderSocket | None = None
        self._udp: Udp5436Socket | None = None
        self._lock = asyncio.Lock()
        self._completing: asyncio.Future[None] | None = None
        self._last_arrival = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._followups: list[_Plan] = []
        self._followup_timer: asyncio.TimerHandle | None = None
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.processed = 0
        self.metrics = Metrics("lma", config.name)
        self.metrics.callbacks["netlmm_bindings"] = self._binding_count
        self.metrics.callbacks["netlmm_store_commits_total"] = lambda: (
            self.store.commits if self.store else 0
        )
        self.metrics.callbacks["netlmm_store_failures_total"] = lambda: (
            self.store.failures if self.store else 0
        )

    def _binding_count(self) -> float:
        return self.core.active_count() if self.core is not None else 0

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        schedule_as_daemon(loop)
        config = self.config
        migrate.upgrade(config.database)
        engine = make_engine(config.database)
        self.store = SqlStore(engine, config.name, process=True, lma=True)
        self.store.observers.append(self.metrics.observe)
        self.store.observers.append(log_audit)
        metrics_server = (
            await serve_metrics(self.metrics, config.metrics_listen)
            if config.metrics_listen
            else None
        )
        counter, clean = await asyncio.to_thread(self.store.start_counter)
        with bulk_loading():  # settle_heap() follows once ready
            began = time.monotonic()
            saved = await asyncio.to_thread(self.store.load_bindings)
            if saved:
                log.info("LMA %s: %d bindings loaded from the store in %.1f s; restoring and "
                         "reconciling kernel routes", config.name, len(saved),
                         time.monotonic() - began)  # fmt: skip
            policy = replace(config.policy, restart_counter=counter)
            sql_policies = await asyncio.to_thread(self.store.load_policies)
            policy = replace(policy, mobile_nodes=_profiles(policy.mobile_nodes, sql_policies))
            self.core = LocalMobilityAnchor(policy)
            await self.dataplane.start()
            self.metrics.set_dataplane(self.dataplane.backend_name, policy.tunnel_mode.value)
            now = self.clock()
            # Route installs are left to the reconciliation just below, which touches only the
            # routes that are actually missing or wrong.
            await self._execute(self.core.restore(saved, now, install_routes=False))
            report = await self.dataplane.reconcile(
                self.core.active_routes(), self.core.active_uplink_keys()
            )
            active = self.core.active_count()
        self.store.submit(
            audit=[
                RecordAudit(
                    kind=AuditKind.LMA_STARTED,
                    utc=now.utc,
                    peer=None,
                    fields={
                        "restart_counter": counter,
                        "clean_restart": clean,
                        "bindings_restored": active,
                        "routes_added": report.added,
                        "routes_replaced": report.replaced,
                        "routes_removed": report.removed,
                        "routes_kept": report.kept,
                    },
                )
            ]
        )
        log.info(
            "LMA %s: restart counter %d (%s), %d bindings restored, routes +%d ~%d -%d =%d "
            "(%.1f s)", config.name, counter, "clean restart" if clean else "announced", active,
            report.added, report.replaced, report.removed, report.kept, time.monotonic() - began,
        )  # fmt: skip
        if config.address:
            self._mh = MobilityHeaderSocket(config.address, self._deliver)
            self._mh.start(loop)
        if config.ipv4_address:
            self._udp = Udp5436Socket(config.ipv4_address, self._deliver)
            await self._udp.start(loop)
        if not clean:
            # RFC 5847 §3.2: state may have been lost (a PBA leaves before its binding is
            # committed), so the MAGs re-register; after a clean stop every binding is restored.
            await self._execute(self.core.announce_restart(self.clock()))
        aaa = await self._start_aaa_listener()
        control = await self._start_control_socket()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, self.reloads.signalled)
        self._arm_timer()
        settle_heap()  # restored bindings too: no collection walks them again
        self.ready.set()
        self.metrics.set_ready()
        addresses = " ".join(a for a in (config.address, config.ipv4_address) if a)
        log.info("LMA %s ready on %s", config.name, addresses)
        store = self.store
        flusher = asyncio.create_task(
            flush_security_events(self.security, self.clock, lambda r: store.submit(audit=r))
        )
        pruner = (
            asyncio.create_task(
                prune_periodically(
                    engine, config.retention, self.clock, lambda r: store.submit(audit=r)
                )
            )
            if config.retention is not None
            else None
        )
        stopped = False  # asked to stop, not ended by an exception
        try:
            await self._main_loop()
            stopped = True
        finally:
            flusher.cancel()
            if pruner is not None:
                pruner.cancel()
            self._send_followups()
            if aaa is not None:
                aaa.close()
            self.store.submit(audit=self.security.drain(self.clock(), force=True))
            control.close()
            if metrics_server is not None:
                metrics_server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(config.control_socket)
            if self._mh is not None:
                self._mh.close()
            if self._udp is not None:
                self._udp.close()
            try:
                await asyncio.to_thread(self.store.flush)
                if stopped:  # a crash ends unclean even if the store took everything
                    await asyncio.to_thread(self.store.mark_clean_shutdown)
            except Exception as exc:  # not clean: the next start announces a restart
                log.error("LMA %s: the store did not commit everything at shutdown: %s",
                          config.name, exc)  # fmt: skip
            await asyncio.to_thread(self.store.close)
            await self.dataplane.close()
            engine.dispose()

    async def _apply_config(self, new: LmaConfig) -> dict[str, object]:
        """A reload that config.reload accepted: the binding cache is not touched. The data
        plane decapsulates from new MAG addresses before the core takes their PBUs, and from a
        MAG's old addresses until the core no longer does. The core's checks run with no
        ``await`` between them and the changes they allow, so no PBU can slip in between."""
        assert self.core is not None and self.store is not None
        sql_policies = await asyncio.to_thread(self.store.load_policies)
        profiles = _profiles(new.policy.mobile_nodes, sql_policies)
        self.core.check_mobile_nodes(profiles)
        self.core.check_peers(new.policy.peers)
        old_peers = self.core.policy.peers
        before, after = tunnel_peers(old_peers), tunnel_peers(new.policy.peers)
        if set(after) - set(before):
            try:
                await self.dataplane.set_peers((*before, *after))
            except DataPlaneError as exc:
                raise ConfigError(
                    f"lma.mag: the data plane cannot take the new MAGs: {exc}"
                ) from None
            try:  # again: PBUs came in during the await
                self.core.check_peers(new.policy.peers)
                self.core.check_mobile_nodes(profiles)
            except ConfigError:
                await self.dataplane.set_peers(before)
                raise
        self.core.replace_peers(new.policy.peers, self.clock())
        # The running policy keeps its node profiles from the database and its restart counter.
        reloaded = {f: getattr(new.policy, f) for f in LocalMobilityAnchor.RELOADABLE}
        self.core.reconfigure(replace(self.core.policy, **reloaded))
        changed = set(profiles) ^ set(self.core.policy.mobile_nodes)
        self.core.set_mobile_nodes(profiles)
        details: dict[str, object] = {}
        if set(before) - set(after):
            try:
                await self.dataplane.set_peers(after)
            except DataPlaneError as exc:  # the core takes no PBU from them any more
                log.error("LMA %s: the data plane still decapsulates from MAGs that left: %s",
                          new.name, exc)  # fmt: skip
                details["dataplane_error"] = str(exc)
        if self._aaa is not None and new.aaa is not None:
            # A NAS that left stays known for the records it sent before.
            self._aaa_mags.update({n.name: n.mag for n in new.aaa.nases})
            self._aaa.set_nases([Nas(n.name, n.address, n.secret) for n in new.aaa.nases])
        self.config = new
        return {
            **details,
            "aaa_nases": len(new.aaa.nases) if new.aaa else 0,
            "mags": sorted(p.name for p in new.policy.peers),
            "mags_changed": sorted({p.name for p in set(old_peers) ^ set(new.policy.peers)}),
            "mobile_node_profiles": len(profiles),
            "mobile_nodes_changed": len({p.mn_id for p in changed}),
        }

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(TimerFired())

    # ------------------------------------------------------------------ events

    async def _start_aaa_listener(self) -> AccountingListener | None:
        """``[lma.aaa]``: accounting replicated by the AAA server says where each node is (the
        RFC 5213 §11 check); each record is audited before it is answered."""
        aaa = self.config.aaa
        if aaa is None:
            return None
        self._aaa_mags = {n.name: n.mag for n in aaa.nases}
        store = self.store
        assert store is not None

        def received(item: AccountingReceived) -> None:
            record(item, time.time())
            request = item.request
            mn_id = (
                accounting_mn_id(request.user_name, request.chargeable_user_identity)
                if request.authentic == 1
                else None
            )
            if mn_id is None:
                return
            if request.status in (AcctStatusType.START, AcctStatusType.INTERIM_UPDATE):
                self._deliver(AttachmentReported(mn_id=mn_id, mag=self._aaa_mags[item.nas.name]))
            elif request.status is AcctStatusType.STOP:
                self._deliver(AttachmentReported(mn_id=mn_id, mag=None))

        def rejected(source: str, reason: str, detail: str) -> None:
            self.security.note(AuditKind.ACCOUNTING_REJECTED, source, reason, detail, self.clock())

        listener = AccountingListener(
            [Nas(n.name, n.address, n.secret) for n in aaa.nases],
            deliver=received,
            rejected=rejected,
        )
        record = StoreThenAcknowledge(store, listener)
        await listener.start(aaa.listen, aaa.port)
        self._aaa = listener
        return listener

    def _deliver(self, event: LmaEvent) -> None:
        arrived = time.perf_counter()
        idle = arrived - self._last_arrival > _IDLE_GAP
        self._last_arrival = arrived
        if (
            idle
            and type(event) is MobilityMessageReceived
            and self.ready.is_set()
            and self._completing is None
            and not self._lock.locked()
            and self.queue.empty()
            and not self._stopping.is_set()
        ):
            # Under load, messages queue and are processed in batches (one netlink batch,
            # one store submission for many); a lone one is answered at once.
            self._process_now(event)
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def _arm_timer(self) -> None:
        assert self.core is not None
        deadline = self.core.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None
        if deadline is not None:
            loop = asyncio.get_running_loop()
            # The core's monotonic clock is time.monotonic(), the loop's is loop.time().
            delay = max(0.0, deadline - self.clock().monotonic)
            self._timer = loop.call_at(loop.time() + delay, self._timer_due)

    def _timer_due(self) -> None:
        self._timer_at = None
        self._timer = None
        self._deliver(TimerFired())

    async def _main_loop(self) -> None:
        queue = self.queue
        while not self._stopping.is_set():
            first = await queue.get()
            if self._stopping.is_set():
                return
            events = [first]
            while len(events) < _BATCH:
                try:
                    events.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            await self.process(events)

    async def process(self, events: list[LmaEvent]) -> None:
        """Feed events to the core and carry out all their actions (one batch)."""
        assert self.core is not None
        async with self._lock:
            started = time.perf_counter()
            actions: list[LmaAction] = []
            handle = self.core.handle
            for event in events:
                actions.extend(handle(event, self.clock()))
            self.processed += len(events)
            await self._execute(actions, started)
            self._arm_timer()

    async def _execute(self, actions: list[LmaAction], started: float | None = None) -> None:
        """Carry out actions; ``started`` (perf_counter when their events were taken) times the
        route switch that handover records report."""
        plan = self._plan(actions)
        if plan.routes:
            error: Exception | None = None
            try:
                await self.dataplane.apply(plan.routes)
            except Exception as exc:  # a route failure must not stop the LMA
                error = exc
            self._routes_done(plan, error, started)
            await self._settle(plan, error)
        self._finish(plan)

    def _process_now(self, event: LmaEvent) -> None:
        """A signalling message reaching an idle LMA (a registration, a handover): handled
        right here, in the socket's callback, the few routes of one binding programmed inline;
        this spares the queue's hop through the event loop, a wake-up per PBU."""
        assert self.core is not None
        started = time.perf_counter()
        plan = self._plan(self.core.handle(event, self.clock()))
        self.processed += 1
        if plan.routes:
            try:
                done = self.dataplane.apply_now(plan.routes)
            except Exception as exc:  # a route failure must not stop the LMA
                self._completing = asyncio.ensure_future(self._complete(plan, started, exc))
                return
            if not done:  # more than a few routes: the worker thread, in order
                self._completing = asyncio.ensure_future(self._complete(plan, started))
                return
            self._routes_done(plan, None, started)
            self._confirm_routes()
        self._answer_first(plan)
        self._arm_timer()

    async def _complete(
        self, plan: _Plan, started: float, failure: Exception | None = None
    ) -> None:
        # Scheduled before any later event is taken from the queue, so it gets the lock first.
        try:
            async with self._lock:
                error = failure
                if error is None:
                    try:
                        await self.dataplane.apply(plan.routes)
                    except Exception as exc:
                        error = exc
                self._routes_done(plan, error, started)
                await self._settle(plan, error)
                self._finish(plan)
                self._arm_timer()
        finally:
            self._completing = None

    def _confirm_routes(self) -> None:
        """The core's pending routes are all in: nothing of theirs will be undone."""
        assert self.core is not None
        self.core.handle(RoutesProgrammed(), self.clock())

    async def _settle(self, plan: _Plan, error: Exception | None) -> None:
        """Tell the core how ``plan``'s routes went. A PBA with status 0 promises the routes:
        the bindings whose routes the kernel refused are undone by the core (it answers their
        PBUs with 128), and what their change emitted (PBA, BRI, stored row, records) is
        withheld here."""
        assert self.core is not None
        if error is None:
            self._confirm_routes()
            return
        refused = error.destinations if isinstance(error, RoutesRefused) else None
        failed = frozenset(
            op.binding.mn_id
            for op in plan.routes
            if op.install and (refused is None or not refused.isdisjoint(destinations(op.binding)))
        )
        undo = self._plan(self.core.handle(RoutesProgrammed(failed, str(error)), self.clock()))
        if not failed:
            return
        plan.sends[:] = [s for s in plan.sends if _names(s.message) not in failed]
        plan.stores[:] = [b for b in plan.stores if b.mn_id not in failed]
        plan.audits[:] = [a for a in plan.audits if a.mn_id not in failed]
        if undo.routes:
            try:
                await self.dataplane.apply(undo.routes)
            except Exception as exc:
                self._routes_done(undo, exc, None)
        plan.sends.extend(undo.sends)
        plan.stores.extend(undo.stores)
        plan.deletes.extend(undo.deletes)
        plan.audits.extend(undo.audits)

    def _plan(self, actions: list[LmaAction]) -> _Plan:
        """Sort actions by what carries them out."""
        plan = _Plan([], [], [], [], [])
        for action in actions:
            match action:
                case SendMessage():
                    plan.sends.append(action)
                case InstallBindingRoutes():
                    plan.routes.append(RouteOperation(action.binding, True))
                case RemoveBindingRoutes():
                    plan.routes.append(RouteOperation(action.binding, False))
                case StoreBinding():
                    plan.stores.append(action.binding)
                case DeleteStoredBinding():
                    plan.stores[:] = [b for b in plan.stores if b.mn_id != action.mn_id]
                    plan.deletes.append(action.mn_id)
                case RecordAudit():
                    if action.kind in _AGGREGATED:  # counted, not written per packet
                        self.security.note(action.kind, action.peer or "?",
                                           str(action.fields.get("reason", action.kind)),
                                           str(action.fields), self.clock())  # fmt: skip
                    else:
                        plan.audits.append(action)
        return plan

    def _routes_done(self, plan: _Plan, error: Exception | None, started: float | None) -> None:
        if error is not None:
            log.error("data plane: %s", error)
            failure = RecordAudit(kind=AuditKind.DATAPLANE_ERROR, utc=self.clock().utc,
                                  fields={"error": str(error)})  # fmt: skip
            plan.audits.append(failure)
        if started is not None:
            switched_ms = round((time.perf_counter() - started) * 1000, 3)
            plan.audits[:] = [
                replace(audit, fields={**audit.fields, "route_switch_ms": switched_ms})
                if audit.kind == AuditKind.HANDOVER
                else audit
                for audit in plan.audits
            ]

    def _finish(self, plan: _Plan) -> None:
        """Routes are in place (or failed): answers go out, then the records to the store,
        after those of earlier messages whose follow-ups still wait (see ``_answer_first``)."""
        assert self.store is not None
        for send in plan.sends:
            self._send(send)
        if self._followups:
            self._send_followups()
        if plan.stores or plan.deletes or plan.audits:
            self.store.submit(store=plan.stores, delete=plan.deletes, audit=plan.audits)

    def _answer_first(self, plan: _Plan) -> None:
        """The answer to a lone message (the PBA of a handover) leaves now; the rest of its
        work (a revocation to the old MAG, the store submission) follows ``_FOLLOWUP_DELAY``
        later, so that the MAG waiting for that answer, the old MAG and this LMA's store do
        not all compete for the CPUs in the instant the answer travels. A message arriving
        meanwhile gets its answer first too; the deferred work of both is carried out in the
        order of the messages (each plan's store submission after the one before)."""
        if not plan.sends:
            self._finish(plan)
            return
        self._send(plan.sends[0])
        del plan.sends[0]
        if plan.sends or plan.stores or plan.deletes or plan.audits:
            self._followups.append(plan)
            if self._followup_timer is None:
                self._followup_timer = asyncio.get_running_loop().call_later(
                    _FOLLOWUP_DELAY, self._send_followups
                )

    def _send_followups(self) -> None:
        plans, self._followups = self._followups, []
        if self._followup_timer is not None:
            self._followup_timer.cancel()
            self._followup_timer = None
        for plan in plans:
            self._finish(plan)

    def _send(self, send: SendMessage) -> None:
        if send.transport is Transport.UDP4:
            if self._udp is not None:
                self._udp.send(send.message, send.destination, send.destination_port)
        elif self._mh is not None:
            self._mh.send(send.message, send.destination)

    # ------------------------------------------------------------------ control socket

    async def _start_control_socket(self) -> asyncio.AbstractServer:
        path = Path(self.config.control_socket)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)
        server = await asyncio.start_unix_server(self._control_client, path=str(path))
        os.chmod(path, 0o660)
        return server

    async def _control_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            line = await reader.readline()
            try:
                request = json.loads(line)
                reply = await self._control(request)
            except (ValueError, KeyError, TypeError) as exc:
                reply = {"ok": False, "error": f"bad request: {exc}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()

    async def _control(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.core is not None and self.store is not None
        command = request["command"]
        if command == "status":
            return {
                "ok": True,
                "name": self.config.name,
                "bindings": len(self.core),
                "processed": self.processed,
                "dropped": self.dropped,
                "restart_counter": self.core.policy.restart_counter,
            }
        if command == "bindings":
            now = self.clock().utc
            if "mn_id" in request:  # one node (cheap to poll with many bindings)
                one = self.core.binding(str(request["mn_id"]).encode("utf-8"))
                chosen = [one] if one is not None else []
            else:
                chosen = self.core.bindings()
            return {"ok": True, "bindings": [describe_binding(b, now) for b in chosen]}
        if command == "revoke":
            mn_id = str(request["mn_id"]).encode("utf-8")
            if self.core.binding(mn_id) is None:
                return {"ok": False, "error": f"no binding for {request['mn_id']}"}
            await self.process([RevocationRequested(mn_id=mn_id)])
            return {"ok": True, "revoked": request["mn_id"]}
        if command == "flush":
            self._send_followups()
            await asyncio.to_thread(self.store.flush)
            return {"ok": True}
        return {"ok": False, "error": f"unknown command {command!r}"}


async def control_request(path: str, request: dict[str, Any]) -> dict[str, Any]:
    """Send one request to a running daemon's control socket (10 s timeout)."""
    async with asyncio.timeout(10):
        reader, writer = await asyncio.open_unix_connection(path)
        try:
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
    return json.loads(line)  # type: ignore[no-any-return]
