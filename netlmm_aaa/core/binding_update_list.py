"""The MAG's binding update list: entry, states, inputs (sans-IO; the table is in
:mod:`.mobile_access_gateway`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from netlmm_aaa.core.actions import StationBinding
from netlmm_aaa.core.events import StationAttached
from netlmm_aaa.core.messages import ProxyBindingAcknowledgement, ProxyBindingUpdate


class StationState(Enum):
    """Binding update list entry state."""

    ABSENT = auto()
    REGISTERING = auto()
    REGISTERED = auto()
    REFRESHING = auto()
    DEREGISTERING = auto()


class StationInput(Enum):
    """What moves a binding update list entry (see the table in the module docstring)."""

    ATTACH = auto()
    REPLACED = auto()
    DETACH = auto()
    PBA_ACCEPTED = auto()
    PBA_REJECTED = auto()
    PBA_UNUSABLE = auto()
    PBA_STALE_TIMESTAMP = auto()
    PBA_ANY = auto()
    RETRANSMIT_DUE = auto()
    UNANSWERED = auto()
    REFRESH_DUE = auto()
    LMA_RESTARTED = auto()
    REVOKED = auto()


SERVING = (StationState.REGISTERED, StationState.REFRESHING)
"""States in which the binding at the LMA is in place (routes installed)."""
WAITING = (StationState.REGISTERING, StationState.REGISTERED, StationState.REFRESHING)
"""States of a station that is there (not leaving)."""


@dataclass(frozen=True, slots=True)
class Cause:
    """What a transition's handler needs beyond the entry."""

    pba: ProxyBindingAcknowledgement | None = None
    pbu: ProxyBindingUpdate | None = None
    """The PBU the PBA answers (no longer outstanding)."""
    source: str | None = None
    attached: StationAttached | None = None
    trigger: int | None = None
    problem: str | None = None
    """Why an accepted PBA cannot be used (PBA_UNUSABLE)."""


NO_CAUSE = Cause()


class BulEntry:
    """One station's binding update list entry (RFC 5213 §6.1)."""

    __slots__ = (
        "advertise_at",
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
        "solicited_at",
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
        self.state = StationState.ABSENT
        self.outstanding: ProxyBindingUpdate | None = None
        self.sent = 0.0
        self.timeout = 0.0
        self.retransmissions = 0
        self.timestamp_retries = 0
        self.deadline = 0.0
        self.advertise_at = 0.0  # when the next refreshing Router Advertisement is due
        self.solicited_at = float("-inf")  # when a Router Solicitation was last answered
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
