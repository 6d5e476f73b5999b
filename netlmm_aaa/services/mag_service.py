"""The MAG daemon: a runner around the sans-IO MAG core.

Adapters (hostapd's control socket and hook, the RADIUS accounting listener and relay, the
mobility socket) turn what they receive into the core's typed events; one queue orders the
station reports; the core returns actions, carried out here in order: signalling to the LMA,
data-plane work (in the background, in order, on the data plane's one worker), Router
Advertisements once routes are in, hostapd queries and deauthentications, audit records.

Accounting records are acknowledged to the NAS only once their audit row is committed (RFC 2866).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import assert_never

from netlmm_aaa.adapters.dhcpv4_server import Dhcpv4Server
from netlmm_aaa.adapters.hostapd_control import HostapdControl, HostapdUnavailable
from netlmm_aaa.adapters.hostapd_hook_socket import HookSocket
from netlmm_aaa.adapters.mobility_socket import MobilityHeaderSocket, Udp5436Socket
from netlmm_aaa.adapters.radius_accounting_listener import (
    AccountingReceived,
)
from netlmm_aaa.adapters.radius_auth_relay import RadiusAuthRelay
from netlmm_aaa.adapters.radius_disconnect import disconnect
from netlmm_aaa.adapters.router_advertiser import RouterAdvertiser, RouterSolicitations
from netlmm_aaa.config import MagConfig, NasConfig, load_mag_config
from netlmm_aaa.config.reload import mag_restart_needed
from netlmm_aaa.core.actions import (
    AdvertiseRouter,
    DeauthenticateStation,
    InstallStationRoutes,
    MagAction,
    PrepareDownlink,
    QueryStation,
    RecordAudit,
    RefuseHookLine,
    RemoveStationRoutes,
    SendMessage,
    StationBinding,
    WithdrawDownlink,
)
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.dhcpv4_decisions import DhcpDecision, DhcpMessageType, DhcpRequest
from netlmm_aaa.core.errors import ConfigError
from netlmm_aaa.core.events import (
    AccessAcceptRelayed,
    AccessProfile,
    ConfirmedStation,
    MagEvent,
    RouterSolicited,
    StationEvent,
    StationEventReported,
    StationQueried,
    StationsListed,
    TimerFired,
    Transport,
)
from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.core.messages import ProxyBindingUpdate
from netlmm_aaa.core.mobile_access_gateway import MagPolicy, MobileAccessGateway
from netlmm_aaa.core.security_events import SecurityEvents
from netlmm_aaa.dataplane.port import DataPlaneError, MagDataPlane
from netlmm_aaa.logs import log_audit
from netlmm_aaa.metrics import Metrics, serve_metrics
from netlmm_aaa.persistence import migrate
from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.store import SqlStore
from netlmm_aaa.services.config_reload import ConfigReloads
from netlmm_aaa.services.mag_accounting import MagAccounting
from netlmm_aaa.services.retention_task import prune_periodically
from netlmm_aaa.services.runtime import schedule_as_daemon, settle_heap
from netlmm_aaa.services.security_flush import flush_security_events
from netlmm_aaa.wire.hostapd_events import StationInfo
from netlmm_aaa.wire.radius_auth import MobilityProfile

log = logging.getLogger(__name__)

_HOLD_LIMIT = 0.005
"""Longest pause of the station queue while a PBU's answer is awaited (seconds)."""
_QUIET = 0.05
"""Only a PBU sent this long or longer after the PBU before it pauses the queue (an isolated
PBU: a handover). Under steady load nothing pauses: there a pause only delays the next
stations' PBUs behind this one's round trip."""
_AUDIT_DELAY = 0.005
"""Audit records of a step that sent a PBU follow this much later (see ``_submit_audits``)."""

QueueItem = MagEvent | AccountingReceived


def system_now() -> Now:
    return Now(time.monotonic(), time.time())


def _confirmed(info: StationInfo) -> ConfirmedStation:
    return ConfirmedStation(mac=info.mac, authorized=info.authorized, identity=info.identity)


def mag_policy(config: MagConfig, restart_counter: int) -> MagPolicy:
    """What the MAG core decides with, from its configuration (at start and on a reload)."""
    return MagPolicy(
        name=config.name,
        proxy_coa=config.proxy_coa,
        ipv4_proxy_coa=config.ipv4_proxy_coa,
        lma_address=config.lma_address,
        lifetime=config.lifetime,
        router_lifetime=config.router_lifetime,
        home_prefix_lengths=config.home_prefix_lengths,
        access_technology=config.access_technology,
        ipv4=config.ipv4,
        restart_counter=restart_counter,
        gre=config.tunnel_mode is TunnelMode.GRE,
        accounting_replay_window=config.accounting_replay_window,
        profile_ttl=config.radius_relay.profile_ttl if config.radius_relay is not None else 60.0,
        lma_selection=config.lma_selection,
        quiet_lmas=config.quiet_lmas,
        mab_nases=frozenset(n.name for n in config.nases if n.allow_mab),
    )


def _awaits(actions: Sequence[MagAction]) -> bool:
    """Whether carrying out ``actions`` waits for something (hostapd answering a query or a
    deauthentication); the others are carried out without a coroutine or a task."""
    for action in actions:
        if type(action) is QueryStation or type(action) is DeauthenticateStation:
            return True
    return False


class MagService:
    """Runs one MAG until stopped."""

    def __init__(
        self,
        config: MagConfig,
        dataplane: MagDataPlane,
        *,
        clock: Callable[[], Now] = system_now,
        config_path: str | None = None,
    ) -> None:
        self.config = config
        self.reloads = ConfigReloads(
            config_path,
            load=load_mag_config,
            restart_needed=mag_restart_needed,
            current=lambda: self.config,
            apply=self._apply_config,
            submit=lambda records: self.store.submit(audit=records) if self.store else None,
            clock=clock,
            peer=config.name,
        )
        self.dataplane = dataplane
        self.clock = clock
        self.core: MobileAccessGateway | None = None
        self.store: SqlStore | None = None
        self.queue: asyncio.Queue[QueueItem] = asyncio.Queue(maxsize=100_000)
        self._mh: MobilityHeaderSocket | None = None
        self._udp: Udp5436Socket | None = None
        """RFC 5844 §4: signalling with IPv4 LMAs (our ``ipv4_proxy_coa``, port 5436)."""
        self._ra: RouterAdvertiser | None = None
        self._solicitations: RouterSolicitations | None = None
        self._dhcp: Dhcpv4Server | None = None
        self._relay: RadiusAuthRelay | None = None
        self._deferred: list[RecordAudit] = []
        self._deferred_flush: asyncio.TimerHandle | None = None
        self._accounting: MagAccounting | None = None
        self._hostapd: dict[str, HostapdControl] = {}
        self._stopping = asyncio.Event()
        self._dataplane_tasks: set[asyncio.Future[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline = 0.0
        """The core's deadline ``_timer`` is armed for (monotonic seconds)."""
        self._answer: asyncio.Future[None] | None = None
        """Resolved by the next signalling message from the LMA (see ``_hold_for_answer``)."""
        self._answer_until = 0.0
        self._pbu_at = -_QUIET
        """When the last PBU left (monotonic seconds)."""
        self.ready = asyncio.Event()
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
        schedule_as_daemon(asyncio.get_running_loop())
        config = self.config
        migrate.upgrade(config.database)
        engine = make_engine(config.database)
        # Commits in a writer process, as the LMA's: after a controller's reboot every
        # station registers at once, and the store's work (several rows per station) would
        # otherwise hold this process's GIL against the signalling (docs/benchmarks.md, the
        # MAG path).
        self.store = SqlStore(engine, config.name, process=True)
        self.store.observers.append(self.metrics.observe)
        self.store.observers.append(log_audit)
        metrics_server = (
            await serve_metrics(self.metrics, config.metrics_listen)
            if config.metrics_listen
            else None
        )
        counter = await asyncio.to_thread(self.store.bump_restart_counter)
        self.core = MobileAccessGateway(mag_policy(config, counter))
        # The replay tombstones of the last window survive the restart (station_intake).
        now = self.clock()
        since = now.utc - config.accounting_replay_window
        stops = await asyncio.to_thread(self.store.recent_stops, since)
        self.core.intake.restore_stops(stops, now)
        await self.dataplane.start()
        self.metrics.set_dataplane(self.dataplane.backend_name, config.tunnel_mode.value)
        for interface in config.access_interfaces:
            await self.dataplane.prepare_access_interface(interface)
        loop = asyncio.get_running_loop()
        self._ra = RouterAdvertiser(
            mtu=config.mtu,
            router_lifetime=config.router_lifetime,
            dns_servers=config.ra_dns,
            search_domains=config.ra_search,
        )
        self._solicitations = RouterSolicitations(
            config.access_interfaces,
            lambda interface, mac: self._put(RouterSolicited(interface=interface, mac=mac)),
        )
        self._solicitations.start()
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
        if config.proxy_coa is not None:
            self._mh = MobilityHeaderSocket(config.proxy_coa, self._signalling)
            self._mh.start(loop)
        if config.ipv4_proxy_coa is not None:
            self._udp = Udp5436Socket(config.ipv4_proxy_coa, self._signalling)
            await self._udp.start(loop)
        await self._carry_out(self.core.announce_restart(self.clock()), self.clock())
        if config.nases:
            self._accounting = MagAccounting(
                config, self.store, self.security, self.metrics, self.clock, self._put
            )
            await self._accounting.start()
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
                deliver=lambda interface, event: self._put(
                    StationEventReported(interface=interface, event=event, via_hook=True)
                ),
                rejected=self._hook_rejected,
            )
            await hook.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, self.reloads.signalled)
        settle_heap()
        self.ready.set()
        self.metrics.set_ready()
        coas = " ".join(a for a in (config.proxy_coa, config.ipv4_proxy_coa) if a)
        log.info("MAG %s ready (Proxy-CoA %s, LMA %s)", config.name, coas, config.lma_address)
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
        try:
            while not self._stopping.is_set():
                item = await self.queue.get()
                if self._answer is not None:
                    await self._hold_for_answer()
                await self._handle(item)
                self._arm_timer()
        finally:
            flusher.cancel()
            if pruner is not None:
                pruner.cancel()
            self._drain_security(self.clock(), force=True)
            if metrics_server is not None:
                metrics_server.close()
            if hook is not None:
                hook.close()
            for client in self._hostapd.values():
                await client.close()
            if self._accounting is not None:
                self._accounting.close()
            if self._dataplane_tasks:
                await asyncio.gather(*self._dataplane_tasks, return_exceptions=True)
            if self._dhcp is not None:
                self._dhcp.close()
            if self._relay is not None:
                self._relay.close()
            if self._mh is not None:
                self._mh.close()
            if self._udp is not None:
                self._udp.close()
            self._ra.close()
            if self._solicitations is not None:
                self._solicitations.close()
            if self._deferred_flush is not None:
                self._deferred_flush.cancel()
            self._flush_deferred()
            await asyncio.to_thread(self.store.close)
            await self.dataplane.close()
            engine.dispose()

    async def _apply_config(self, new: MagConfig) -> dict[str, object]:
        """A reload that config.reload accepted: registered stations are not touched. New
        LMAs: the data plane decapsulates from them before a station is sent there; one that
        left: once the core no longer sends stations there."""
        assert self.core is not None
        lmas = {s.lma_address for s in new.lma_selection}
        known = {s.lma_address for s in self.config.lma_selection}
        if lmas - known:
            try:
                await self.dataplane.set_peers(sorted(lmas | known))
            except DataPlaneError as exc:
                why = f"mag.lma_selection: the data plane cannot take the new LMAs: {exc}"
                raise ConfigError(why) from None
        try:  # the policy the new file gives; the core refuses it if more than rules differ
            self.core.reconfigure(mag_policy(new, self.core.policy.restart_counter))
        except ConfigError:
            if lmas - known:
                await self.dataplane.set_peers(sorted(known))
            raise
        details: dict[str, object] = {}
        if known - lmas:
            try:
                await self.dataplane.set_peers(sorted(lmas))
            except DataPlaneError as exc:  # the core sends no station there any more
                log.error("MAG %s: the data plane still decapsulates from LMAs that left: %s",
                          new.name, exc)  # fmt: skip
                details["dataplane_error"] = str(exc)
        if self._accounting is not None:
            self._accounting.set_nases(new.nases)
        if self._relay is not None and new.radius_relay is not None:
            self._relay.set_secrets(
                {n.address: n.secret for n in new.nases}, new.radius_relay.server_secret
            )
        self.config = new
        return {**details, "nases": len(new.nases), "lmas": sorted(lmas)}

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(TimerFired())

    # ------------------------------------------------------------------ adapters -> events

    def _put(self, item: QueueItem) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("MAG queue full: input dropped")

    def _resynchronised(self, interface: str, stations: list[StationInfo]) -> None:
        listed = tuple(_confirmed(s) for s in stations)
        self._put(StationsListed(interface=interface, stations=listed))

    def _station_reporter(self, interface: str) -> Callable[[StationEvent], None]:
        def report(event: StationEvent) -> None:
            self._put(StationEventReported(interface=interface, event=event))

        return report

    def _profile_seen(self, mac: str, profile: MobilityProfile, nas_address: str) -> None:
        """An Access-Accept for ``mac`` passed the relay: handled at once (not queued), so
        that the station's downlink is being prepared before hostapd reports the station."""
        nas = next((n for n in self.config.nases if n.address == nas_address), None)
        self._handle_now(
            AccessAcceptRelayed(
                mac=mac,
                interface=nas.interface if nas is not None and nas.interface else None,
                profile=AccessProfile(
                    user_name=profile.user_name,
                    home_network_prefix=profile.home_network_prefix,
                    ipv4_home_address=profile.ipv4_home_address,
                    lma_address=profile.lma_address,
                ),
            )
        )

    # ------------------------------------------------------------------ events -> core -> actions

    async def _handle(self, item: QueueItem) -> None:
        assert self.core is not None
        now = self.clock()
        if isinstance(item, AccountingReceived):
            assert self._accounting is not None
            event: MagEvent = self._accounting.reported(item, now)
        else:
            event = item
        actions = self.core.handle(event, now)
        if _awaits(actions):
            await self._carry_out(actions, now)
        else:
            self._carry_out_now(actions)

    def _signalling(self, event: MagEvent) -> None:
        self._handle_now(event, signalling=True)

    def _handle_now(self, event: MagEvent, *, signalling: bool = False) -> None:
        """Signalling from the LMA and relayed Access-Accepts skip the station queue: a PBA must
        not wait behind a hostapd ``STA`` query or an accounting record (it ends the
        handover). The core decides at once; its actions are carried out at once too, or in a
        task when one of them waits (a hostapd query)."""
        if self.core is None:
            self._put(event)
            return
        now = self.clock()
        actions = self.core.handle(event, now)
        if not _awaits(actions):
            try:
                self._carry_out_now(actions)
            except Exception as exc:  # as the task's failure below: logged, the loop goes on
                log.error("%s: %s", type(event).__name__, exc)
            self._arm_timer()  # a PBA sets the refresh timer, an Accept a deadline
            if signalling:
                self._answered()
            return
        task = asyncio.ensure_future(self._carry_out(actions, now))
        self._dataplane_tasks.add(task)

        def done(finished: asyncio.Future[None]) -> None:
            self._dataplane_tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("%s: %s", type(event).__name__, finished.exception())
            self._arm_timer()
            if signalling:
                self._answered()

        task.add_done_callback(done)

    async def _carry_out(self, actions: Sequence[MagAction], now: Now) -> None:
        """The core's actions, in order, waiting where one waits (see :func:`_awaits`)."""
        assert self.core is not None
        audits: list[RecordAudit] = []
        signalled = False
        for action in actions:
            match action:
                case DeauthenticateStation():
                    client = self._hostapd.get(action.interface)
                    if client is not None:
                        with contextlib.suppress(HostapdUnavailable):
                            await client.deauthenticate(action.mac)
                    else:
                        self._disconnect_soon(action)
                case QueryStation():
                    answer = StationQueried(
                        interface=action.interface,
                        event=action.event,
                        via_hook=action.via_hook,
                        station=await self._query(action),
                    )
                    # Decided with the report's time: its event-to-PBA latency includes the query.
                    await self._carry_out(self.core.handle(answer, now), now)
                case _:
                    signalled |= self._carry_out_one(action, audits)
        self._submit_audits(audits, signalled)

    def _carry_out_now(self, actions: Sequence[MagAction]) -> None:
        """:meth:`_carry_out` of actions none of which waits: no coroutine, no task."""
        audits: list[RecordAudit] = []
        signalled = False
        for action in actions:
            signalled |= self._carry_out_one(action, audits)
        self._submit_audits(audits, signalled)

    def _carry_out_one(self, action: MagAction, audits: list[RecordAudit]) -> bool:
        """One action that does not wait (audit records are collected in ``audits``); True if
        it sent signalling."""
        match action:
            case SendMessage():
                self._send(action)
                if type(action.message) is ProxyBindingUpdate:
                    self._expect_answer()
                return True
            case InstallStationRoutes():
                station = action.station
                advertise = functools.partial(self._advertise, station)
                self._in_background(self.dataplane.install(station), advertise)
            case RemoveStationRoutes():
                station = action.station
                withdraw = functools.partial(self._advertise, station, withdraw=True)
                self._in_background(self.dataplane.remove(station), withdraw)
            case AdvertiseRouter():
                self._advertise(action.station)
            case PrepareDownlink():
                self._in_background(self.dataplane.prepare_downlink(action.station))
            case WithdrawDownlink():
                self._in_background(self.dataplane.withdraw_downlink(action.station))
            case RefuseHookLine():
                self._hook_rejected(action.line, action.reason)
            case RecordAudit():
                audits.append(action)
            case DeauthenticateStation() | QueryStation():
                raise AssertionError(f"{type(action).__name__} waits: carried out by _carry_out")
            case _:
                assert_never(action)
        return False

    def _submit_audits(self, audits: list[RecordAudit], signalled: bool) -> None:
        """Audit records go to the store after the step's other actions; when a PBU left in
        the step they follow ``_AUDIT_DELAY`` later, so that its answer finds this thread free
        rather than waiting for the GIL while the store's thread takes them."""
        assert self.store is not None
        if audits and signalled:
            self._defer_audits(audits)
        elif audits:
            self.store.submit(audit=audits)

    def _disconnect_soon(self, action: DeauthenticateStation) -> None:
        """A station a NAS reported by accounting only: an RFC 5176 Disconnect-Request to that
        NAS when it has a ``disconnect_port``; either way the outcome is audited."""
        nas = next((n for n in self.config.nases if n.name == action.nas), None)
        task = asyncio.ensure_future(self._disconnect(action, nas))
        self._dataplane_tasks.add(task)
        task.add_done_callback(self._dataplane_tasks.discard)

    async def _disconnect(self, action: DeauthenticateStation, nas: NasConfig | None) -> None:
        fields: dict[str, object] = {"nas": action.nas, "mac": action.mac,
                                     "session_id": action.session_id}  # fmt: skip
        if nas is None or nas.disconnect_port is None:
            fields["result"] = "not_configured"  # the station stays connected at its NAS
        else:
            # The session is named by the station's MAC and Acct-Session-Id, not User-Name: the
            # MN-ID may be the Chargeable-User-Identity, and a NAS NAKs a request whose
            # identification attributes do not all match (RFC 5176 §3).
            outcome = await disconnect(
                nas.address, nas.secret, port=nas.disconnect_port,
                calling_station_id=action.mac, session_id=action.session_id,
                nas_identifier=nas.identifier, event_timestamp=int(self.clock().utc),
            )  # fmt: skip
            fields.update(result=outcome.result, tries=outcome.tries)
            if outcome.error_cause is not None:
                fields["error_cause"] = outcome.error_cause
        if self.store is not None:
            self.store.submit(audit=[RecordAudit(
                kind=AuditKind.DISCONNECT_REQUESTED, utc=self.clock().utc,
                mn_id=(action.user_name or "").encode() or None, peer=self.config.name,
                fields=fields)])  # fmt: skip

    def _send(self, action: SendMessage) -> None:
        # Configuration makes sure the socket of every LMA's family exists.
        if action.transport is Transport.UDP4:
            assert self._udp is not None
            self._udp.send(action.message, action.destination, action.destination_port)
        else:
            assert self._mh is not None
            self._mh.send(action.message, action.destination)

    async def _query(self, action: QueryStation) -> ConfirmedStation | None:
        client = self._hostapd.get(action.interface)
        if client is None:
            return None
        with contextlib.suppress(HostapdUnavailable):
            info = await client.sta(action.event.mac)
            if info is not None:
                return _confirmed(info)
        return None

    def _in_background(self, work: Awaitable[None], then: Callable[[], None] | None = None) -> None:
        """Run data-plane work without holding up the event queue (accounting answers, other
        stations); the data plane's worker is one thread, so a station's operations keep their
        order. ``then`` (the Router Advertisement) follows the work's success. The data plane
        hands back a future (a coroutine would get a task of its own here)."""
        task = asyncio.ensure_future(work)
        self._dataplane_tasks.add(task)

        def done(finished: asyncio.Future[None]) -> None:
            self._dataplane_tasks.discard(finished)
            error = None if finished.cancelled() else finished.exception()
            if error is None:
                if then is not None:
                    then()
                return
            log.error("data plane: %s", error)
            if self.store is not None:
                failure = RecordAudit(kind=AuditKind.DATAPLANE_ERROR, utc=self.clock().utc,
                                      fields={"error": str(error)})  # fmt: skip
                self.store.submit(audit=[failure])

        task.add_done_callback(done)

    def _advertise(self, station: StationBinding, *, withdraw: bool = False) -> None:
        if self._ra is not None and station.home_network_prefixes:
            with contextlib.suppress(OSError):
                self._ra.advertise(station.interface, station.mac,
                                   station.home_network_prefixes, withdraw=withdraw)  # fmt: skip

    def _arm_timer(self) -> None:
        """Wake the core at its next deadline. Called after every event: when that deadline
        did not move (the usual case) the armed timer stays, rather than a handle being
        cancelled and another scheduled per event."""
        assert self.core is not None
        deadline = self.core.next_deadline()
        if self._timer is not None:
            if deadline == self._timer_deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            delay = max(0.0, deadline - self.clock().monotonic)
            self._timer_deadline = deadline
            self._timer = asyncio.get_running_loop().call_later(delay, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self._put(TimerFired())

    # ------------------------------------------------------------------ waiting for the PBA

    def _expect_answer(self) -> None:
        """A PBU just left: the station queue pauses until the LMA's answer has been handled
        (at most ``_HOLD_LIMIT``), so that the PBA finds this process idle rather than in the
        middle of an accounting record or a hostapd query that arrived meanwhile (their
        answers only wait a few milliseconds more). Only an isolated PBU holds the queue (see
        ``_QUIET``), so a busy MAG never waits."""
        now = time.monotonic()
        isolated = now - self._pbu_at >= _QUIET
        self._pbu_at = now
        if self._answer is not None or not isolated:
            return
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

    def _defer_audits(self, audits: list[RecordAudit]) -> None:
        self._deferred.extend(audits)
        if self._deferred_flush is None:
            loop = asyncio.get_running_loop()
            self._deferred_flush = loop.call_later(_AUDIT_DELAY, self._flush_deferred)

    def _flush_deferred(self) -> None:
        self._deferred_flush = None
        records, self._deferred = self._deferred, []
        if records and self.store is not None:
            self.store.submit(audit=records)

    # ------------------------------------------------------------------ refused input, audit

    def _relay_rejected(self, source: str, reason: str, detail: str) -> None:
        self.security.note(AuditKind.RADIUS_RELAY_REJECTED, source, reason, detail, self.clock())

    def _dhcp_rejected(self, interface: str, reason: str, detail: str) -> None:
        self.security.note(
            AuditKind.MALFORMED_PACKET, f"dhcpv4 {interface}", reason, detail, self.clock()
        )

    def _hook_rejected(self, line: str, reason: str) -> None:
        origin = self.config.hook_socket or "?"
        self.security.note(AuditKind.HOOK_EVENT_REJECTED, origin, reason, line, self.clock())

    def _drain_security(self, now: Now, *, force: bool = False) -> None:
        records = self.security.drain(now, force=force)
        if records and self.store is not None:
            self.store.submit(audit=records)

    def _dhcp_answered(self, interface: str, request: DhcpRequest, decision: DhcpDecision) -> None:
        if decision.reply is None:
            if decision.reason.startswith("no registered binding"):
                # A station that is not (yet) registered here: counted, not written per packet.
                detail = f"{request.message_type.name} from {request.mac}"
                self.security.note(AuditKind.DHCP_REFUSED, f"dhcpv4 {interface}", decision.reason,
                                   detail, self.clock())  # fmt: skip
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
        kind = AuditKind.DHCP_ACK if decision.reply is DhcpMessageType.ACK else AuditKind.DHCP_NAK
        mn_id = station.mn_id if station is not None else None
        record = RecordAudit(
            kind=kind, utc=self.clock().utc, mn_id=mn_id, peer=self.config.name, fields=fields
        )
        self.store.submit(audit=[record])
