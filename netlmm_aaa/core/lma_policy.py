"""What the LMA core is told by its operator: peers, mobile node policy, pools and timers.

Plain frozen dataclasses (built from TOML by :mod:`netlmm_aaa.config`, or by tests directly).
Addresses are canonical text (``str(ipaddress.ip_address(...))``), as the sockets report them.
Names of the RFC 5213 §9 variables are kept where they apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class TunnelMode(Enum):
    """LMA-MAG forwarding (RFC 4831 goal 11): how the data plane carries the MN's traffic."""

    #: IPv6-in-IPv6 (and IPv4-in-IPv6), RFC 5213 / RFC 5844: ip6tnl or seg6 encap.red
    IP6IP6 = "ip6ip6"
    #: GRE over IPv6 with per-binding keys (RFC 5845)
    GRE = "gre"
    #: plain routes toward the MAG, no tunnel (the transport must route home prefixes)
    ROUTING = "routing"


class UnknownMobileNodes(Enum):
    """What to do with an MN-ID that has no policy entry."""

    #: serve it from the pools (hotspots: anyone 802.1X-authenticated at a peer MAG)
    ALLOCATE = "allocate"
    #: answer NOT_LMA_FOR_THIS_MOBILE_NODE (153) (enterprises with a full policy table)
    REJECT = "reject"


@dataclass(frozen=True, slots=True, kw_only=True)
class MagPeer:
    """A MAG allowed to send Proxy Binding Updates to this LMA."""

    name: str
    """Operator's name for it (audit trail, metrics)."""
    addresses: frozenset[str]
    """Source addresses its signalling may come from (IPv6 Proxy-CoA and/or IPv4 for UDP 5436)."""
    tunnel_address: str
    """The address the data-plane tunnel ends at (its Proxy-CoA) when it signals over IPv6;
    over IPv4 (RFC 5844 §4) the tunnel ends at the IPv4 source of its PBUs."""
    allowed_prefixes: tuple[str, ...] = ()
    """Networks whose home prefixes / IPv4 addresses it may serve; empty means any of ours."""
    heartbeats: bool = True
    """Send it Heartbeats and our restart announcement (RFC 5847); off for a peer that does
    not parse them (some stop reading after an unknown Mobility Header type)."""
    revocation: bool = True
    """Send it Binding Revocation Indications (RFC 5846); off: the same kind of peer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MobileNodePolicy:
    """The policy profile of one mobile node (RFC 5213 §2.2 "policy profile")."""

    mn_id: bytes
    """The MN-Identifier (NAI octets)."""
    home_network_prefix: str | None = None
    """Static home network prefix, e.g. ``2001:db8:1:1::/64``; None: from the pool."""
    ipv4_home_address: str | None = None
    """Static IPv4 home address; None: from the IPv4 pool when the MAG asks for one."""
    proxy_mobility: bool = True
    """False: not authorized for network-based mobility (152)."""
    ipv6_service: bool = True
    """False: no IPv6 home network prefix for this node (172)."""
    ipv4_service: bool = True
    """False: no IPv4 home address for this node (170)."""
    allowed_mags: frozenset[str] | None = None
    """Peer names that may register this node; None means every peer (154 otherwise)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LmaPolicy:
    """Everything the LMA core decides with."""

    peers: tuple[MagPeer, ...]
    """The MAGs allowed to register mobile nodes."""
    mobile_nodes: tuple[MobileNodePolicy, ...] = ()
    """Per-node policy profiles."""
    unknown_mobile_nodes: UnknownMobileNodes = UnknownMobileNodes.ALLOCATE
    """Nodes without a profile: serve from the pools or reject (153)."""
    prefix_pool: str | None = "2001:db8:1000::/40"
    """Network home prefixes are allocated from; None disables allocation."""
    prefix_length: int = 64
    """Length of each allocated home network prefix."""
    ipv4_pool: str | None = None
    """Network IPv4 home addresses are allocated from; None disables IPv4 allocation."""
    ipv4_prefix_length: int = 24
    """Prefix length of the IPv4 home network, as told to the MAG (IPv4 HoA Reply)."""
    ipv4_default_router: str | None = None
    """The IPv4 default router every MAG presents (RFC 5844 §3.3.3), excluded from the pool."""
    tunnel_mode: TunnelMode = TunnelMode.IP6IP6
    """LMA-MAG forwarding."""
    max_lifetime: int = 3600
    """Longest binding lifetime granted, in seconds (rounded down to 4 s units)."""
    min_delay_before_bce_delete: float = 10.0
    """MinDelayBeforeBCEDelete (RFC 5213 §9.1), seconds."""
    max_delay_before_new_bce_assign: float = 1.5
    """MaxDelayBeforeNewBCEAssign (RFC 5213 §9.1), seconds; 0 skips the HI=4 wait."""
    aaa_attachment_check: bool = False
    """RFC 5213 §11 against a compromised MAG: register a node only at the MAG where the AAA
    (RADIUS accounting fed to the LMA) places it; otherwise status 154."""
    aaa_attachment_wait: float = 1.0
    """How long a PBU waits for the accounting record that places its node at its MAG (the
    PBU and the NAS's Accounting-Start leave at the same moment and may arrive in any order)."""
    timestamp_validity_window: float = 0.3
    """TimestampValidityWindow (RFC 5213 §9.1), seconds."""
    mobile_node_generated_timestamp: bool = False
    """MobileNodeGeneratedTimestampInUse (RFC 5213 §9.3): skip the clock-window check."""
    require_timestamp: bool = False
    """True: refuse PBUs without a Timestamp option (156); False: fall back to sequence numbers."""
    accept_forced_udp_encapsulation: bool = False
    """AcceptForcedIPv4UDPEncapsulationRequest (RFC 5844 §5.1): F flag, else 129."""
    revoke_old_mag_on_handover: bool = True
    """Send a Binding Revocation Indication to the previous MAG after a handover (RFC 5846)."""
    heartbeat_interval: float = 60.0
    """HEARTBEAT_INTERVAL (RFC 5847 §5), seconds; 0 disables heartbeats."""
    missing_heartbeats_allowed: int = 3
    """MISSING_HEARTBEATS_ALLOWED (RFC 5847 §5)."""
    release_bindings_on_peer_restart: bool = True
    """Delete a MAG's bindings when its restart counter changes (RFC 5847 §3)."""
    honour_requested_blocks: bool = True
    """A home prefix or IPv4 home address a PBU asks for (the node's RADIUS profile, RFC 6572,
    relayed by its MAG) is granted when it is a block of a configured pool that nobody holds
    and no other node has statically; off: only the node's own static or last block."""
    restart_counter: int = 0
    """This LMA's own restart counter (persisted by the daemon, bumped on each restart)."""
    bri_retransmit_delay: float = 1.0
    """InitMINDelayBRIs (RFC 5846 §11), seconds."""
    bri_max_retries: int = 1
    """BRIMaxRetriesNumber (RFC 5846 §11)."""
    extra: dict[str, str] = field(default_factory=dict)
    """Free-form labels carried into audit records (site, LMA name)."""


def tunnel_peers(peers: tuple[MagPeer, ...]) -> list[str]:
    """The addresses the LMA's data plane decapsulates from: each MAG's tunnel address, and its
    IPv4 addresses (a MAG that signals over IPv4 tunnels from there, RFC 5844 §4)."""
    ipv4 = [a for peer in peers for a in peer.addresses if ":" not in a]
    return list(dict.fromkeys([*(peer.tunnel_address for peer in peers), *ipv4]))
