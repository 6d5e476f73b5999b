"""What the MAG core decides with (sans-IO)."""

from __future__ import annotations

from dataclasses import dataclass

from netlmm_aaa.core.codes import AccessTechnologyType
from netlmm_aaa.core.lma_selection import LmaSelection


@dataclass(frozen=True, slots=True, kw_only=True)
class MagPolicy:
    """What the MAG core decides with."""

    name: str
    """This MAG's name (audit trail)."""
    proxy_coa: str | None
    """Our IPv6 address toward IPv6 LMAs (None: IPv4 transport only)."""
    ipv4_proxy_coa: str | None = None
    """Our IPv4 address toward IPv4 LMAs (RFC 5844 §4); None: IPv6 transport only."""
    lma_address: str
    """The LMA, unless a station's profile or realm names another; an IPv4 address means
    signalling over IPv4 / UDP 5436 (RFC 5844 §4)."""
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
    accounting_replay_window: float = 300.0
    """Accounting Starts/Interims sent further than this from our clock are replays (seconds)."""
    profile_ttl: float = 60.0
    """Seconds an Access-Accept's profile (and its prepared downlink) waits for the station."""
    lma_selection: tuple[LmaSelection, ...] = ()
    """The LMA by NAI realm, for stations whose profile names none."""
    reregister_burst: int = 256
    reregister_interval: float = 0.05
    """After an LMA restart, its stations register again this many at a time, this often
    (seconds): 5,120 a second by default, a pace the LMA and the sockets between take without
    loss, where all at once would overflow them and cost every station a retransmission."""
    router_lifetime: int = 1800
    """Router lifetime of our RAs (seconds); a registered station gets a fresh RA every third
    of it (RFC 4861 §6.2.1: AdvDefaultLifetime = 3 x MaxRtrAdvInterval)."""
    quiet_lmas: frozenset[str] = frozenset()
    """LMAs that get no Heartbeat from us, not even the restart announcement (a peer that stops
    reading after a Mobility Header type it does not parse)."""
    home_prefix_lengths: tuple[int, int] = (32, 64)
    """Home Network Prefix lengths a PBA may grant (inclusive); others, and ``::/0``, make the
    PBA a failure: nothing is programmed or advertised."""
    mab_nases: frozenset[str] = frozenset()
    """NASes whose MAC-authentication-bypass (and non-802.1X port type) sessions are served: an
    explicit opt-in per NAS, since anyone who clones such a device's MAC moves its prefix."""
