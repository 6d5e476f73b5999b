"""The steps of the MAG's binding update list transitions (the table is in
:mod:`.mobile_access_gateway`): what attaching, detaching, a PBA's verdict, a retransmission, a
refresh and a revocation do to one station's entry, and the actions each emits in order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from enum import Enum, auto
from typing import Any

from netlmm_aaa.core.actions import (
    DeauthenticateStation,
    InstallStationRoutes,
    MagAction,
    RecordAudit,
    RemoveStationRoutes,
    send_to,
)
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.binding_update_list import SERVING, BulEntry, Cause, StationState
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.codes import HandoffIndicator
from netlmm_aaa.core.early_downlink import EarlyDownlinks
from netlmm_aaa.core.mag_policy import MagPolicy
from netlmm_aaa.core.pbu_exchange import PbuBuilder, handoff_indicator, read_grant
from netlmm_aaa.core.station_intake import StationIntake

Actions = list[MagAction]


class MagTimer(Enum):
    """What a deadline in the MAG's timer heap is for."""

    STATION = auto()
    """The entry's retransmission or refresh (``BulEntry.deadline``)."""
    EARLY_DOWNLINK = auto()
    """A downlink prepared from an Access-Accept that no registration took over yet."""
    ADVERTISE = auto()
    """A registered station's next Router Advertisement (``BulEntry.advertise_at``)."""
    REREGISTER = auto()
    """The next burst of stations to register again after an LMA restart."""


class StationSteps:
    """The handlers; :class:`~.mobile_access_gateway.MobileAccessGateway` owns their state."""

    policy: MagPolicy
    intake: StationIntake
    _stations: dict[str, BulEntry]
    _by_sequence: dict[int, BulEntry]
    _pbus: PbuBuilder
    _timers: list[tuple[float, int, MagTimer, str]]
    _count: int
    _early: EarlyDownlinks

    def _on_attach(self, entry: BulEntry, cause: Cause, now: Now, actions: Actions) -> None:
        event = cause.attached
        assert event is not None
        actions.append(
            RecordAudit(
                kind=AuditKind.STATION_ATTACHED,
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

    def _on_detach(self, entry: BulEntry, cause: Cause, now: Now, actions: Actions) -> None:
        if entry.state in SERVING:
            actions.append(RemoveStationRoutes(station=entry.binding()))
        actions.append(
            RecordAudit(
                kind=AuditKind.STATION_DETACHED,
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=self.policy.name,
                fields={"mac": entry.mac},
            )
        )
        self._send_pbu(entry, HandoffIndicator.NOT_CHANGED, 0, now, actions)

    def _send_pbu(
        self,
        entry: BulEntry,
        hi: int,
        lifetime: int,
        now: Now,
        actions: Actions,
        retransmission: bool = False,
    ) -> None:
        if entry.outstanding is not None:
            self._by_sequence.pop(entry.outstanding.sequence, None)
        pbu = self._pbus.build(entry, hi, lifetime, now)
        entry.outstanding = pbu
        entry.sent = now.monotonic if not retransmission else entry.sent
        self._by_sequence[pbu.sequence] = entry
        if not retransmission:
            entry.timeout = self.policy.initial_bindack_timeout
            entry.retransmissions = 0
        self._arm_station(entry, now.monotonic + entry.timeout)
        actions.append(send_to(pbu, entry.lma))

    def _on_stale_timestamp(
        self, entry: BulEntry, cause: Cause, now: Now, actions: Actions
    ) -> None:
        # RFC 5213 §6.9.1.2: our PBU arrived outside the LMA's TimestampValidityWindow (a queue
        # at either end, or clock skew): register again, a limited number of times, with a
        # fresh timestamp and sequence number.
        pbu = cause.pbu
        assert pbu is not None
        entry.timestamp_retries += 1
        hi = handoff_indicator(pbu)
        assert hi is not None
        self._send_pbu(entry, hi, pbu.lifetime_seconds, now, actions, retransmission=True)

    def _on_accepted(self, entry: BulEntry, cause: Cause, now: Now, actions: Actions) -> None:
        pba = cause.pba
        assert pba is not None
        first = entry.state is StationState.REGISTERING
        grant = read_grant(pba)
        changed = grant.hnps != entry.hnps or grant.uplink_key != entry.gre_uplink
        entry.gre_uplink = grant.uplink_key
        entry.hnps = grant.hnps
        if grant.ipv4 is not None:
            changed = changed or grant.ipv4 != entry.ipv4
            entry.ipv4 = grant.ipv4
            if grant.ipv4_prefix_length is not None:
                entry.ipv4_prefix_length = grant.ipv4_prefix_length
        entry.granted = pba.lifetime_seconds
        self._arm_station(
            entry, now.monotonic + max(1.0, entry.granted * self.policy.refresh_fraction)
        )
        if first or changed:
            binding = entry.binding()
            if self._early:
                withdraw = self._early.taken_over(binding)
                if withdraw is not None:
                    actions.append(withdraw)
            actions.append(InstallStationRoutes(station=binding))
            self._arm_advertising(entry, now)
            actions.append(self._station_audit(AuditKind.STATION_REGISTERED, entry, now))

    def _on_unusable(self, entry: BulEntry, cause: Cause, now: Now, actions: Actions) -> None:
        # An accepted PBA that grants nothing we can route or advertise: a failure.
        pba = cause.pba
        assert pba is not None
        actions.append(RecordAudit(kind=AuditKind.PBA_DROPPED, utc=now.utc, peer=cause.source,
                                   mn_id=entry.mn_id,
                                   fields={"reason": cause.problem,
                                           "sequence": pba.sequence,
                                           "status": int(pba.status)}))  # fmt: skip
        self._on_rejected(entry, cause, now, actions)

    def _on_rejected(self, entry: BulEntry, cause: Cause, now: Now, actions: Actions) -> None:
        if entry.state is StationState.REGISTERING:
            self._farewell(entry, now, actions, AuditKind.REGISTRATION_REJECTED, withdraw=False)
        else:  # a refresh was refused: the binding is gone at the LMA
            self._farewell(entry, now, actions, AuditKind.REFRESH_REJECTED, withdraw=True)

    def _on_deregistered(self, entry: BulEntry, cause: Cause, now: Now, actions: Actions) -> None:
        self._farewell(entry, now, actions, AuditKind.STATION_DEREGISTERED, withdraw=False)

    def _on_replaced(self, entry: BulEntry, cause: Cause, now: Now, actions: Actions) -> None:
        self._farewell(entry, now, actions, AuditKind.STATION_REPLACED, withdraw=True)

    def _on_retransmit(self, entry: BulEntry, cause: Cause, now: Now, actions: Actions) -> None:
        pbu = entry.outstanding
        assert pbu is not None
        entry.retransmissions += 1
        entry.timeout = min(entry.timeout * 2, self.policy.max_bindack_timeout)
        hi = handoff_indicator(pbu)
        assert hi is not None
        self._send_pbu(entry, hi, pbu.lifetime_seconds, now, actions, retransmission=True)

    def _on_resend(self, entry: BulEntry, cause: Cause, now: Now, actions: Actions) -> None:
        # The LMA is back (it announced its restart): the PBU in flight goes again now, its
        # backoff started afresh, instead of waiting out a timeout that grew while it was down.
        pbu = entry.outstanding
        assert pbu is not None
        hi = handoff_indicator(pbu)
        assert hi is not None
        self._send_pbu(entry, hi, pbu.lifetime_seconds, now, actions)

    def _on_unanswered(self, entry: BulEntry, cause: Cause, now: Now, actions: Actions) -> None:
        withdraw = entry.state is not StationState.REGISTERING
        self._farewell(entry, now, actions, AuditKind.PBU_UNANSWERED, withdraw=withdraw)

    def _on_refresh(self, entry: BulEntry, cause: Cause, now: Now, actions: Actions) -> None:
        self._send_pbu(entry, HandoffIndicator.NOT_CHANGED, self.policy.lifetime, now, actions)

    def _on_revoked(self, entry: BulEntry, cause: Cause, now: Now, actions: Actions) -> None:
        nas, session_id = self.intake.session_of(entry.mac) or (None, None)
        actions.append(DeauthenticateStation(
            mac=entry.mac, interface=entry.interface, nas=nas, session_id=session_id,
            user_name=entry.mn_id.decode("utf-8", "replace")))  # fmt: skip
        self._farewell(
            entry,
            now,
            actions,
            AuditKind.BINDING_REVOKED,
            withdraw=entry.state is not StationState.REGISTERING,
            fields={"trigger": cause.trigger},
        )

    def _arm_station(self, entry: BulEntry, deadline: float) -> None:
        entry.deadline = deadline
        self._arm(MagTimer.STATION, entry.mac, deadline)

    def _arm_advertising(self, entry: BulEntry, now: Now) -> None:
        """The station's RAs are refreshed every third of the router lifetime from now (its
        routes and first RA are being installed)."""
        entry.advertise_at = now.monotonic + max(1.0, self.policy.router_lifetime / 3)
        self._arm(MagTimer.ADVERTISE, entry.mac, entry.advertise_at)

    def _arm(self, kind: MagTimer, mac: str, deadline: float) -> None:
        self._count += 1
        heapq.heappush(self._timers, (deadline, self._count, kind, mac))

    def _station_audit(
        self, kind: AuditKind, entry: BulEntry, now: Now, **extra: Any
    ) -> RecordAudit:
        """An audit record of the station's link and addresses as they are now."""
        return RecordAudit(
            kind=kind,
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
                **extra,
            },
        )

    def _farewell(
        self,
        entry: BulEntry,
        now: Now,
        actions: Actions,
        kind: AuditKind,
        *,
        withdraw: bool,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """The audit record (and route withdrawal) of an entry's transition to ABSENT."""
        if withdraw:
            actions.append(RemoveStationRoutes(station=entry.binding()))
        actions.append(
            RecordAudit(
                kind=kind,
                utc=now.utc,
                mn_id=entry.mn_id,
                peer=self.policy.name,
                fields={"mac": entry.mac, **(fields or {})},
            )
        )


StepHandler = Callable[[StationSteps, BulEntry, Cause, Now, Actions], None]
"""A step: (MAG, entry, what caused it, now, actions to append to)."""
