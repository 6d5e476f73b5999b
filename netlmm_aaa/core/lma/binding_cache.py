"""The binding cache's vocabulary: entry states, what an event means for an entry, the entry
itself (RFC 5213 §5.1) and a received PBU with its options sorted out once."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from netlmm_aaa.core.actions import BindingSnapshot
from netlmm_aaa.core.events import MobilityMessageReceived, Transport
from netlmm_aaa.core.lma_policy import MagPeer
from netlmm_aaa.core.messages import ProxyBindingUpdate
from netlmm_aaa.core.options import (
    AccessTechnologyTypeOption,
    GreKeyOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    IPv4HomeAddressRequestOption,
    LinkLocalAddressOption,
    MobileNodeIdentifierOption,
    MobileNodeLinkLayerIdentifierOption,
    TimestampOption,
)

ZERO16 = bytes(16)


class BindingState(Enum):
    """State of a binding cache entry."""

    ABSENT = auto()
    ACTIVE = auto()
    DEREGISTERED = auto()


class BindingInput(Enum):
    """What an event means for one binding cache entry."""

    REGISTRATION = auto()
    REFRESH = auto()
    HANDOVER = auto()
    HANDOVER_UNKNOWN = auto()
    DEREGISTRATION = auto()
    STRAY_DEREGISTRATION = auto()
    EXPIRY = auto()
    REVOCATION = auto()
    PEER_RESTART = auto()


@dataclass(slots=True)
class ReceivedPbu:
    """A received PBU, with its options sorted out once (the first of each kind counts)."""

    event: MobilityMessageReceived
    message: ProxyBindingUpdate
    peer: MagPeer | None
    mn_id: MobileNodeIdentifierOption | None = None
    hi: HandoffIndicatorOption | None = None
    att: AccessTechnologyTypeOption | None = None
    ll_id: MobileNodeLinkLayerIdentifierOption | None = None
    lla: LinkLocalAddressOption | None = None
    timestamp: TimestampOption | None = None
    gre_key: GreKeyOption | None = None
    ipv4_request: IPv4HomeAddressRequestOption | None = None
    prefixes: tuple[HomeNetworkPrefixOption, ...] = ()

    @classmethod
    def parse(cls, event: MobilityMessageReceived, peer: MagPeer | None) -> ReceivedPbu:
        message = event.message
        assert type(message) is ProxyBindingUpdate
        pbu = cls(event=event, message=message, peer=peer)
        prefixes: list[HomeNetworkPrefixOption] = []
        for option in message.options:
            kind = type(option)
            if kind is HomeNetworkPrefixOption:
                prefixes.append(option)  # type: ignore[arg-type]
            elif kind is MobileNodeIdentifierOption:
                pbu.mn_id = pbu.mn_id or option  # type: ignore[assignment]
            elif kind is HandoffIndicatorOption:
                pbu.hi = pbu.hi or option  # type: ignore[assignment]
            elif kind is AccessTechnologyTypeOption:
                pbu.att = pbu.att or option  # type: ignore[assignment]
            elif kind is TimestampOption:
                pbu.timestamp = pbu.timestamp or option  # type: ignore[assignment]
            elif kind is MobileNodeLinkLayerIdentifierOption:
                pbu.ll_id = pbu.ll_id or option  # type: ignore[assignment]
            elif kind is LinkLocalAddressOption:
                pbu.lla = pbu.lla or option  # type: ignore[assignment]
            elif kind is GreKeyOption:
                pbu.gre_key = pbu.gre_key or option  # type: ignore[assignment]
            elif kind is IPv4HomeAddressRequestOption:
                pbu.ipv4_request = pbu.ipv4_request or option  # type: ignore[assignment]
        pbu.prefixes = tuple(prefixes)
        return pbu


class BindingEntry:
    """A binding cache entry (RFC 5213 §5.1); mutable, owned by the LMA."""

    __slots__ = (
        "access_technology",
        "deadline",
        "gre_key_downlink",
        "gre_key_uplink",
        "hnp_options",
        "ipv4_home_address",
        "last_handover_utc",
        "last_sequence",
        "last_timestamp",
        "lifetime",
        "link_layer_identifier",
        "link_local_address",
        "mn_id",
        "peer",
        "pending",
        "pending_deadline",
        "prefixes",
        "refreshed_utc",
        "registered_utc",
        "sequences",
        "signalling_address",
        "source_port",
        "state",
        "transport",
    )

    def __init__(self, mn_id: bytes) -> None:
        self.mn_id = mn_id
        self.state = BindingState.ABSENT
        self.prefixes: tuple[str, ...] = ()
        self.hnp_options: tuple[HomeNetworkPrefixOption, ...] = ()
        self.ipv4_home_address: str | None = None
        self.peer: MagPeer | None = None
        self.signalling_address = ""
        self.transport = Transport.IPV6
        self.source_port = 0
        self.link_layer_identifier = b""
        self.link_local_address = ZERO16
        self.access_technology = 0
        self.lifetime = 0
        self.registered_utc = 0.0
        self.refreshed_utc = 0.0
        self.last_handover_utc: float | None = None
        self.last_sequence = 0
        # Last accepted sequence number of each MAG that served the node, made only once a
        # second MAG appears: most nodes never move, and a dict each is 200 octets per node.
        self.sequences: dict[str, int] | None = None
        self.last_timestamp: int | None = None
        self.gre_key_downlink: int | None = None
        self.gre_key_uplink: int | None = None
        self.deadline = 0.0
        self.pending: ReceivedPbu | None = None
        self.pending_deadline = 0.0

    @classmethod
    def from_snapshot(
        cls,
        snap: BindingSnapshot,
        peer: MagPeer,
        hnp_options: tuple[HomeNetworkPrefixOption, ...],
    ) -> BindingEntry:
        """The entry a persisted binding describes (restart)."""
        entry = cls(snap.mn_id)
        entry.state = BindingState.DEREGISTERED if snap.deregistered else BindingState.ACTIVE
        entry.prefixes = snap.home_network_prefixes
        entry.hnp_options = hnp_options
        entry.ipv4_home_address = snap.ipv4_home_address
        entry.peer = peer
        entry.signalling_address = snap.signalling_address
        entry.transport = snap.transport
        entry.link_layer_identifier = snap.link_layer_identifier
        entry.access_technology = snap.access_technology
        entry.lifetime = snap.lifetime
        entry.registered_utc = snap.registered_utc
        entry.refreshed_utc = snap.refreshed_utc
        entry.last_handover_utc = snap.last_handover_utc
        entry.last_sequence = snap.last_sequence
        entry.last_timestamp = snap.last_timestamp
        entry.gre_key_downlink = snap.gre_key_downlink
        entry.gre_key_uplink = snap.gre_key_uplink
        return entry

    @property
    def tunnel_address(self) -> str:
        """Where the node's tunnel ends at its serving MAG: the IPv4 source of its PBUs when
        they came over IPv4 (RFC 5844 §4.1.3.1: the IPv4-Proxy-CoA), else the peer's
        configured (IPv6) tunnel address."""
        assert self.peer is not None
        if self.transport is Transport.UDP4:
            return self.signalling_address
        return self.peer.tunnel_address

    def snapshot(self) -> BindingSnapshot:
        assert self.peer is not None
        return BindingSnapshot(
            mn_id=self.mn_id,
            home_network_prefixes=self.prefixes,
            ipv4_home_address=self.ipv4_home_address,
            mag=self.peer.name,
            proxy_coa=self.tunnel_address,
            signalling_address=self.signalling_address,
            transport=self.transport,
            link_layer_identifier=self.link_layer_identifier,
            access_technology=self.access_technology,
            lifetime=self.lifetime,
            registered_utc=self.registered_utc,
            refreshed_utc=self.refreshed_utc,
            last_handover_utc=self.last_handover_utc,
            last_sequence=self.last_sequence,
            last_timestamp=self.last_timestamp,
            gre_key_downlink=self.gre_key_downlink,
            gre_key_uplink=self.gre_key_uplink,
            deregistered=self.state is BindingState.DEREGISTERED,
        )

    def sequence_from(self, mag: str) -> int | None:
        """The last sequence number accepted from ``mag`` for this binding, if it served it."""
        if self.sequences is not None and mag in self.sequences:
            return self.sequences[mag]
        if self.peer is not None and self.peer.name == mag:
            return self.last_sequence
        return None
