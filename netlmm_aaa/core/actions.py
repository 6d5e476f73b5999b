"""Outputs of the core state machines, named as commands; the runner carries them out in order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.events import MobilityMessageReceived, StationEvent, Transport
from netlmm_aaa.core.messages import MobilityMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingSnapshot:
    """An immutable copy of a binding cache entry: what the data plane and the store need."""

    mn_id: bytes
    """MN-Identifier."""
    home_network_prefixes: tuple[str, ...]
    """Home network prefixes, ``2001:db8:1:1::/64`` form."""
    ipv4_home_address: str | None
    """IPv4 home address, or None."""
    mag: str
    """Serving MAG (peer name)."""
    proxy_coa: str
    """Serving MAG's tunnel address (IPv6)."""
    signalling_address: str
    """Address the MAG's PBU came from (IPv6 or IPv4), where BRIs go."""
    transport: Transport
    """How the MAG signals (IPv6 MH or UDP 5436)."""
    link_layer_identifier: bytes
    """MN link-layer identifier (its MAC), possibly empty."""
    access_technology: int
    """Access Technology Type."""
    lifetime: int
    """Granted lifetime, seconds."""
    registered_utc: float
    """When the binding was created (POSIX seconds)."""
    refreshed_utc: float
    """Last accepted PBU (POSIX seconds); expiry is this plus ``lifetime``."""
    last_handover_utc: float | None
    """Last time the binding moved to another MAG."""
    last_sequence: int
    """Sequence number of the last accepted PBU."""
    last_timestamp: int | None
    """Timestamp (48.16) of the last accepted PBU, if the MAG uses timestamps."""
    gre_key_downlink: int | None = None
    """GRE key the LMA uses toward the MAG (RFC 5845), in GRE mode."""
    gre_key_uplink: int | None = None
    """GRE key the MAG uses toward the LMA, in GRE mode."""
    deregistered: bool = False
    """True while held after a de-registration (RFC 5213 §5.3.5): no routes, deleted soon."""


def tunnel_endpoint(address: str, gre_key: int | None = None) -> str:
    """How the data plane names the far end of a tunnel: the peer's address, followed by
    `` key K`` when packets toward it carry a GRE key (RFC 5845)."""
    return address if gre_key is None else f"{address} key {gre_key}"


MH_UDP_PORT = 5436
"""RFC 5844 §4: mobility messages over IPv4 travel in UDP to and from this port."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendMessage:
    """Send a mobility message."""

    message: MobilityMessage
    """What to send."""
    destination: str
    """Where to (canonical text address)."""
    source: str | None = None
    """Source address to use (the PBU's destination for a PBA), or None for the default."""
    transport: Transport = Transport.IPV6
    """IPv6 MH or IPv4/UDP 5436."""
    destination_port: int = MH_UDP_PORT
    """UDP destination port (UDP transport only)."""


def send_to(message: MobilityMessage, destination: str) -> SendMessage:
    """``message`` to a peer we address first (our PBUs, our restart announcement): over IPv4
    / UDP 5436 to an IPv4 address (RFC 5844 §4.2.2.1), else as an IPv6 Mobility Header."""
    transport = Transport.IPV6 if ":" in destination else Transport.UDP4
    return SendMessage(message=message, destination=destination, transport=transport)


def reply_to(event: MobilityMessageReceived, message: MobilityMessage) -> SendMessage:
    """``message`` back to where ``event`` came from, from the address it was sent to, over
    the same transport (to its UDP source port over IPv4)."""
    return SendMessage(
        message=message,
        destination=event.source,
        source=event.destination,
        transport=event.transport,
        destination_port=event.source_port or MH_UDP_PORT,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallBindingRoutes:
    """Point the binding's prefixes / IPv4 HoA at its serving MAG (replace: idempotent)."""

    binding: BindingSnapshot
    """The binding as it is now."""
    previous_proxy_coa: str | None = None
    """The MAG it moved from, on a handover."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveBindingRoutes:
    """Withdraw the binding's routes (de-registration hold, expiry, revocation)."""

    binding: BindingSnapshot
    """The binding whose routes go."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreBinding:
    """Persist the binding (so a restarted LMA reloads it)."""

    binding: BindingSnapshot
    """The binding as it is now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteStoredBinding:
    """Forget the persisted binding."""

    mn_id: bytes
    """Whose."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordAudit:
    """Append one record to the audit trail."""

    kind: AuditKind
    """What happened (the store routes by it)."""
    utc: float
    """When (POSIX seconds)."""
    mn_id: bytes | None = None
    """Which mobile node, if any."""
    peer: str | None = None
    """Which MAG (peer name) or address."""
    fields: Mapping[str, Any] = field(default_factory=dict)
    """Details (status codes, prefixes, timings); never changed once recorded."""


LmaAction = (
    SendMessage
    | InstallBindingRoutes
    | RemoveBindingRoutes
    | StoreBinding
    | DeleteStoredBinding
    | RecordAudit
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StationBinding:
    """What the MAG's data plane needs about one registered station."""

    mac: str
    """The station's MAC."""
    mn_id: bytes
    """Its MN-Identifier."""
    interface: str
    """Its access interface."""
    home_network_prefixes: tuple[str, ...]
    """Prefixes to advertise to it and to accept from it (uplink source filter)."""
    ipv4_home_address: str | None
    """Its IPv4 home address, if any."""
    lma_address: str
    """Where its uplink traffic is tunnelled."""
    ipv4_prefix_length: int = 32
    """The length of its IPv4 home network (from the PBA's IPv4 Home Address Reply)."""
    gre_key_downlink: int | None = None
    """GRE mode (RFC 5845): the key we assigned, which the LMA's packets to us carry."""
    gre_key_uplink: int | None = None
    """GRE mode: the key the LMA assigned, which our packets toward it carry."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallStationRoutes:
    """Downlink route to the access link, uplink policy rule into the tunnel, then an RA with
    the HNP to the station."""

    station: StationBinding
    """The registered station."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveStationRoutes:
    """Undo :class:`InstallStationRoutes` (the station left or its binding was revoked); then
    an RA with zero lifetimes to the station."""

    station: StationBinding
    """The station."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdvertiseRouter:
    """Send ``station`` a Router Advertisement with its prefixes, to its MAC on its access
    interface (a refresh, or the answer to its Router Solicitation). The first one, and the
    withdrawal, go with :class:`InstallStationRoutes` / :class:`RemoveStationRoutes`, after the
    routes."""

    station: StationBinding


@dataclass(frozen=True, slots=True, kw_only=True)
class DeauthenticateStation:
    """Ask the authenticator to drop the station, which also closes its accounting session: the
    LMA moved its binding to another MAG (or an operator revoked it). A hostapd the MAG watches
    deauthenticates it (``DEAUTHENTICATE <mac>``); a NAS known only by its accounting gets an
    RFC 5176 Disconnect-Request naming ``session_id``."""

    mac: str
    """The station's MAC."""
    interface: str
    """Its access interface."""
    nas: str | None = None
    """The NAS whose accounting attached it (None: a hostapd reported it)."""
    session_id: str | None = None
    """That accounting session's Acct-Session-Id."""
    user_name: str | None = None
    """The identity the station is registered under (the MN-ID, as text)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PrepareDownlink:
    """The Access-Accept named the station's home prefix: make its downlink ready before the
    PBA returns (routes toward the access link, no uplink yet)."""

    station: StationBinding
    """The station as its profile describes it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WithdrawDownlink:
    """Undo (part of) a :class:`PrepareDownlink` that no registration took over."""

    station: StationBinding
    """What to withdraw."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryStation:
    """Ask hostapd on ``interface`` about the station (``STA <mac>``) and report the answer
    as :class:`~.events.StationQueried` with the same ``event`` and ``via_hook``."""

    interface: str
    event: StationEvent
    via_hook: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RefuseHookLine:
    """A hook datagram that moves nothing (counted with the rejected input, not per line)."""

    line: str
    reason: str


MagAction = (
    SendMessage
    | InstallStationRoutes
    | RemoveStationRoutes
    | AdvertiseRouter
    | DeauthenticateStation
    | RecordAudit
    | PrepareDownlink
    | WithdrawDownlink
    | QueryStation
    | RefuseHookLine
)
