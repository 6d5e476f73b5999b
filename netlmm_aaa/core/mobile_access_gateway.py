"""The Mobile Access Gateway's signalling, sans-IO (RFC 5213 §6).

Rules / theory of operation
===========================

Fed :class:`~.events.StationAttached` / :class:`~.events.StationDetached` (built from
802.1X-authenticated hostapd events or RADIUS accounting: network-access security is the only trust
placed in the node), mobility messages from the LMA and timer ticks; returns actions.

Binding update list (one entry per station MAC):

=============  ==============  ============================================  =============
state          input           action                                        next state
=============  ==============  ============================================  =============
(none)         ATTACH          PBU (lifetime requested)                      REGISTERING
REGISTERING    PBA_ACCEPTED    routes + RAs for the granted prefixes         REGISTERED
REGISTERING    PBA_REJECTED    audit; nothing installed                      (none)
REGISTERING    RETRANSMIT_DUE  PBU again, timeout doubled (§6.9.4)           REGISTERING
REGISTERED     REFRESH_DUE     PBU (re-registration, HI=5)                   REFRESHING
REFRESHING     PBA_ACCEPTED    new lifetime                                  REGISTERED
REFRESHING     RETRANSMIT_DUE  PBU again                                     REFRESHING
any bound      DETACH          routes withdrawn, PBU lifetime 0              DEREGISTERING
DEREGISTERING  PBA_ACCEPTED    forget                                        (none)
any            REVOKED         BRA; routes withdrawn; deauthenticate         (none)
=============  ==============  ============================================  =============

- The Handoff Indicator: 3 ("between MAGs, same interface") for every attachment with a
  link-layer identifier. By RFC 5213 §5.4.1 the LMA treats it as a handover when a binding exists
  for that identifier and as a new registration otherwise, so the slow "unknown" case (4, with its
  MaxDelayBeforeNewBCEAssign wait) is never needed; 5 on refreshes.
- Every PBU carries MN-ID, HNP (the profile's or ALL_ZERO), HI, ATT, MN-LL-ID, a Timestamp
  (unless disabled) and an IPv4 HoA Request when IPv4 is enabled. Retransmissions carry a new
  sequence number and timestamp (§6.9.4), 1 s doubling to 32 s, only while the station is there.
- A PBA is accepted only if it matches the outstanding PBU's sequence number and echoes its MN-ID,
  HI, ATT and LL-ID (§6.9.1.2), with P set; anything else is dropped and audited.
- A Binding Revocation Indication from our LMA for a station we serve: acknowledged, the station's
  routes withdrawn and the station deauthenticated (hostapd never notices a wired station that
  silently moved, so the old MAG must drop it; that also closes its accounting session).
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from netlmm_aaa.core.actions import (
    DeauthenticateStation,
    InstallStationRoutes,
    MagAction,
    RecordAudit,
    RemoveStationRoutes,
    SendMessage,
    StationBinding,
)
from netlmm_aaa.core.addresses import format_ipv4, format_ipv6_network
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.codes import (
    AccessTechnologyType,
    BindingAcknowledgementFlag,
    BindingStatus,
    HandoffIndicator,
    RevocationStatus,
)
from netlmm_aaa.core.dhcpv4_server import Lease
from netlmm_aaa.core.events import (
    MagEvent,
    MalformedPacketReceived,
    MobilityMessageReceived,
    StationAttached,
    StationDetached,
    TimerFired,
)
from netlmm_aaa.core.messages import (
    LIFETIME_UNIT_SECONDS,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    Heartbeat,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    lifetime_to_units,
)
from netlmm_aaa.core.options import (
    AccessTechnologyTypeOption,
    GreKeyOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    IPv4HomeAddressReplyOption,
    IPv4HomeAddressRequestOption,
    MobileNodeIdentifierOption,
    MobileNodeLinkLayerIdentifierOption,
    MobilityOption,
    RestartCounterOption,
    TimestampOption,
)
from netlmm_aaa.core.sequence_numbers import next_sequence

log = logging.getLogger(__name__)

_ZERO_HNP = HomeNetworkPrefixOption(bytes(16), 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class MagPolicy:
    """What the MAG core decides with."""

    name: str
    """This MAG's name (audit trail)."""
    proxy_coa: str
    """Our address toward the LMA (IPv6)."""
    lma_address: str
    """The LMA, unless a station's profile names another."""
    lifetime: int = 3600
    """Requested binding lifetime, seconds."""
    refresh_fraction: float = 0.8
    """Re-register when this share of the granted lifetime has passed."""
    initial_bindack_timeout: float = 1.0
    """INITIAL_BINDACK_TIMEOUT (RFC 6275 §12), seconds."""
    max_bindack_timeout: float = 32.0
    """MAX_BINDACK_TIMEOUT, seconds."""
    max_retransmissions: int = 6
    """Give up (and audit) after this many retransmissions of one PBU."""
    timestamp_retries: int = 3
    """Register again (fresh timestamp) this many times after a PBA with status 156."""
    access_technology: int = AccessTechnologyType.IEEE_802_11
    """ATT of our access links (4: 802.11; 3: 802.3 for wired 802.1X)."""
    use_timestamps: bool = True
    """Send the Timestamp option (RFC 5213 §5.5); else sequence numbers only."""
    ipv4: bool = True
    """Request an IPv4 home address (RFC 5844) for every station."""
    restart_counter: int = 0
    """Our own RFC 5847 restart counter (persisted by the daemon)."""
    gre: bool = False
    """GRE tunnelling (RFC 5845): each PBU carries the downlink key we assign the station, and
    a PBA must return the uplink key the LMA assigned, else the registration fails."""


class StationState(Enum):
    """Binding update list entry state."""

    REGISTERING = auto()
    REGISTERED = auto()
    REFRESHING = auto()
    DEREGISTERING = auto()


class _Entry:
    __slots__ = (
        "ap",
        "attached_at",
        "deadline",
        "granted",
        "gre_downlink",
        "gre_uplink",
        "hnps",
        "interface",
        "ipv4",
        "ipv4_prefix_length",
        "lma",
        "mac",
        "mn_id",
        "outstanding",
        "profile_hnp",
        "profile_ipv4",
        "retransmissions",
        "sent",
        "ssid",
        "state",
        "timeout",
        "timestamp_retries",
    )

    def __init__(self, event: StationAttached, lma: str, gre_downlink: int | None) -> None:
        self.mac = event.mac
        self.gre_downlink = gre_downlink
        self.gre_uplink: int | None = None
        self.mn_id = event.mn_id
        self.interface = event.interface
        self.lma = lma
        self.profile_hnp = event.home_network_prefix
        self.profile_ipv4 = event.ipv4_home_address
        self.ap = event.ap
        self.ssid = event.ssid
        self.attached_at = 0.0  # monotonic time of the authenticated-station event
        self.state = StationState.REGISTERING
        self.outstanding: ProxyBindingUpdate | None = None
        self.sent = 0.0
        self.timeout = 0.0
        self.retransmissions = 0
        self.timestamp_retries = 0
        self.deadline = 0.0
        self.granted = 0
        self.hnps: tuple[str, ...] = ()
        self.ipv4: str | None = None
        self.ipv4_prefix_length = 32

    def binding(self) -> StationBinding:
        return StationBinding(
            mac=self.mac,
            mn_id=self.mn_id,
            interface=self.interface,
            home_network_prefixes=self.hnps,
            ipv4_home_address=self.ipv4,
            ipv4_prefix_length=self.ipv4_prefix_length,
            lma_address=self.lma,
            gre_key_downlink=self.gre_downlink,
            gre_key_uplink=self.gre_uplink,
        )


class MobileAccessGateway:
    """The MAG's decisions. ``handle(event, now) -> actions``; ``next_deadline()`` for the timer."""

    def __init__(self, policy: MagPolicy) -> None:
        self.policy = policy
        self._stations: dict[str, _Entry] = {}
        self._by_sequence: dict[int, _Entry] = {}
        self._sequence = 0
        self._timers: list[tuple[float, int, str]] = []
        self._count = 0
        self._lma_restart_counter: int | None = None
        self._last_timestamp = 0
        self._gre_key = 0
        self._gre_keys: set[int] = set()
        """Downlink GRE keys of our stations (each names one station's packets from the LMA)."""

    # ------------------------------------------------------------------ public interface

    def handle(self, event: MagEvent, now: Now) -> list[MagAction]:
        actions: list[MagAction] = []
        match event:
            case StationAttached():
                self._attach(event, now, actions)
            case StationDetached():
                self._detach(event, now, actions)
            case MobilityMessageReceived():
                self._message(event, now, actions)
            case MalformedPacketReceived():
                actions.append(
                    RecordAudit(
                        kind="malformed_packet",
                        utc=now.utc,
                        peer=event.source,
                        fields={"reason": event.reason, "length": event.length},
                    )
                )
            case TimerFired():
                self._timers_due(now, actions)
        return actions

    def announce_restart(self, now: Now) -> list[MagAction]:
        """At start-up: an unsolicited Heartbeat response with our Restart Counter to the LMA
        (RFC 5847 §3.2), so that it releases what it still holds for us from before the restart
        (stations that left meanwhile included); the stations still attached register again."""
        return [
            SendMessage(
                message=Heartbeat(
                    0, True, True, (RestartCounterOption(self.policy.restart_counter),)
                ),
                destination=self.policy.lma_address,
            ),
            RecordAudit(
                kind="restart_announced",
                utc=now.utc,
                peer=self.policy.lma_address,
                fields={"restart_counter": self.policy.restart_counter},
            ),
        ]

    def next_deadline(self) -> float | None:
        while self._timers:
            deadline, _, mac = self._timers[0]
            entry = self._stations.get(mac)
            if entry is not None and entry.deadline == deadline:
                return deadline
            heapq.heappop(self._timers)
        return None

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

    # ------------------------------------------------------------------ stations

    def _attach(self, event: StationAttached, now: Now, actions: list[MagAction]) -> None:
        entry = self._stations.get(event.mac)
        if (
            entry is not None
            and entry.mn_id == event.mn_id
            and entry.state
            in (
                StationState.REGISTERED,
                StationState.REFRESHING,
                StationState.REGISTERING,
            )
        ):
            # A re-authentication (EAP-SUCCESS2 of a known station): still registered, no PBU.
            return
        if entry is not None:
            # The MAC now belongs to another identity (or was leaving): withdraw the old one.
            self._forget(entry, now, actions, "station_replaced", withdraw=True)
        entry = _Entry(event, event.lma_address or self.policy.lma_address, self._new_gre_key())
        entry.attached_at = now.monotonic
        self._stations[event.mac] = entry
        actions.append(
            RecordAudit(
                kind="station_attached",
                utc=now.utc,
                mn_id=event.mn_id,
                peer=self.policy.name,
                fields={
                    "mac": event.mac,
                    "interface": event.interface,
                    "ap": event.ap,
                    "ssid": event.ssid,
                },
            )
        )
        self._send_pbu(entry, HandoffIndicator.SAME_INTERFACE, self.policy.lifetime, now, actions)

    def _detach(self, event: StationDetached, now: Now, actions: list[MagAction]) -> None:
        entry = self._stations.get(event.mac)
        if entry is None or entry.state is StationState.DEREGISTERING:
            return
        if entry.state in (StationState.REGISTERED, StationState.REFRESHING):
            actions.append(RemoveStationRoutes(station=entry.binding()))
        entry.state = StationState.DEREGISTERING
        actions.append(
            RecordAudit(
                kind="station_detached",
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=self.policy.name,
                fields={"mac": entry.mac},
            )
        )
        self._send_pbu(entry, HandoffIndicator.NOT_CHANGED, 0, now, actions)

    # ------------------------------------------------------------------ PBU / PBA

    def _pbu_options(self, entry: _Entry, hi: int, now: Now) -> tuple[MobilityOption, ...]:
        options: list[MobilityOption] = [MobileNodeIdentifierOption(entry.mn_id)]
        if entry.hnps:
            options.extend(HomeNetworkPrefixOption.from_network(p) for p in entry.hnps)
        elif entry.profile_hnp:
            options.append(HomeNetworkPrefixOption.from_network(entry.profile_hnp))
        else:
            options.append(_ZERO_HNP)
        options.append(HandoffIndicatorOption(hi))
        options.append(AccessTechnologyTypeOption(self.policy.access_technology))
        options.append(MobileNodeLinkLayerIdentifierOption.from_mac(entry.mac))
        if self.policy.use_timestamps:
            # Strictly increasing even within one clock tick: the LMA refuses a timestamp that
            # is not newer than the last one it accepted for the node (157).
            stamp = max(TimestampOption.from_seconds(now.utc).timestamp, self._last_timestamp + 1)
            self._last_timestamp = stamp
            options.append(TimestampOption(stamp))
        if self.policy.ipv4:
            address = entry.ipv4 or entry.profile_ipv4
            options.append(
                IPv4HomeAddressRequestOption.from_address(address)
                if address
                else IPv4HomeAddressRequestOption()
            )
        if entry.gre_downlink is not None:
            options.append(GreKeyOption(entry.gre_downlink))
        return tuple(options)

    def _send_pbu(
        self,
        entry: _Entry,
        hi: int,
        lifetime: int,
        now: Now,
        actions: list[MagAction],
        retransmission: bool = False,
    ) -> None:
        if entry.outstanding is not None:
            self._by_sequence.pop(entry.outstanding.sequence, None)
        self._sequence = next_sequence(self._sequence)
        pbu = ProxyBindingUpdate(
            self._sequence, lifetime_to_units(lifetime), options=self._pbu_options(entry, hi, now)
        )
        entry.outstanding = pbu
        entry.sent = now.monotonic if not retransmission else entry.sent
        self._by_sequence[pbu.sequence] = entry
        if not retransmission:
            entry.timeout = self.policy.initial_bindack_timeout
            entry.retransmissions = 0
        self._arm(entry, now.monotonic + entry.timeout)
        actions.append(SendMessage(message=pbu, destination=entry.lma))

    def _message(self, event: MobilityMessageReceived, now: Now, actions: list[MagAction]) -> None:
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
                    kind="unexpected_message",
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
        actions: list[MagAction],
    ) -> None:
        entry = self._by_sequence.get(pba.sequence)
        problem = None
        if entry is None or entry.outstanding is None:
            problem = "no outstanding PBU with this sequence number"
        elif event.source != entry.lma:
            problem = f"from {event.source}, not the LMA {entry.lma}"
        elif not int(pba.flags) & BindingAcknowledgementFlag.P:
            problem = "P flag clear"
        else:
            problem = _echo_mismatch(entry.outstanding, pba)
        if problem is not None or entry is None:
            actions.append(
                RecordAudit(
                    kind="pba_dropped",
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
        hi = next((o.indicator for o in pbu.options if type(o) is HandoffIndicatorOption), None)
        actions.append(
            RecordAudit(
                kind="pba",
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=self.policy.name,
                fields={
                    "status": int(pba.status),
                    "sequence": pba.sequence,
                    "lifetime": pba.lifetime_seconds,
                    "rtt_ms": rtt_ms,
                    "retransmissions": entry.retransmissions,
                    "handoff_indicator": int(hi) if hi is not None else None,
                    "event_to_ack_ms": (
                        round((now.monotonic - entry.attached_at) * 1000, 3) if first else None
                    ),
                },
            )
        )
        if entry.state is StationState.DEREGISTERING:
            self._forget(entry, now, actions, "station_deregistered", withdraw=False)
            return
        if (
            pba.status == BindingStatus.TIMESTAMP_MISMATCH
            and entry.timestamp_retries < self.policy.timestamp_retries
        ):
            # RFC 5213 §6.9.1.2: our PBU arrived outside the LMA's TimestampValidityWindow
            # (a queue at either end, or clock skew): register again, a limited number of
            # times, with a fresh timestamp and sequence number.
            entry.timestamp_retries += 1
            hi = next(o.indicator for o in pbu.options if type(o) is HandoffIndicatorOption)
            self._send_pbu(entry, hi, pbu.lifetime_seconds, now, actions, retransmission=True)
            return
        entry.timestamp_retries = 0
        uplink = next((o.key for o in pba.options if type(o) is GreKeyOption), None)
        if pba.accepted and entry.gre_downlink is not None and uplink is None:
            # RFC 5845 §3: without the LMA's uplink key we cannot send the node's traffic.
            actions.append(RecordAudit(kind="pba_dropped", utc=now.utc, peer=event.source,
                                       mn_id=entry.mn_id,
                                       fields={"reason": "GRE mode: no uplink GRE key",
                                               "sequence": pba.sequence,
                                               "status": int(pba.status)}))  # fmt: skip
            kind = "registration_rejected" if first else "refresh_rejected"
            self._forget(entry, now, actions, kind, withdraw=not first)
            return
        if not pba.accepted:
            if entry.state is StationState.REGISTERING:
                self._forget(entry, now, actions, "registration_rejected", withdraw=False)
            else:  # a refresh was refused: the binding is gone at the LMA
                self._forget(entry, now, actions, "refresh_rejected", withdraw=True)
            return
        hnps = tuple(
            format_ipv6_network(o.prefix, o.prefix_length)
            for o in pba.options
            if type(o) is HomeNetworkPrefixOption
        )
        reply4 = next((o for o in pba.options if type(o) is IPv4HomeAddressReplyOption), None)
        changed = hnps != entry.hnps or uplink != entry.gre_uplink
        entry.gre_uplink = uplink
        entry.hnps = hnps
        if reply4 is not None and reply4.status < 128:
            new4 = format_ipv4(reply4.address)
            changed = changed or new4 != entry.ipv4
            entry.ipv4 = new4
            if 0 < reply4.prefix_length <= 32:
                entry.ipv4_prefix_length = reply4.prefix_length
        entry.state = StationState.REGISTERED
        entry.granted = pba.lifetime_seconds
        self._arm(entry, now.monotonic + max(1.0, entry.granted * self.policy.refresh_fraction))
        if first or changed:
            actions.append(InstallStationRoutes(station=entry.binding()))
            actions.append(
                RecordAudit(
                    kind="station_registered",
                    utc=now.utc,
                    mn_id=entry.mn_id,
                    peer=self.policy.name,
                    fields={
                        "mac": entry.mac,
                        "interface": entry.interface,
                        "ap": entry.ap,
                        "ssid": entry.ssid,
                        "prefixes": list(entry.hnps),
                        "ipv4": entry.ipv4,
                    },
                )
            )

    def _timers_due(self, now: Now, actions: list[MagAction]) -> None:
        while self._timers and self._timers[0][0] <= now.monotonic:
            deadline, _, mac = heapq.heappop(self._timers)
            entry = self._stations.get(mac)
            if entry is None or entry.deadline != deadline:
                continue
            if entry.outstanding is not None:
                if entry.retransmissions >= self.policy.max_retransmissions:
                    self._forget(
                        entry,
                        now,
                        actions,
                        "pbu_unanswered",
                        withdraw=entry.state is not StationState.REGISTERING,
                    )
                    continue
                entry.retransmissions += 1
                entry.timeout = min(entry.timeout * 2, self.policy.max_bindack_timeout)
                pbu = entry.outstanding
                hi = next(o.indicator for o in pbu.options if type(o) is HandoffIndicatorOption)
                lifetime = pbu.lifetime_seconds
                self._send_pbu(entry, hi, lifetime, now, actions, retransmission=True)
            elif entry.state is StationState.REGISTERED:
                entry.state = StationState.REFRESHING
                self._send_pbu(
                    entry, HandoffIndicator.NOT_CHANGED, self.policy.lifetime, now, actions
                )

    # ------------------------------------------------------------------ revocation, heartbeat

    def _bri(
        self,
        event: MobilityMessageReceived,
        bri: BindingRevocationIndication,
        now: Now,
        actions: list[MagAction],
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
        actions.append(
            SendMessage(
                message=BindingRevocationAcknowledgement(
                    status, bri.sequence, bri.flags, reply_options
                ),
                destination=event.source,
                source=event.destination,
                transport=event.transport,
                destination_port=event.source_port or 5436,
            )
        )
        if status is not RevocationStatus.SUCCESS or entry is None:
            actions.append(
                RecordAudit(
                    kind="bri_unmatched",
                    utc=now.utc,
                    peer=event.source,
                    fields={"sequence": bri.sequence},
                )
            )
            return
        actions.append(DeauthenticateStation(mac=entry.mac, interface=entry.interface))
        self._forget(
            entry,
            now,
            actions,
            "binding_revoked",
            withdraw=entry.state is not StationState.REGISTERING,
            fields={"trigger": int(bri.trigger)},
        )

    def _heartbeat(
        self, event: MobilityMessageReceived, message: Heartbeat, now: Now, actions: list[MagAction]
    ) -> None:
        if not message.response:
            actions.append(
                SendMessage(
                    message=Heartbeat(
                        message.sequence,
                        True,
                        False,
                        (RestartCounterOption(self.policy.restart_counter),),
                    ),
                    destination=event.source,
                    source=event.destination,
                    transport=event.transport,
                    destination_port=event.source_port or 5436,
                )
            )
            actions.append(
                RecordAudit(
                    kind="heartbeat_answered",
                    utc=now.utc,
                    peer=event.source,
                    fields={"sequence": message.sequence},
                )
            )
            return
        counter = next((o for o in message.options if type(o) is RestartCounterOption), None)
        actions.append(
            RecordAudit(
                kind="heartbeat_response",
                utc=now.utc,
                peer=event.source,
                fields={
                    "sequence": message.sequence,
                    "restart_counter": counter.counter if counter is not None else None,
                },
            )
        )
        if counter is None:
            return
        value = counter.counter
        if self._lma_restart_counter is not None and value != self._lma_restart_counter:
            # The LMA may have lost our bindings: re-register every station now.
            actions.append(
                RecordAudit(
                    kind="lma_restarted",
                    utc=now.utc,
                    peer=event.source,
                    fields={"old": self._lma_restart_counter, "new": value},
                )
            )
            for entry in list(self._stations.values()):
                if entry.state is StationState.REGISTERED:
                    entry.state = StationState.REFRESHING
                    self._send_pbu(
                        entry, HandoffIndicator.NOT_CHANGED, self.policy.lifetime, now, actions
                    )
        self._lma_restart_counter = value

    # ------------------------------------------------------------------ helpers

    def _arm(self, entry: _Entry, deadline: float) -> None:
        entry.deadline = deadline
        self._count += 1
        heapq.heappush(self._timers, (deadline, self._count, entry.mac))

    def _new_gre_key(self) -> int | None:
        """A downlink GRE key no station of ours holds (GRE mode), else None."""
        if not self.policy.gre:
            return None
        while True:
            self._gre_key = self._gre_key % 0xFFFF_FFFF + 1
            if self._gre_key not in self._gre_keys:
                self._gre_keys.add(self._gre_key)
                return self._gre_key

    def _forget(
        self,
        entry: _Entry,
        now: Now,
        actions: list[MagAction],
        kind: str,
        *,
        withdraw: bool,
        fields: dict[str, Any] | None = None,
    ) -> None:
        if withdraw:
            actions.append(RemoveStationRoutes(station=entry.binding()))
        if entry.outstanding is not None:
            self._by_sequence.pop(entry.outstanding.sequence, None)
        self._stations.pop(entry.mac, None)
        if entry.gre_downlink is not None:
            self._gre_keys.discard(entry.gre_downlink)
        actions.append(
            RecordAudit(
                kind=kind,
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=self.policy.name,
                fields={"mac": entry.mac, **(fields or {})},
            )
        )


def _echo_mismatch(pbu: ProxyBindingUpdate, pba: ProxyBindingAcknowledgement) -> str | None:
    """RFC 5213 §6.9.1.2: the PBA must echo the PBU's MN-ID, HI, ATT and LL-ID."""
    for kind in (
        MobileNodeIdentifierOption,
        HandoffIndicatorOption,
        AccessTechnologyTypeOption,
        MobileNodeLinkLayerIdentifierOption,
    ):
        sent = next((o for o in pbu.options if type(o) is kind), None)
        got = next((o for o in pba.options if type(o) is kind), None)
        if sent is not None and got is not None and sent != got:
            return f"{kind.__name__} differs from the PBU's"
        if sent is not None and got is None and kind is MobileNodeIdentifierOption:
            return "no MN-ID echoed"
    return None


__all__ = ["LIFETIME_UNIT_SECONDS", "MagPolicy", "MobileAccessGateway", "StationState"]
