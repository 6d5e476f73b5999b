"""The MAG daemon: station intake (hostapd, RADIUS accounting) -> MAG core -> signalling to the
LMA, the MAG data plane, Router Advertisements, deauthentication, and the audit trail.

Accounting records are acknowledged to the NAS only once their audit row is committed (RFC 2866).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from netlmm_aaa.adapters.dhcpv4_server import Dhcpv4Server
from netlmm_aaa.adapters.hostapd_control import HostapdControl, HostapdUnavailable
from netlmm_aaa.adapters.hostapd_hook_socket import HookSocket
from netlmm_aaa.adapters.mobility_socket import MobilityHeaderSocket
from netlmm_aaa.adapters.radius_accounting_forwarder import AccountingForwarder
from netlmm_aaa.adapters.radius_accounting_listener import (
    AccountingListener,
    AccountingReceived,
    Nas,
)
from netlmm_aaa.adapters.radius_auth_relay import RadiusAuthRelay
from netlmm_aaa.adapters.router_advertiser import RouterAdvertiser
from netlmm_aaa.config import LmaSelection, MagConfig
from netlmm_aaa.core.actions import (
    DeauthenticateStation,
    InstallStationRoutes,
    RecordAudit,
    RemoveStationRoutes,
    SendMessage,
    StationBinding,
)
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.dhcpv4_server import DhcpDecision, DhcpMessageType, DhcpRequest
from netlmm_aaa.core.events import StationAttached, StationEvent, TimerFired
from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.core.messages import ProxyBindingUpdate
from netlmm_aaa.core.mobile_access_gateway import MagPolicy, MobileAccessGateway, StationState
from netlmm_aaa.core.security_events import SecurityEvents
from netlmm_aaa.core.station_intake import AccountingSession, ConfirmedStation, StationIntake
from netlmm_aaa.dataplane.mag_linux import MagLinuxDataPlane
from netlmm_aaa.logs import log_audit
from netlmm_aaa.metrics import Metrics, serve_metrics
from netlmm_aaa.persistence import migrate
from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.store import SqlStore
from netlmm_aaa.services.accounting import StoreThenAcknowledge, accounting_audit
from netlmm_aaa.services.runtime import quick_thread_switches, settle_heap
from netlmm_aaa.services.security_flush import flush_security_events
from netlmm_aaa.wire.hostapd_events import StationInfo
from netlmm_aaa.wire.radius_accounting import AccountingRequest
from netlmm_aaa.wire.radius_auth import MobilityProfile

log = logging.getLogger(__name__)


def select_lma(mn_id: bytes, selection: tuple[LmaSelection, ...]) -> str | None:
    """The LMA for ``mn_id`` by its NAI realm (the longest matching realm wins)."""
    realm = mn_id.decode("utf-8", "replace").rpartition("@")[2].lower()
    if not realm:
        return None
    best: LmaSelection | None = None
    for s in selection:
        if (realm == s.realm or realm.endswith("." + s.realm)) and (
            best is None or len(s.realm) > len(best.realm)
        ):
            best = s
    return best.lma_address if best is not None else None


@dataclasses.dataclass(frozen=True, slots=True)
class _Resync:
    """hostapd's station list after a (re)attach."""

    interface: str
    stations: list[ConfirmedStation]


_SUCCESS_EVENTS = frozenset({"AUTHENTICATED", "AUTHORIZED"})
"""hostapd's events of an 802.1X success (EAP success; authorized on the port)."""


_HOLD_LIMIT = 0.005
"""Longest pause of the station queue while a PBU's answer is awaited (seconds)."""
_HOLD_SPACING = 0.05
"""Shortest time between two such pauses: under load, nothing pauses more than 10% of the time."""


def _now() -> Now:
    return Now(time.monotonic(), time.time())


class MagService:
    """Runs one MAG until stopped."""

    def __init__(self, config: MagConfig) -> None:
        self.config = config
        self.core: MobileAccessGateway | None = None
        self.intake = StationIntake(config.name, replay_window=config.accounting_replay_window)
        self.store: SqlStore | None = None
        self.dataplane = MagLinuxDataPlane(
            mode=config.tunnel_mode,
            proxy_coa=config.proxy_coa,
            lma_address=config.lma_address,
            device=config.transport_device,
            ipv4_router=config.ipv4_router,
            peers=[selection.lma_address for selection in config.lma_selection],
            backend=config.backend,
            ingress_filter=config.ingress_filter,
        )
        self._mh: MobilityHeaderSocket | None = None
        self._ra: RouterAdvertiser | None = None
        self._dhcp: Dhcpv4Server | None = None
        self._relay: RadiusAuthRelay | None = None
        self._deferred: list[RecordAudit] = []
        self._deferred_flush: asyncio.TimerHandle | None = None
        # Station MAC -> (RFC 6572 profile of its last Access-Accept, monotonic expiry)
        self._profiles: dict[str, tuple[MobilityProfile, float]] = {}
        # Station MAC -> (the User-Name of an Access-Accept the relay just passed, expiry, the
        # hostapd success events it may still confirm)
        self._accepted: dict[str, tuple[str, float, frozenset[str]]] = {}
        self._accounting: AccountingListener | None = None
        self._record_accounting: StoreThenAcknowledge | None = None
        self._early: dict[str, tuple[StationBinding, float, bool]] = {}
        """Stations whose downlink was prepared ahead of their PBA (by MAC)."""
        self._forwarder: AccountingForwarder | None = None
        self._hostapd: dict[str, HostapdControl] = {}
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=100_000)
        self._stopping = asyncio.Event()
        self._dataplane_tasks: set[asyncio.Future[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._answer: asyncio.Future[None] | None = None
        """Resolved by the next signalling message from the LMA (see ``_hold_for_answer``)."""
        self._answer_until = 0.0
        self._held_at = -_HOLD_SPACING
        self.ready = asyncio.Event()
        self._selection = config.lma_selection
        self.security = SecurityEvents()
        """Dropped input (forged/malformed accounting, rejected hook lines), aggregated."""
        self.metrics = Metrics("mag", config.name)
        self.metrics.callbacks["netlmm_bindings"] = lambda: (
            self.core.registered_count() if self.core else 0
        )
        self.metrics.callbacks["netlmm_store_commits_total"] = lambda: (
            self.store.commits if self.store else 0
        )
        self.metrics.callbacks["netlmm_store_failures_total"] = lambda: (
            self.store.failures if self.store else 0
        )

    async def run(self) -> None:
        quick_thread_switches()
        config = self.config
        migrate.upgrade(config.database)
        engine = make_engine(config.database)
        # Commits on a thread of this process, not in a writer process as the LMA's: a MAG
        # writes hundreds of records a second, not tens of thousands, and each accounting
        # answer then skips two pipe hops and their pickling (in the same rounds against
        # FreeRADIUS, bench/accounting_ingest.py: 1.11 against 0.92-1.03 for the writer
        # process at 20,000 requests; 0.94 against 0.85 at 3,000).
        self.store = SqlStore(engine, config.name)
        self.store.observers.append(self.metrics.observe)
        self.store.observers.append(log_audit)
        metrics_server = (
            await serve_metrics(self.metrics, config.metrics_listen)
            if config.metrics_listen
            else None
        )
        counter = await asyncio.to_thread(self.store.bump_restart_counter)
        self.core = MobileAccessGateway(
            MagPolicy(
                name=config.name,
                proxy_coa=config.proxy_coa,
                lma_address=config.lma_address,
                lifetime=config.lifetime,
                access_technology=config.access_technology,
                ipv4=config.ipv4,
                restart_counter=counter,
                gre=config.tunnel_mode is TunnelMode.GRE,
            )
        )
        await self.dataplane.start()
        self.metrics.set_dataplane(self.dataplane.backend_name, config.tunnel_mode.value)
        for interface in config.access_interfaces:
            await self.dataplane.prepare_access_interface(interface)
        loop = asyncio.get_running_loop()
        self._ra = RouterAdvertiser(mtu=config.mtu)
        if config.dhcpv4 and config.ipv4 and config.ipv4_router:
            core = self.core
            self._dhcp = Dhcpv4Server(
                interfaces=config.access_interfaces,
                server_address=config.ipv4_router,
                lease_for=lambda interface, mac: core.lease(mac, interface),
                lease_seconds=config.dhcpv4_lease_time,
                dns=config.dhcpv4_dns,
                answered=self._dhcp_answered,
                rejected=self._dhcp_rejected,
            )
            await self._dhcp.start()
        self._mh = MobilityHeaderSocket(config.proxy_coa, self._signalling)
        self._mh.start(loop)
        for action in self.core.announce_restart(_now()):
            if type(action) is SendMessage:
                self._mh.send(action.message, action.destination)
            elif type(action) is RecordAudit:
                self.store.submit(audit=[action])
        if config.nases:
            self._accounting = AccountingListener(
                [
                    Nas(n.name, n.address, n.secret, n.identifier, n.ip_address)
                    for n in config.nases
                ],
                deliver=self._put,
                rejected=self._accounting_rejected,
                duplicate=self._accounting_duplicate,
            )
            self._record_accounting = StoreThenAcknowledge(self.store, self._accounting)
            await self._accounting.start(config.accounting_listen, config.accounting_port)
            if config.accounting_upstream is not None:
                up = config.accounting_upstream
                self._forwarder = AccountingForwarder(
                    up.address, up.port, up.secret, failed=self._upstream_failed
                )
                await self._forwarder.start()
        if config.radius_relay is not None:
            rr = config.radius_relay
            self._relay = RadiusAuthRelay(
                nas_secrets={n.address: n.secret for n in config.nases},
                server=(rr.server, rr.server_port),
                server_secret=rr.server_secret,
                profile_seen=self._profile_seen,
                rejected=self._relay_rejected,
            )
            await self._relay.start(rr.listen, rr.port)
        for h in config.hostapd:
            client = HostapdControl(
                h.control,
                on_event=self._station_reporter(h.interface),
                on_resync=functools.partial(self._resynchronised, h.interface),
                attach=h.events == "attach",
            )
            try:
                await client.start()
            except HostapdUnavailable as exc:
                log.warning("%s; will retry", exc)
            self._hostapd[h.interface] = client
        hook = None
        if config.hook_socket:
            hook = HookSocket(
                config.hook_socket,
                {h.interface for h in config.hostapd if h.events == "hook"},
                deliver=lambda interface, event: self._put((interface, event, "hook")),
                rejected=self._hook_rejected,
            )
            await hook.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        settle_heap()
        self.ready.set()
        self.metrics.set_ready()
        log.info(
            "MAG %s ready (Proxy-CoA %s, LMA %s)", config.name, config.proxy_coa, config.lma_address
        )
        store = self.store
        flusher = asyncio.create_task(
            flush_security_events(self.security, _now, lambda r: store.submit(audit=r))
        )
        try:
            while not self._stopping.is_set():
                item = await self._queue.get()
                if self._answer is not None:
                    await self._hold_for_answer()
                await self._handle(item)
                self._arm_timer()
        finally:
            flusher.cancel()
            self._drain_security(_now(), force=True)
            if metrics_server is not None:
                metrics_server.close()
            if hook is not None:
                hook.close()
            for client in self._hostapd.values():
                await client.close()
            if self._accounting is not None:
                self._accounting.close()
            if self._forwarder is not None:
                self._forwarder.close()
            if self._dataplane_tasks:
                await asyncio.gather(*self._dataplane_tasks, return_exceptions=True)
            if self._dhcp is not None:
                self._dhcp.close()
            if self._relay is not None:
                self._relay.close()
            self._mh.close()
            self._ra.close()
            if self._deferred_flush is not None:
                self._deferred_flush.cancel()
            self._flush_deferred()
            await asyncio.to_thread(self.store.close)
            await self.dataplane.close()
            engine.dispose()

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(TimerFired())

    def _resynchronised(self, interface: str, stations: list[StationInfo]) -> None:
        confirmed = [ConfirmedStation(mac=s.mac, authorized=s.authorized, identity=s.identity)
                     for s in stations]  # fmt: skip
        self._put(_Resync(interface, confirmed))

    def _station_reporter(self, interface: str) -> Any:
        def report(event: StationEvent) -> None:
            self._put((interface, event))

        return report

    def _expect_answer(self) -> None:
        """A PBU just left: the station queue pauses until the LMA's answer has been handled
        (at most ``_HOLD_LIMIT``), so that the PBA finds this process idle rather than in the
        middle of an accounting record or a hostapd query that arrived meanwhile (their
        answers only wait a few milliseconds more). Only an isolated PBU holds the queue: at
        most one hold per ``_HOLD_SPACING``, so a busy MAG never waits."""
        now = time.monotonic()
        if self._answer is not None or now - self._held_at < _HOLD_SPACING:
            return
        self._held_at = now
        self._answer_until = now + _HOLD_LIMIT
        self._answer = asyncio.get_running_loop().create_future()

    def _answered(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(None)

    async def _hold_for_answer(self) -> None:
        answer = self._answer
        assert answer is not None
        remaining = self._answer_until - time.monotonic()
        if remaining > 0 and not answer.done():
            await asyncio.wait((answer,), timeout=remaining)
        self._answer = None

    def _signalling(self, item: Any) -> None:
        """PBAs, revocations and heartbeats from the LMA skip the station queue: a PBA must not
        wait behind a hostapd ``STA`` query or an accounting record (it ends the handover)."""
        if self.core is None:
            self._put(item)
            return
        task = asyncio.ensure_future(self._feed(item, _now()))
        self._dataplane_tasks.add(task)

        def done(finished: asyncio.Future[None]) -> None:
            self._dataplane_tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("signalling: %s", finished.exception())
            self._arm_timer()  # a PBA sets the refresh timer
            self._answered()

        task.add_done_callback(done)

    def _put(self, item: Any) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("MAG queue full: input dropped")

    def _accounting_rejected(self, source: str, reason: str, detail: str) -> None:
        # Counted, not written per packet: a flood of forged packets must not flood the store.
        self.security.note("accounting_rejected", source, reason, detail, _now())

    def _drain_security(self, now: Now, *, force: bool = False) -> None:
        records = self.security.drain(now, force=force)
        if records and self.store is not None:
            self.store.submit(audit=records)

    def _upstream_failed(self, reason: str, detail: str) -> None:
        assert self.store is not None
        self.store.submit(
            audit=[
                RecordAudit(
                    kind="accounting_forward_failed",
                    utc=time.time(),
                    fields={"reason": reason, "detail": detail},
                )
            ]
        )

    def _defer_audits(self, audits: list[RecordAudit]) -> None:
        self._deferred.extend(audits)
        if self._deferred_flush is None:
            loop = asyncio.get_running_loop()
            self._deferred_flush = loop.call_later(0.005, self._flush_deferred)

    def _flush_deferred(self) -> None:
        self._deferred_flush = None
        records, self._deferred = self._deferred, []
        if records and self.store is not None:
            self.store.submit(audit=records)

    def _profile_seen(self, mac: str, profile: MobilityProfile, nas_address: str) -> None:
        """An Access-Accept for ``mac`` passed the relay: keep its profile for the attachment
        that follows (hostapd's event or accounting Start, a few milliseconds later), and
        prepare the station's downlink meanwhile when the profile names its prefix."""
        assert self.config.radius_relay is not None
        now = time.monotonic()
        nas = next((n for n in self.config.nases if n.address == nas_address), None)
        known = self.core is not None and self.core.station_state(mac) is not None
        if nas is not None and nas.interface and profile.home_network_prefix and not known:
            self._early_downlink(
                StationBinding(
                    mac=mac,
                    mn_id=profile.user_name or b"",
                    interface=nas.interface,
                    home_network_prefixes=(profile.home_network_prefix,),
                    ipv4_home_address=profile.ipv4_home_address,
                    lma_address=profile.lma_address or self.config.lma_address,
                ),
                now + self.config.radius_relay.profile_ttl,
            )
        if len(self._profiles) > 4096:
            self._profiles = {m: e for m, e in self._profiles.items() if e[1] > now}
        expiry = now + self.config.radius_relay.profile_ttl
        self._profiles[mac] = (profile, expiry)
        if profile.user_name:
            if len(self._accepted) > 4096:
                self._accepted = {m: e for m, e in self._accepted.items() if e[1] > now}
            name = profile.user_name.decode("utf-8", "replace")
            self._accepted[mac] = (name, min(expiry, now + 5.0), _SUCCESS_EVENTS)

    def _accepted_for(self, event: StationEvent) -> str | None:
        """The User-Name of the Access-Accept that ``event`` (a hostapd success event) reports,
        if the relay passed one for the station moments ago and it has not confirmed an event
        of this kind yet."""
        kind = event.kind.name
        if kind not in _SUCCESS_EVENTS:  # a new authentication, a failure, a disconnection
            self._accepted.pop(event.mac, None)
            return None
        entry = self._accepted.get(event.mac)
        if entry is None:
            return None
        name, expiry, left = entry
        if expiry < time.monotonic():
            del self._accepted[event.mac]
            return None
        if kind not in left:
            return None
        left = left - {kind}
        if left:
            self._accepted[event.mac] = (name, expiry, left)
        else:
            del self._accepted[event.mac]
        return name

    def _with_profile(self, item: StationAttached) -> tuple[StationAttached, RecordAudit | None]:
        """``item`` with the profile of its Access-Accept, and the audit record saying so."""
        entry = self._profiles.pop(item.mac, None)
        if entry is None or entry[1] < time.monotonic():
            return item, None
        profile = entry[0]
        fields = {
            "mac": item.mac,
            "prefix": profile.home_network_prefix,
            "ipv4": profile.ipv4_home_address,
            "lma": profile.lma_address,
        }
        record = RecordAudit(
            kind="aaa_profile", utc=time.time(), mn_id=item.mn_id, peer=self.config.name,
            fields=fields,
        )  # fmt: skip
        item = dataclasses.replace(
            item,
            home_network_prefix=item.home_network_prefix or profile.home_network_prefix,
            ipv4_home_address=item.ipv4_home_address or profile.ipv4_home_address,
            lma_address=item.lma_address or profile.lma_address,
        )
        return item, record

    def _relay_rejected(self, source: str, reason: str, detail: str) -> None:
        self.security.note("radius_relay_rejected", source, reason, detail, _now())

    def _dhcp_rejected(self, interface: str, reason: str, detail: str) -> None:
        self.security.note("malformed_packet", f"dhcpv4 {interface}", reason, detail, _now())

    def _dhcp_answered(self, interface: str, request: DhcpRequest, decision: DhcpDecision) -> None:
        if decision.reply is None:
            if decision.reason.startswith("no registered binding"):
                # A station that is not (yet) registered here: counted, not written per packet.
                detail = f"{request.message_type.name} from {request.mac}"
                self.security.note("dhcp_refused", f"dhcpv4 {interface}", decision.reason,
                                   detail, _now())  # fmt: skip
            return
        if decision.reply is DhcpMessageType.OFFER or self.store is None or self.core is None:
            return
        station = self.core.station(request.mac)
        fields = {
            "mac": request.mac,
            "interface": interface,
            "request": request.message_type.name,
            "address": decision.yiaddr,
            "reason": decision.reason,
        }
        kind = "dhcp_ack" if decision.reply is DhcpMessageType.ACK else "dhcp_nak"
        mn_id = station.mn_id if station is not None else None
        record = RecordAudit(
            kind=kind, utc=time.time(), mn_id=mn_id, peer=self.config.name, fields=fields
        )
        self.store.submit(audit=[record])

    def _hook_rejected(self, line: str, reason: str) -> None:
        self.security.note("hook_event_rejected", self.config.hook_socket or "?", reason, line,
                           _now())  # fmt: skip

    def _accounting_duplicate(self, nas: Nas, request: AccountingRequest) -> None:
        assert self.store is not None
        self.store.submit(
            audit=[accounting_audit("accounting_duplicate", nas.name, request, time.time())]
        )

    def _in_background(self, work: Coroutine[Any, Any, None], then: Callable[[], None]) -> None:
        """Run data-plane work without holding up the event queue (accounting answers, other
        stations); the netlink worker is one thread, so the station's operations keep their
        order. ``then`` (the Router Advertisement) follows the work's success."""
        task = asyncio.ensure_future(work)
        self._dataplane_tasks.add(task)

        def done(finished: asyncio.Future[None]) -> None:
            self._dataplane_tasks.discard(finished)
            error = None if finished.cancelled() else finished.exception()
            if error is None:
                then()
                return
            log.error("data plane: %s", error)
            if self.store is not None:
                self.store.submit(audit=[RecordAudit(kind="dataplane_error", utc=time.time(),
                                                     fields={"error": str(error)})])  # fmt: skip

        task.add_done_callback(done)

    def _early_downlink(self, station: StationBinding, deadline: float) -> None:
        """The AAA server's Access-Accept named the station's prefix (and IPv4 HoA): its
        downlink is made ready before the PBA comes back, even before hostapd reports the
        station (see ``MagLinuxDataPlane.prepare_downlink``). Withdrawn if no registration
        follows by ``deadline`` (monotonic) or the registration ends without an ack."""
        if self._early.get(station.mac, (None, 0.0))[0] == station:
            return
        self._early[station.mac] = (station, deadline, False)
        self._in_background(self.dataplane.prepare_downlink(station), lambda: None)
        # Checked again after the deadline, even if nothing else happens at this MAG meanwhile.
        delay = max(0.0, deadline - time.monotonic()) + 0.05
        asyncio.get_running_loop().call_later(delay, self._withdraw_failed_early_downlinks)

    def _drop_early_downlink(self, installed: StationBinding) -> None:
        """The registration is complete: what was prepared and is not part of it goes."""
        entry = self._early.pop(installed.mac, None)
        if entry is None:
            return
        early = entry[0]
        stale = StationBinding(
            mac=early.mac,
            mn_id=early.mn_id,
            interface=early.interface,
            home_network_prefixes=tuple(
                p for p in early.home_network_prefixes if p not in installed.home_network_prefixes
            ),
            ipv4_home_address=(
                early.ipv4_home_address
                if early.ipv4_home_address != installed.ipv4_home_address
                else None
            ),
            lma_address=early.lma_address,
        )
        if stale.interface != installed.interface:
            stale = early
        if stale.home_network_prefixes or stale.ipv4_home_address:
            self._in_background(self.dataplane.withdraw_downlink(stale), lambda: None)

    def _withdraw_failed_early_downlinks(self) -> None:
        """A station whose registration ended without an acknowledgement (rejected, never
        answered, detached meanwhile) loses what was prepared for it."""
        assert self.core is not None
        waiting = (StationState.REGISTERING, StationState.REGISTERED, StationState.REFRESHING)
        now = time.monotonic()
        for mac, (early, deadline, attached) in list(self._early.items()):
            state = self.core.station_state(mac)
            if state in waiting:
                if not attached:  # its PBA decides from now on
                    self._early[mac] = (early, deadline, True)
            elif attached or state is not None or deadline < now:
                del self._early[mac]
                self._in_background(self.dataplane.withdraw_downlink(early), lambda: None)

    def _advertise(
        self, interface: str, prefixes: Sequence[str], lifetime: int | None = None
    ) -> None:
        if self._ra is not None:
            with contextlib.suppress(OSError):
                self._ra.advertise(interface, prefixes, lifetime=lifetime)

    def _arm_timer(self) -> None:
        assert self.core is not None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.core.next_deadline()
        if deadline is not None:
            delay = max(0.0, deadline - time.monotonic())
            self._timer = asyncio.get_running_loop().call_later(delay, self._put, TimerFired())

    async def _handle(self, item: Any) -> None:
        assert self.core is not None and self.store is not None
        now = _now()
        if type(item) is AccountingReceived:
            request = item.request
            nas = next(n for n in self.config.nases if n.name == item.nas.name)
            session = AccountingSession(
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
            )
            assert self._record_accounting is not None
            self._record_accounting(item, now.utc)
            if self._forwarder is not None:
                self._forwarder.forward(item.data)
            for out in self.intake.on_accounting(session, now):
                await self._feed(out, now)
            return
        if type(item) is _Resync:
            for out in self.intake.on_resync(item.interface, item.stations, now):
                await self._feed(out, now)
            return
        if isinstance(item, tuple) and type(item[1]) is StationEvent:
            interface, event = item[0], item[1]
            from_hook = len(item) > 2
            confirmed = None
            client = self._hostapd.get(interface)
            if from_hook and event.kind.name == "DISCONNECTED":
                # A hook datagram is only a trigger: a station hostapd still serves stays.
                still = None
                if client is not None:
                    with contextlib.suppress(HostapdUnavailable):
                        still = await client.sta(event.mac)
                if client is None or (still is not None and still.authorized):
                    self._hook_rejected(event.raw, "hostapd still reports the station")
                    return
            accepted = self._accepted_for(event) if not from_hook else None
            if accepted is not None:
                # The relay passed this station's Access-Accept to hostapd a moment ago and
                # hostapd's own control socket now reports the success: hostapd's identity for
                # it is that Accept's User-Name, so no STA round trip is needed. (One Accept
                # confirms each of the two success events once: EAP success, then, for a
                # station new on the port, AP-STA-CONNECTED, which arrives while its PBU is in
                # flight and would otherwise wake hostapd for a STA query just then.)
                confirmed = ConfirmedStation(mac=event.mac, authorized=True, identity=accepted)
            elif client is not None and event.kind.name in ("AUTHORIZED", "AUTHENTICATED"):
                with contextlib.suppress(HostapdUnavailable):
                    info = await client.sta(event.mac)
                    if info is not None:
                        confirmed = ConfirmedStation(
                            mac=info.mac, authorized=info.authorized, identity=info.identity
                        )
            for out in self.intake.on_hostapd(event, confirmed, interface, now):
                await self._feed(out, now)
            return
        await self._feed(item, now)

    async def _feed(self, item: Any, now: Now) -> None:
        assert self.core is not None and self.store is not None
        if type(item) is RecordAudit:
            self.store.submit(audit=[item])
            return
        # Nothing reaches the store before the PBU has left: a submission wakes the store's
        # sender thread, which would take the GIL from this one for up to a switch interval.
        audits: list[RecordAudit] = []
        if type(item) is StationAttached and self._profiles:
            item, applied = self._with_profile(item)
            if applied is not None:
                audits.append(applied)
        if type(item) is StationAttached and item.lma_address is None and self._selection:
            chosen = select_lma(item.mn_id, self._selection)
            if chosen is not None:
                item = dataclasses.replace(item, lma_address=chosen)
        signalled = False
        for action in self.core.handle(item, now):
            match action:
                case SendMessage():
                    assert self._mh is not None
                    self._mh.send(action.message, action.destination)
                    signalled = True
                    if type(action.message) is ProxyBindingUpdate:
                        self._expect_answer()
                case InstallStationRoutes():
                    station = action.station
                    self._drop_early_downlink(station)
                    self._in_background(
                        self.dataplane.install(station),
                        functools.partial(
                            self._advertise, station.interface, station.home_network_prefixes
                        ),
                    )
                case RemoveStationRoutes():
                    station = action.station
                    self._in_background(
                        self.dataplane.remove(station),
                        functools.partial(
                            self._advertise, station.interface, station.home_network_prefixes, 0
                        ),
                    )
                case DeauthenticateStation():
                    client = self._hostapd.get(action.interface)
                    if client is not None:
                        with contextlib.suppress(HostapdUnavailable):
                            await client.deauthenticate(action.mac)
                case RecordAudit():
                    audits.append(action)
        if self._early:
            self._withdraw_failed_early_downlinks()
        if audits and signalled:
            # A PBU is on its way: the answer should find this thread free, not waiting for
            # the GIL while the store's sender thread pickles these records (up to a switch
            # interval). They follow a few milliseconds later, before any stop completes.
            self._defer_audits(audits)
        elif audits:
            self.store.submit(audit=audits)
