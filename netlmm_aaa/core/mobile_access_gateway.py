"""The Mobile Access Gateway, sans-IO (RFC 5213 §6): every MAG input in, actions out.

Rules / theory of operation
===========================

Fed what the MAG's adapters report (hostapd events and station lists, RADIUS accounting, the
Access-Accepts our relay passed), mobility messages from the LMA and timer ticks, with ``now``;
returns actions for the runner to carry out in order. The :class:`~.station_intake.StationIntake`
decides when an 802.1X station counts as attached and under which MN-ID (network-access security
is the only trust placed in the node); this class keeps the binding update list.

Binding update list (one entry per station MAC; ``_TRANSITIONS`` is the table, an unlisted pair is
an :class:`~.errors.InvalidTransition`):

=============  ===================  ===================================  =============
state          input                action                               next state
=============  ===================  ===================================  =============
ABSENT         ATTACH               PBU (HI 3, lifetime requested)       REGISTERING
REGISTERING    PBA_ACCEPTED         routes + RAs for the granted HNPs    REGISTERED
REFRESHING     PBA_ACCEPTED         new lifetime (routes if changed)     REGISTERED
REGISTERING    PBA_REJECTED         audit; nothing installed             ABSENT
REFRESHING     PBA_REJECTED         routes withdrawn (gone at the LMA)   ABSENT
REG./REFR.     PBA_UNUSABLE         audit; as PBA_REJECTED               ABSENT
REG./REFR.     PBA_STALE_TIMESTAMP  PBU again, fresh timestamp (156)     (same)
REG./REFR./DE  RETRANSMIT_DUE       PBU again, timeout doubled (§6.9.4)  (same)
REG./REFR./DE  UNANSWERED           audit; routes withdrawn if bound     ABSENT
REGISTERED     REFRESH_DUE          PBU (HI 5)                           REFRESHING
REGISTERED     LMA_RESTARTED        PBU (HI 5): the LMA may have lost it REFRESHING
REG./REFR.     LMA_RESTARTED        the PBU in flight again, backoff anew (same)
               (LMA_RESTARTED comes reregister_burst stations at a time, paced)
REG./REFR.     DETACH               routes withdrawn if bound, PBU 0     DEREGISTERING
DEREGISTERING  PBA_ANY              forget                               ABSENT
any present    REPLACED             routes withdrawn (another identity)  ABSENT
any present    REVOKED              BRA; deauthenticate; routes out      ABSENT
=============  ===================  ===================================  =============

- The Handoff Indicator: 3 ("between MAGs, same interface") for every attachment with a
  link-layer identifier. By RFC 5213 §5.4.1 the LMA treats it as a handover when a binding exists
  for that identifier and as a new registration otherwise, so the slow "unknown" case (4, with its
  MaxDelayBeforeNewBCEAssign wait) is never needed; 5 on refreshes.
- Every PBU carries MN-ID, HNP (the profile's or ALL_ZERO), HI, ATT, MN-LL-ID, a Timestamp
  (unless disabled) and an IPv4 HoA Request when IPv4 is enabled. Retransmissions carry a new
  sequence number and timestamp (§6.9.4), 1 s doubling to 32 s, only while the station is there.
- A PBA is accepted only if it matches the outstanding PBU's sequence number and echoes its MN-ID,
  HI, ATT and LL-ID (§6.9.1.2), with P set; anything else is dropped and audited.
- A status-0 PBA that grants nothing usable is a failure (PBA_UNUSABLE): a Home Network Prefix of
  ``::/0`` (an LMA echoing our ALL_ZERO request, RFC 5213 §5.3.6 forbids it: advertised on-link it
  would pull all of the node's traffic to its access link) or of a length outside
  ``home_prefix_lengths``, no prefix and no IPv4 home address, or in GRE mode no uplink key
  (RFC 5845 §3). It is audited with its reason and programs nothing.
- A Binding Revocation Indication from our LMA for a station we serve: acknowledged, the station's
  routes withdrawn and the station deauthenticated (hostapd never notices a wired station that
  silently moved, so the old MAG must drop it; that also closes its accounting session).
- An Access-Accept naming the station's prefix prepares its downlink ahead of the PBA
  (:mod:`.early_downlink`); the deadline sits in this class's timer heap.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter, deque
from collections.abc import Sequence
from typing import assert_never

from netlmm_aaa.core.actions import (
    AdvertiseRouter,
    InstallStationRoutes,
    MagAction,
    QueryStation,
    RecordAudit,
    RefuseHookLine,
    RemoveStationRoutes,
    StationBinding,
    reply_to,
    send_to,
)
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.binding_update_list import (
    NO_CAUSE,
    SERVING,
    WAITING,
    BulEntry,
    Cause,
    StationInput,
    StationState,
)
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.codes import (
    BindingStatus,
    RevocationStatus,
)
from netlmm_aaa.core.dhcpv4_decisions import Lease
from netlmm_aaa.core.early_downlink import EarlyDownlinks
from netlmm_aaa.core.errors import ConfigError, InvalidTransition
from netlmm_aaa.core.events import (
    AccessAcceptRelayed,
    AccountingReported,
    MagEvent,
    MalformedPacketReceived,
    MobilityMessageReceived,
    RouterSolicited,
    StationAttached,
    StationDetached,
    StationEventReported,
    StationQueried,
    StationsListed,
    TimerFired,
)
from netlmm_aaa.core.heartbeat_exchange import answer_request, read_response
from netlmm_aaa.core.mag_policy import MagPolicy
from netlmm_aaa.core.mag_steps import Actions, MagTimer, StationSteps, StepHandler
from netlmm_aaa.core.messages import (
    LIFETIME_UNIT_SECONDS,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    Heartbeat,
    ProxyBindingAcknowledgement,
)
from netlmm_aaa.core.options import (
    MobileNodeIdentifierOption,
    MobilityOption,
    RestartCounterOption,
)
from netlmm_aaa.core.pbu_exchange import (
    PbuBuilder,
    handoff_indicator,
    pba_problem,
    unusable_grant,
)
from netlmm_aaa.core.policy_changes import refuse_fixed_changes
from netlmm_aaa.core.station_intake import ReportOutput, StationIntake

log = logging.getLogger(__name__)


_S = StationState
_I = StationInput
_M = StationSteps
_TRANSITIONS: dict[tuple[StationState, StationInput], tuple[StepHandler, StationState]] = {
    (_S.ABSENT, _I.ATTACH): (_M._on_attach, _S.REGISTERING),
    (_S.REGISTERING, _I.PBA_ACCEPTED): (_M._on_accepted, _S.REGISTERED),
    (_S.REFRESHING, _I.PBA_ACCEPTED): (_M._on_accepted, _S.REGISTERED),
    (_S.REGISTERING, _I.PBA_REJECTED): (_M._on_rejected, _S.ABSENT),
    (_S.REFRESHING, _I.PBA_REJECTED): (_M._on_rejected, _S.ABSENT),
    (_S.REGISTERING, _I.PBA_UNUSABLE): (_M._on_unusable, _S.ABSENT),
    (_S.REFRESHING, _I.PBA_UNUSABLE): (_M._on_unusable, _S.ABSENT),
    (_S.REGISTERING, _I.PBA_STALE_TIMESTAMP): (_M._on_stale_timestamp, _S.REGISTERING),
    (_S.REFRESHING, _I.PBA_STALE_TIMESTAMP): (_M._on_stale_timestamp, _S.REFRESHING),
    (_S.REGISTERING, _I.RETRANSMIT_DUE): (_M._on_retransmit, _S.REGISTERING),
    (_S.REFRESHING, _I.RETRANSMIT_DUE): (_M._on_retransmit, _S.REFRESHING),
    (_S.DEREGISTERING, _I.RETRANSMIT_DUE): (_M._on_retransmit, _S.DEREGISTERING),
    (_S.REGISTERING, _I.UNANSWERED): (_M._on_unanswered, _S.ABSENT),
    (_S.REFRESHING, _I.UNANSWERED): (_M._on_unanswered, _S.ABSENT),
    (_S.DEREGISTERING, _I.UNANSWERED): (_M._on_unanswered, _S.ABSENT),
    (_S.REGISTERED, _I.REFRESH_DUE): (_M._on_refresh, _S.REFRESHING),
    (_S.REGISTERED, _I.LMA_RESTARTED): (_M._on_refresh, _S.REFRESHING),
    (_S.REGISTERING, _I.LMA_RESTARTED): (_M._on_resend, _S.REGISTERING),
    (_S.REFRESHING, _I.LMA_RESTARTED): (_M._on_resend, _S.REFRESHING),
    (_S.REGISTERING, _I.DETACH): (_M._on_detach, _S.DEREGISTERING),
    (_S.REGISTERED, _I.DETACH): (_M._on_detach, _S.DEREGISTERING),
    (_S.REFRESHING, _I.DETACH): (_M._on_detach, _S.DEREGISTERING),
    (_S.DEREGISTERING, _I.PBA_ANY): (_M._on_deregistered, _S.ABSENT),
    **{
        (state, _I.REPLACED): (_M._on_replaced, _S.ABSENT) for state in _S if state is not _S.ABSENT
    },
    **{(state, _I.REVOKED): (_M._on_revoked, _S.ABSENT) for state in _S if state is not _S.ABSENT},
}
"""(state, input) -> (step, next state); a pair not listed is an InvalidTransition."""


class MobileAccessGateway(StationSteps):
    """The MAG's decisions. ``handle(event, now) -> actions``; ``next_deadline()`` for the timer."""

    def __init__(self, policy: MagPolicy) -> None:
        self.policy = policy
        self.intake = StationIntake(
            policy.name,
            replay_window=policy.accounting_replay_window,
            profile_ttl=policy.profile_ttl,
            lma_selection=policy.lma_selection,
            mab_nases=policy.mab_nases,
        )
        self._stations: dict[str, BulEntry] = {}
        self._by_sequence: dict[int, BulEntry] = {}
        self._pbus = PbuBuilder(policy)
        self._timers: list[tuple[float, int, MagTimer, str]] = []
        self._count = 0
        # Stations waiting to register again after their LMA restarted, paced (MAC, LMA).
        self._reregister: deque[tuple[str, str]] = deque()
        self._reregister_at: float | None = None
        self._early = EarlyDownlinks()
        # Each LMA's RFC 5847 restart counter, as last heard from it.
        self._lma_restart_counters: dict[str, int] = {}
        self._gre_key = 0
        self._gre_keys: set[int] = set()
        """Downlink GRE keys of our stations (each names one station's packets from the LMA)."""

    # ------------------------------------------------------------------ public interface

    RELOADABLE = frozenset({"lma_selection", "quiet_lmas", "mab_nases", "profile_ttl"})
    """The policy fields :meth:`reconfigure` may change while stations are registered."""

    def reconfigure(self, policy: MagPolicy) -> None:
        """A configuration reload: take ``policy``, which may differ from the current one only
        in :attr:`RELOADABLE` fields (ConfigError otherwise). Registered stations, their
        sequence numbers and timers stay; the new rules apply from the next event. An LMA may
        leave only once no station of ours is registered there (ConfigError otherwise)."""
        refuse_fixed_changes(self.policy, policy, self.RELOADABLE, "mag")
        kept = {policy.lma_address, *(s.lma_address for s in policy.lma_selection)}
        serving = Counter(e.lma for e in self._stations.values() if e.lma not in kept)
        if serving:
            raise ConfigError(
                "mag.lma_selection: "
                + "; ".join(
                    f"LMA {lma} may not be removed while {n} stations are registered there"
                    for lma, n in sorted(serving.items())
                )
            )
        self.policy = policy
        self._pbus.policy = policy
        self.intake.lma_selection = policy.lma_selection
        self.intake.mab_nases = policy.mab_nases
        self.intake.profile_ttl = policy.profile_ttl

    def handle(self, event: MagEvent, now: Now) -> list[MagAction]:
        actions: Actions = []
        match event:
            case StationEventReported():
                self._intake(self.intake.on_reported(event, now), now, actions)
            case StationQueried():
                self._intake(self.intake.on_queried(event, now), now, actions)
            case AccountingReported():
                self._intake(self.intake.on_accounting(event.session, now), now, actions)
            case StationsListed():
                outputs = self.intake.on_resync(event.interface, list(event.stations), now)
                self._intake(outputs, now, actions)
            case AccessAcceptRelayed():
                self._access_accept(event, now, actions)
            case StationAttached():
                self._attach(event, now, actions)
            case StationDetached():
                self._detach(event, now, actions)
            case MobilityMessageReceived():
                self._message(event, now, actions)
            case MalformedPacketReceived():
                actions.append(
                    RecordAudit(
                        kind=AuditKind.MALFORMED_PACKET,
                        utc=now.utc,
                        peer=event.source,
                        fields={"reason": event.reason, "length": event.length},
                    )
                )
            case TimerFired():
                self._timers_due(now, actions)
            case RouterSolicited():
                self._solicited(event, now, actions)
            case _:
                assert_never(event)
        if self._early:
            actions.extend(self._early.sweep(self._registering, now.monotonic))
        return actions

    def announce_restart(self, now: Now) -> list[MagAction]:
        """At start-up: an unsolicited Heartbeat response with our Restart Counter to every LMA
        we may register with (RFC 5847 §3.2: the configured one and each realm's), so that each
        releases what it still holds for us from before the restart (stations that left
        meanwhile included); the stations still attached register again. LMAs configured
        without heartbeats get nothing."""
        policy = self.policy
        lmas = dict.fromkeys([policy.lma_address, *(s.lma_address for s in policy.lma_selection)])
        actions: list[MagAction] = []
        for lma in lmas:
            if lma in policy.quiet_lmas:
                continue
            counter = RestartCounterOption(policy.restart_counter)
            actions.append(send_to(Heartbeat(0, True, True, (counter,)), lma))
            actions.append(
                RecordAudit(
                    kind=AuditKind.RESTART_ANNOUNCED,
                    utc=now.utc,
                    peer=lma,
                    fields={"restart_counter": policy.restart_counter},
                )
            )
        return actions

    def next_deadline(self) -> float | None:
        while self._timers:
            deadline, _, kind, mac = self._timers[0]
            if self._is_current(deadline, kind, mac):
                return deadline
            heapq.heappop(self._timers)
        return None

    def _is_current(self, deadline: float, kind: MagTimer, mac: str) -> bool:
        """Whether a heap entry is still its timer's deadline (re-arming leaves stale ones)."""
        if kind is MagTimer.EARLY_DOWNLINK:
            return self._early.deadline(mac) == deadline
        if kind is MagTimer.REREGISTER:
            return deadline == self._reregister_at
        entry = self._stations.get(mac)
        if entry is None:
            return False
        return (entry.deadline if kind is MagTimer.STATION else entry.advertise_at) == deadline

    def registered_count(self) -> int:
        """Stations whose binding at the LMA is in place (registered or refreshing)."""
        serving = (StationState.REGISTERED, StationState.REFRESHING)
        return sum(1 for entry in self._stations.values() if entry.state in serving)

    def station_state(self, mac: str) -> StationState | None:
        entry = self._stations.get(mac)
        return entry.state if entry is not None else None

    def station(self, mac: str) -> StationBinding | None:
        entry = self._stations.get(mac)
        return entry.binding() if entry is not None else None

    def lease(self, mac: str, interface: str) -> Lease | None:
        """The IPv4 home address the MAG's DHCP server may hand ``mac`` on ``interface``: only
        a station attached there whose binding (with an IPv4 home address) is in place."""
        entry = self._stations.get(mac)
        if entry is None or entry.interface != interface or entry.ipv4 is None:
            return None
        if entry.state not in (StationState.REGISTERED, StationState.REFRESHING):
            return None
        return Lease(address=entry.ipv4, prefix_length=entry.ipv4_prefix_length)

    # ------------------------------------------------------------------ transitions

    def _transition(
        self,
        entry: BulEntry,
        what: StationInput,
        cause: Cause,
        now: Now,
        actions: Actions,
    ) -> None:
        try:
            handler, next_state = _TRANSITIONS[(entry.state, what)]
        except KeyError:
            raise InvalidTransition(
                f"station {entry.mac} in state {entry.state.name} cannot take {what.name}"
            ) from None
        handler(self, entry, cause, now, actions)
        entry.state = next_state
        if next_state is StationState.ABSENT and self._stations.get(entry.mac) is entry:
            self._forget(entry)

    # ------------------------------------------------------------------ stations

    def _intake(self, outputs: Sequence[ReportOutput], now: Now, actions: Actions) -> None:
        for out in outputs:
            match out:
                case StationAttached():
                    self._attach(out, now, actions)
                case StationDetached():
                    self._detach(out, now, actions)
                case RecordAudit() | QueryStation() | RefuseHookLine():
                    actions.append(out)
                case _:
                    assert_never(out)

    def _access_accept(self, event: AccessAcceptRelayed, now: Now, actions: Actions) -> None:
        """The relay passed an Access-Accept: the intake keeps its profile, and a profile that
        names the station's prefix readies its downlink before the station is reported."""
        profile = event.profile
        if event.interface and profile.home_network_prefix and event.mac not in self._stations:
            deadline = now.monotonic + self.policy.profile_ttl
            prepared = self._early.prepare(
                StationBinding(
                    mac=event.mac,
                    mn_id=profile.user_name or b"",
                    interface=event.interface,
                    home_network_prefixes=(profile.home_network_prefix,),
                    ipv4_home_address=profile.ipv4_home_address,
                    lma_address=profile.lma_address or self.policy.lma_address,
                ),
                deadline,
            )
            if prepared is not None:
                actions.append(prepared)
                self._arm(MagTimer.EARLY_DOWNLINK, event.mac, deadline)
        self.intake.on_access_accept(event, now)

    def _registering(self, mac: str) -> bool | None:
        state = self.station_state(mac)
        return None if state is None else state in WAITING

    def _attach(self, event: StationAttached, now: Now, actions: Actions) -> None:
        entry = self._stations.get(event.mac)
        if entry is not None and entry.mn_id == event.mn_id and entry.state in WAITING:
            # A re-authentication (EAP-SUCCESS2 of a known station): still registered, no PBU;
            # from another access interface of ours, the station moved between our NASes.
            if event.interface != entry.interface:
                self._move_link(entry, event, now, actions)
            return
        if entry is not None:
            # The MAC now belongs to another identity (or was leaving): withdraw the old one.
            self._transition(entry, StationInput.REPLACED, NO_CAUSE, now, actions)
        lma = event.lma_address or self.policy.lma_address
        ipv6 = ":" in lma
        if (self.policy.proxy_coa if ipv6 else self.policy.ipv4_proxy_coa) is None:
            # An LMA of a family we have no address of (named by the node's RADIUS profile):
            # nothing could reach it, so nothing is sent.
            why = f"LMA {lma} is {'IPv6' if ipv6 else 'IPv4'} and this MAG has no such Proxy-CoA"
            actions.append(RecordAudit(kind=AuditKind.REGISTRATION_REJECTED, utc=now.utc,
                                       mn_id=event.mn_id, peer=self.policy.name,
                                       fields={"mac": event.mac, "interface": event.interface,
                                               "reason": why}))  # fmt: skip
            return
        entry = BulEntry(event, lma, self._new_gre_key())
        entry.attached_at = now.monotonic
        self._stations[event.mac] = entry
        self._transition(entry, StationInput.ATTACH, Cause(attached=event), now, actions)

    def _move_link(
        self, entry: BulEntry, event: StationAttached, now: Now, actions: Actions
    ) -> None:
        """The station moved between two access links of this MAG: its binding at the LMA
        (which names this MAG) stands; its routes, source filter and Router Advertisements
        follow it to the new link (a registration in flight installs them there)."""
        old_interface = entry.interface
        serving = entry.state in SERVING
        if serving:
            actions.append(RemoveStationRoutes(station=entry.binding()))
        entry.interface, entry.ap, entry.ssid = event.interface, event.ap, event.ssid
        if serving:
            actions.append(InstallStationRoutes(station=entry.binding()))
            self._arm_advertising(entry, now)
        why = f"from access interface {old_interface}"
        actions.append(self._station_audit(AuditKind.STATION_MOVED, entry, now, reason=why))

    def _solicited(self, event: RouterSolicited, now: Now, actions: Actions) -> None:
        """A Router Solicitation: the registered station that sent it (its SLLAO's MAC; every
        registered station of that interface when it named none, as one sent from ``::``)
        gets its RA at once, and its refresh restarts from now; at most one answer a second
        per station (RFC 4861 §6.2.6 lets a router rate-limit; a flood of solicitations costs
        a flood of nothing). A station we do not serve gets nothing: its prefix is not known
        yet (the RA follows the routes)."""
        for entry in list(self._stations.values()):
            if (
                entry.state in SERVING
                and entry.interface == event.interface
                and event.mac in (None, entry.mac)
                and now.monotonic - entry.solicited_at >= 1.0
            ):
                entry.solicited_at = now.monotonic
                actions.append(AdvertiseRouter(station=entry.binding()))
                self._arm_advertising(entry, now)

    def _detach(self, event: StationDetached, now: Now, actions: Actions) -> None:
        entry = self._stations.get(event.mac)
        if entry is None or entry.state is StationState.DEREGISTERING:
            return
        self._transition(entry, StationInput.DETACH, NO_CAUSE, now, actions)

    # ------------------------------------------------------------------ PBU / PBA

    def _message(self, event: MobilityMessageReceived, now: Now, actions: Actions) -> None:
        message = event.message
        if type(message) is ProxyBindingAcknowledgement:
            self._pba(event, message, now, actions)
        elif type(message) is BindingRevocationIndication:
            self._bri(event, message, now, actions)
        elif type(message) is Heartbeat:
            self._heartbeat(event, message, now, actions)
        else:
            actions.append(
                RecordAudit(
                    kind=AuditKind.UNEXPECTED_MESSAGE,
                    utc=now.utc,
                    peer=event.source,
                    fields={"type": type(message).__name__},
                )
            )

    def _pba(
        self,
        event: MobilityMessageReceived,
        pba: ProxyBindingAcknowledgement,
        now: Now,
        actions: Actions,
    ) -> None:
        """Check the PBA against its PBU (§6.9.1.2), audit it, and classify it."""
        entry = self._by_sequence.get(pba.sequence)
        problem = pba_problem(entry, pba, event.source)
        if problem is not None or entry is None:
            actions.append(
                RecordAudit(
                    kind=AuditKind.PBA_DROPPED,
                    utc=now.utc,
                    peer=event.source,
                    fields={"reason": problem, "sequence": pba.sequence, "status": int(pba.status)},
                )
            )
            return
        pbu = entry.outstanding
        assert pbu is not None
        self._by_sequence.pop(pba.sequence, None)
        entry.outstanding = None
        rtt_ms = round((now.monotonic - entry.sent) * 1000, 3)
        first = entry.state is StationState.REGISTERING
        hi = handoff_indicator(pbu)
        actions.append(
            RecordAudit(
                kind=AuditKind.PBA,
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=self.policy.name,
                fields={
                    "status": int(pba.status),
                    "sequence": pba.sequence,
                    "lifetime": pba.lifetime_seconds,
                    "rtt_ms": rtt_ms,
                    "retransmissions": entry.retransmissions,
                    "handoff_indicator": hi,
                    "event_to_ack_ms": (
                        round((now.monotonic - entry.attached_at) * 1000, 3) if first else None
                    ),
                },
            )
        )
        if entry.state is StationState.DEREGISTERING:
            what = StationInput.PBA_ANY
        elif (
            pba.status == BindingStatus.TIMESTAMP_MISMATCH
            and entry.timestamp_retries < self.policy.timestamp_retries
        ):
            what = StationInput.PBA_STALE_TIMESTAMP
        elif not pba.accepted:
            what = StationInput.PBA_REJECTED
        elif (unusable := unusable_grant(pba, entry.gre_downlink is not None,
                                         self.policy.home_prefix_lengths)) is not None:  # fmt: skip
            what = StationInput.PBA_UNUSABLE
        else:
            what = StationInput.PBA_ACCEPTED
        if what is not StationInput.PBA_STALE_TIMESTAMP:
            entry.timestamp_retries = 0
        cause = Cause(pba=pba, pbu=pbu, source=event.source,
                      problem=unusable if what is StationInput.PBA_UNUSABLE else None)  # fmt: skip
        self._transition(entry, what, cause, now, actions)

    # ------------------------------------------------------------------ timers

    def _timers_due(self, now: Now, actions: Actions) -> None:
        while self._timers and self._timers[0][0] <= now.monotonic:
            deadline, _, kind, mac = heapq.heappop(self._timers)
            # An early downlink's expiry is the sweep's business, at the end of every input.
            if kind is MagTimer.EARLY_DOWNLINK or not self._is_current(deadline, kind, mac):
                continue
            if kind is MagTimer.REREGISTER:
                self._reregister_some(now, actions)
                continue
            entry = self._stations[mac]
            if kind is MagTimer.ADVERTISE:
                if entry.state in SERVING:
                    actions.append(AdvertiseRouter(station=entry.binding()))
                    self._arm_advertising(entry, now)
                continue
            if entry.outstanding is not None:
                if entry.retransmissions >= self.policy.max_retransmissions:
                    self._transition(entry, StationInput.UNANSWERED, NO_CAUSE, now, actions)
                else:
                    self._transition(entry, StationInput.RETRANSMIT_DUE, NO_CAUSE, now, actions)
            elif entry.state is StationState.REGISTERED:
                self._transition(entry, StationInput.REFRESH_DUE, NO_CAUSE, now, actions)

    # ------------------------------------------------------------------ revocation, heartbeat

    def _bri(
        self,
        event: MobilityMessageReceived,
        bri: BindingRevocationIndication,
        now: Now,
        actions: Actions,
    ) -> None:
        mn = next((o for o in bri.options if type(o) is MobileNodeIdentifierOption), None)
        entry = None
        if mn is not None:
            entry = next(
                (e for e in self._stations.values() if e.mn_id == mn.identifier),
                None,
            )
        status = RevocationStatus.SUCCESS
        if entry is None or event.source != entry.lma:
            status = RevocationStatus.BINDING_DOES_NOT_EXIST
        reply_options: tuple[MobilityOption, ...] = (mn,) if mn is not None else ()
        bra = BindingRevocationAcknowledgement(status, bri.sequence, bri.flags, reply_options)
        actions.append(reply_to(event, bra))
        if status is not RevocationStatus.SUCCESS or entry is None:
            actions.append(
                RecordAudit(
                    kind=AuditKind.BRI_UNMATCHED,
                    utc=now.utc,
                    peer=event.source,
                    fields={"sequence": bri.sequence},
                )
            )
            return
        cause = Cause(trigger=int(bri.trigger))
        self._transition(entry, StationInput.REVOKED, cause, now, actions)

    def _heartbeat(
        self, event: MobilityMessageReceived, message: Heartbeat, now: Now, actions: Actions
    ) -> None:
        if not message.response:
            actions.extend(
                answer_request(event, message, self.policy.restart_counter, event.source, now)
            )
            return
        value, audit = read_response(message, event.source, now)
        actions.append(audit)
        if value is None:
            return
        known = self._lma_restart_counters.get(event.source)
        self._lma_restart_counters[event.source] = value
        # A changed counter, or an unsolicited response (an LMA announces only a restart
        # that may have lost state, RFC 5847 §3.2) with a counter not already known: that LMA
        # may have lost our bindings, so the stations registered through it register again.
        if value == known or (known is None and not message.unsolicited):
            return
        actions.append(
            RecordAudit(
                kind=AuditKind.LMA_RESTARTED,
                utc=now.utc,
                peer=event.source,
                fields={"old": known, "new": value},
            )
        )
        self._reregister.extend(
            (entry.mac, event.source)
            for entry in self._stations.values()
            if entry.state in WAITING and entry.lma == event.source
        )
        if self._reregister_at is None:
            self._reregister_some(now, actions)

    def _reregister_some(self, now: Now, actions: Actions) -> None:
        """The next ``reregister_burst`` stations of restarted LMAs register again (a station
        that left or moved to another LMA meanwhile is skipped); the rest at the next tick."""
        self._reregister_at = None
        waiting = self._reregister
        for _ in range(min(self.policy.reregister_burst, len(waiting))):
            mac, lma = waiting.popleft()
            entry = self._stations.get(mac)
            if entry is not None and entry.state in WAITING and entry.lma == lma:
                self._transition(entry, StationInput.LMA_RESTARTED, NO_CAUSE, now, actions)
        if waiting:
            self._reregister_at = now.monotonic + self.policy.reregister_interval
            self._arm(MagTimer.REREGISTER, "", self._reregister_at)

    # ------------------------------------------------------------------ helpers

    def _new_gre_key(self) -> int | None:
        """A downlink GRE key no station of ours holds (GRE mode), else None."""
        if not self.policy.gre:
            return None
        while True:
            self._gre_key = self._gre_key % 0xFFFF_FFFF + 1
            if self._gre_key not in self._gre_keys:
                self._gre_keys.add(self._gre_key)
                return self._gre_key

    def _forget(self, entry: BulEntry) -> None:
        if entry.outstanding is not None:
            self._by_sequence.pop(entry.outstanding.sequence, None)
            entry.outstanding = None
        self._stations.pop(entry.mac, None)
        if entry.gre_downlink is not None:
            self._gre_keys.discard(entry.gre_downlink)


__all__ = [
    "LIFETIME_UNIT_SECONDS",
    "MagPolicy",
    "MobileAccessGateway",
    "StationInput",
    "StationState",
]
