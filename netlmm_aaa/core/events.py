"""Inputs to the core state machines, named in the past tense."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from netlmm_aaa.core.messages import MobilityMessage


class Transport(Enum):
    """How a mobility message travelled."""

    #: IPv6, next header 135 (RFC 6275 / RFC 5213)
    IPV6 = "ipv6-mh"
    #: IPv4, UDP port 5436, the MH directly in UDP (RFC 5844 §4)
    UDP4 = "udp5436"


@dataclass(frozen=True, slots=True, kw_only=True)
class MobilityMessageReceived:
    """A mobility message decoded from the network."""

    message: MobilityMessage
    """The decoded message."""
    source: str
    """Source address (canonical text)."""
    destination: str
    """Destination address it was sent to (canonical text): replies come from it."""
    transport: Transport = Transport.IPV6
    """IPv6 MH or IPv4/UDP 5436."""
    source_port: int = 0
    """UDP source port (replies go back to it); 0 for IPv6 MH."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MalformedPacketReceived:
    """Bytes that did not decode (the adapter dropped them); recorded, nothing else happens."""

    source: str
    """Source address."""
    transport: Transport
    """Where it came in."""
    reason: str
    """The WireFormatError text."""
    length: int
    """How many octets arrived."""
    unknown_mh_type: int | None = None
    """Set when the only problem was an MH type we do not implement (RFC 6275 §9.2)."""
    source_port: int = 0
    """UDP source port (UDP transport), where a Binding Error goes back to."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RevocationRequested:
    """An operator asked to revoke a mobile node's binding (``netlmm-aaa lma revoke``)."""

    mn_id: bytes
    """The MN-Identifier to revoke."""
    trigger: int = 1
    """RFC 5846 revocation trigger; 1 is Administrative Reason."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired:
    """The deadline the core asked for (``next_deadline()``) has passed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachmentReported:
    """Where the AAA (RADIUS accounting) places a mobile node now: at ``mag`` (a Start or an
    Interim-Update from one of that MAG's NASes), or nowhere (``None``: a Stop)."""

    mn_id: bytes
    """The MN-Identifier (the authenticated User-Name or the Chargeable-User-Identity)."""
    mag: str | None
    """The MAG the reporting NAS belongs to; None when the session stopped."""


@dataclass(frozen=True, slots=True)
class RoutesProgrammed:
    """The runner carried out the routes of the actions the LMA returned since the last such
    event; ``failed``: the bindings whose routes the kernel refused (``error`` says why)."""

    failed: frozenset[bytes] = frozenset()
    error: str = ""


LmaEvent = (
    MobilityMessageReceived
    | MalformedPacketReceived
    | RevocationRequested
    | TimerFired
    | AttachmentReported
    | RoutesProgrammed
)


# ------------------------------------------------------------------------------------------------
# MAG-side inputs from the authenticator (hostapd control interface events).


class StationEventKind(Enum):
    """What hostapd said about a station."""

    #: AP-STA-CONNECTED: the port went unauthorized -> authorized (802.1X success)
    AUTHORIZED = "authorized"
    #: CTRL-EVENT-EAP-SUCCESS2: an EAP success, also for a re-authentication of a known station
    AUTHENTICATED = "authenticated"
    #: CTRL-EVENT-EAP-STARTED: an EAP exchange began (e.g. after a link move)
    AUTHENTICATION_STARTED = "authentication_started"
    #: CTRL-EVENT-EAP-FAILURE2 / -TIMEOUT-FAILURE: authentication failed
    AUTHENTICATION_FAILED = "authentication_failed"
    #: AP-STA-DISCONNECTED: the station is gone
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True, kw_only=True)
class StationEvent:
    """One hostapd event about one station, as parsed from a control-interface line."""

    kind: StationEventKind
    """What happened."""
    mac: str
    """The station's MAC, lower-case with colons."""
    interface: str | None = None
    """The hostapd interface, when the line said (``hostapd_cli -a`` form)."""
    raw: str = ""
    """The event line as received (for the audit trail)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StationAttached:
    """An 802.1X-authenticated station is on one of this MAG's access links, identity known.

    Built by the MAG's intake from hostapd events (confirmed with ``STA <mac>``) or RADIUS
    accounting, never from the station's own traffic.
    """

    mac: str
    """The station's MAC, lower-case with colons (its link-layer identifier)."""
    mn_id: bytes
    """The MN-Identifier: the CUI or the authenticated (inner) User-Name, never the MAC."""
    interface: str
    """The access interface it is on."""
    home_network_prefix: str | None = None
    """From the policy profile (RFC 6572 PMIP6-Home-HN-Prefix), else None: the LMA assigns."""
    ipv4_home_address: str | None = None
    """From the profile (PMIP6-Home-IPv4-HoA); None asks the LMA to assign, if IPv4 is on."""
    lma_address: str | None = None
    """From the profile (PMIP6-Home-LMA-IPv6-Address); None: the configured LMA."""
    ap: str | None = None
    """The access point (Called-Station-Id's MAC part) when the report named it."""
    ssid: str | None = None
    """The SSID (Called-Station-Id's part after the colon) when the report named it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StationDetached:
    """The station left (disconnect event, accounting Stop, or deauthentication)."""

    mac: str
    """The station's MAC."""


# ------------------------------------------------------------------------------------------------
# What the MAG daemon's adapters report, before the intake decides whether a station is attached.


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmedStation:
    """What hostapd's ``STA <mac>`` (or its station list) says about one station."""

    mac: str
    authorized: bool
    identity: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountingSession:
    """The parts of an accounting request that decide attachment."""

    nas: str
    status: int  # 1 Start, 2 Stop, 3 Interim-Update, 7 Accounting-On, 8 Accounting-Off
    mac: str | None
    user_name: str | None
    chargeable_user_identity: bytes | None
    authentic: int | None  # 1 RADIUS
    interface: str
    called_station_id: str | None = None  # "AP-MAC:SSID" (RFC 3580 3.20)
    session_id: str | None = None  # Acct-Session-Id
    event_timestamp: int | None = None  # Event-Timestamp (POSIX seconds)
    delay_time: int = 0  # Acct-Delay-Time
    nas_port_type: int | None = None  # NAS-Port-Type (15 Ethernet, 19 IEEE 802.11, 5 Virtual)
    service_type: int | None = None  # Service-Type (10 Call-Check: MAC authentication bypass)
    akm_suite: int | None = None  # WLAN-AKM-Suite (RFC 7268): 00-0F-AC:1 is 802.1X, :2 PSK


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterSolicited:
    """A Router Solicitation arrived on access interface ``interface``; ``mac``: its Source
    Link-Layer Address option (None when it had none, e.g. sent from ``::``)."""

    interface: str
    mac: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessProfile:
    """The RFC 6572 mobility attributes of an Access-Accept (all optional)."""

    user_name: bytes | None = None
    home_network_prefix: str | None = None
    ipv4_home_address: str | None = None
    lma_address: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessAcceptRelayed:
    """Our RADIUS relay passed an Access-Accept for ``mac`` to the NAS serving ``interface``
    (None: a NAS with no access interface of ours)."""

    mac: str
    interface: str | None
    profile: AccessProfile


@dataclass(frozen=True, slots=True, kw_only=True)
class StationEventReported:
    """hostapd reported ``event`` on ``interface``: on its control socket, or through the
    hook script (``via_hook``: only a trigger, never proof)."""

    interface: str
    event: StationEvent
    via_hook: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StationQueried:
    """hostapd's answer to the :class:`~.actions.QueryStation` the core asked for (``station``
    None: hostapd does not know the station, or did not answer)."""

    interface: str
    event: StationEvent
    via_hook: bool
    station: ConfirmedStation | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StationsListed:
    """hostapd's full station list for ``interface`` (after every (re)attach to it)."""

    interface: str
    stations: tuple[ConfirmedStation, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountingReported:
    """An accounting request from one of our NASes (already authenticated and recorded)."""

    session: AccountingSession


MagEvent = (
    StationAttached
    | StationDetached
    | MobilityMessageReceived
    | MalformedPacketReceived
    | TimerFired
    | AccessAcceptRelayed
    | StationEventReported
    | StationQueried
    | StationsListed
    | AccountingReported
    | RouterSolicited
)
