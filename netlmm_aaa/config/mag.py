"""``netlmm-aaa mag``'s configuration: the ``[mag]`` table and its arrays of tables."""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from netlmm_aaa.config import schema as check
from netlmm_aaa.config.schema import (
    Problems,
    TableDoc,
    fail,
    read_document,
    read_settings,
    read_table,
    setting,
    top_table,
)
from netlmm_aaa.core.errors import ConfigError
from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.core.lma_selection import LmaSelection
from netlmm_aaa.core.mag_policy import MagPolicy
from netlmm_aaa.dataplane.tunnel_backend import Backend

_PORT = check.integer(1, 65535)


@dataclass(frozen=True, slots=True, kw_only=True)
class NasConfig:
    """``[[mag.nas]]``: a NAS sending accounting to the MAG, and the access interface its
    stations are on."""

    name: str = setting(check.text)
    """The NAS's name in the audit trail and metrics."""
    address: str = setting(check.ip)
    """The source address of its Accounting-Requests (no catch-all: one table per NAS)."""
    secret: bytes = setting(check.secret)
    """The RADIUS shared secret of its accounting (and of the authentication relay)."""
    interface: str = setting(check.text)
    """The access interface (one of ``access_interfaces``) its stations are on."""
    identifier: str | None = setting(check.text, None)
    """The NAS-Identifier it must send (when set)."""
    ip_address: str | None = setting(check.ip, None)
    """The NAS-IP-Address it must send (when set)."""
    rate_limit: int = setting(check.integer(10, 1_000_000), 5000)
    """Accounting datagrams per second decoded from this NAS (burst twice that); beyond, they
    are dropped and counted (``rate_limited``), and the NAS retransmits."""
    disconnect_port: int | None = setting(_PORT, None)
    """Its RFC 5176 Dynamic Authorization port (usually 3799): a station of this NAS whose
    binding the LMA revoked (or an operator, ``lma revoke``) is disconnected there with a
    Disconnect-Request signed with ``secret``. Unset: such a station stays connected at the
    NAS (audited as ``disconnect_requested`` with result ``not_configured``). Stations of a
    ``[[mag.hostapd]]`` are deauthenticated through its control interface instead."""
    allow_mab: bool = setting(check.boolean, False)
    """Serve its MAC-authentication-bypass sessions (User-Name = the MAC, Service-Type
    Call-Check), non-802.1X port types and non-EAP Wi-Fi key management (PSK, SAE, OWE) too.
    Off by default: such a session proves only a MAC or a shared key, and anyone who clones the
    MAC moves that device's prefix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountingUpstream:
    """``[mag.accounting_upstream]``: where accepted accounting is forwarded (e.g. the billing
    RADIUS server)."""

    address: str = setting(check.ip)
    """The upstream accounting server."""
    port: int = setting(_PORT, 1813)
    """Its accounting port."""
    secret: bytes = setting(check.secret)
    """The shared secret toward it (the MAG signs the forwarded requests anew)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RadiusRelay:
    """``[mag.radius_relay]``: the MAG relays RADIUS authentication between its NASes (hostapd's
    ``auth_server_addr`` points here) and the AAA server, to read the RFC 6572 profile of each
    Access-Accept."""

    listen: str = setting(check.ip, "")
    """Empty: the accounting listener's address."""
    port: int = setting(_PORT, 1812)
    """The relay's authentication port (not the accounting listener's)."""
    server: str = setting(check.ip)
    """The AAA server the Access-Requests go on to."""
    server_port: int = setting(_PORT, 1812)
    """Its authentication port."""
    server_secret: bytes = setting(check.secret)
    """The shared secret between the relay and the AAA server."""
    profile_ttl: int = setting(check.integer(1, 3600), 60)
    """Seconds a profile waits for its station's attachment."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HostapdConfig:
    """``[[mag.hostapd]]``: a hostapd whose control interface the MAG watches."""

    control: str = setting(check.text)
    """hostapd's control socket for the interface (``ctrl_interface``/``<ifname>``)."""
    interface: str = setting(check.text)
    """The access interface (one of ``access_interfaces``) hostapd serves."""
    events: str = setting(check.choice("attach", "hook"), "attach")
    """``attach``: the MAG ATTACHes to the control interface for events; ``hook``: events come
    from hostapd_hooks/netlmm-hostapd-action through the MAG's hook socket (either way the MAG
    confirms every station with ``STA <mac>`` on the control interface)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _LmaSelectionTable:
    """``[[mag.lma_selection]]``: the LMA of one NAI realm's stations (RFC 6572 Home-LMA by
    realm), for stations whose RADIUS profile names none."""

    realm: str = setting(check.text)
    """The realm, e.g. ``guest.example`` (``@`` and case ignored)."""
    lma_address: str = setting(check.ip)
    """Its LMA (IPv6, or IPv4 with ``ipv4_proxy_coa`` set)."""
    heartbeats: bool = setting(check.boolean, True)
    """Our restart announcement (RFC 5847) to this LMA; off for a peer that cannot parse it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MagConfig:
    """``[mag]``: the MAG itself: its addresses, LMA, access link, store and listeners;
    everything ``netlmm-aaa mag`` needs."""

    name: str = setting(check.text, "mag")
    proxy_coa: str | None = setting(check.ipv6, None)
    """Our IPv6 address toward IPv6 LMAs (signalling source, tunnel end)."""
    ipv4_proxy_coa: str | None = setting(check.ipv4, None)
    """Our IPv4 address toward IPv4 LMAs (RFC 5844 §4: signalling over UDP port 5436, tunnels
    with an IPv4 outer header; the ``ebpf`` backend carries them)."""
    lma_address: str = setting(check.ip)
    """The LMA (IPv6, or IPv4 for an IPv4 transport network)."""
    lma_heartbeats: bool = setting(check.boolean, True)
    """Our restart announcement (RFC 5847 Heartbeat) to ``lma_address``; off for a peer that
    stops reading after a Mobility Header type it does not parse."""
    transport_device: str = setting(check.text)
    """The interface toward the LMAs (tunnels and signalling leave through it)."""
    tunnel_mode: TunnelMode = setting(check.one_of(TunnelMode), TunnelMode.IP6IP6)
    """MAG-LMA forwarding: IPv6/IPv4-in-IPv6 tunnels, GRE with per-station keys (RFC 5845),
    or plain routes; the LMA's ``tunnel_mode`` must be the same."""
    backend: Backend = setting(check.one_of(Backend), Backend.AUTO)
    """The kernel mechanism of ``ip6ip6`` tunnels (``auto``: probe; see ``dataplane probe``)."""
    access_interfaces: tuple[str, ...] = setting(check.list_of(check.text))
    """The interfaces of the access links the stations are on (RAs, DHCPv4, routes)."""
    ipv4_router: str | None = setting(check.ipv4, None)
    """The IPv4 default router address every MAG presents on its access links (the same on
    all of them, as the LMA's ``pools.ipv4_default_router``); also the DHCPv4 server's."""
    ipv4: bool = setting(check.boolean, True)
    mtu: int | None = setting(check.integer(1280, 9000), None)
    """The link MTU advertised in the RAs (room for the tunnel header); unset: none."""
    router_lifetime: int = setting(check.integer(4, 9000), 1800)
    """Router lifetime of the RAs (seconds); each registered station gets a fresh RA every
    third of it, and at once when it sends a Router Solicitation."""
    ra_dns: tuple[str, ...] = setting(check.list_of(check.ipv6), ())
    """Recursive DNS servers advertised in the RAs (RFC 8106 RDNSS)."""
    ra_search: tuple[str, ...] = setting(check.list_of(check.text), ())
    """DNS search domains advertised in the RAs (RFC 8106 DNSSL)."""
    access_technology: int = setting(check.integer(0, 255), 4)
    lifetime: int = setting(check.integer(4, 0xFFFF * 4), 3600)
    home_prefix_lengths: tuple[int, int] = setting(check.bounds(check.integer(1, 128)), (32, 64))
    """Home Network Prefix lengths a PBA may grant; ``::/0`` and lengths outside make the PBA a
    failure (nothing programmed or advertised)."""
    database: str = setting(check.text, "sqlite:///netlmm-mag.db")
    """The audit store's SQLAlchemy URL (SQLite file or ``postgresql+psycopg://...``)."""
    retention: timedelta | None = setting(check.age, None)
    """How long the store keeps raw rows (``90d``); older ones are deleted every hour, the
    report rollups stay. Unset: kept until ``netlmm-aaa db prune``."""
    accounting_listen: str = setting(check.ip, "127.0.0.1")
    """The address the NASes send RADIUS accounting to."""
    accounting_port: int = setting(_PORT, 1813)
    """The accounting listener's port."""
    accounting_replay_window: int = setting(check.integer(1, 86400), 300)
    """Seconds an accounting Start/Interim may be away from our clock (replay defence)."""
    ingress_filter: bool = setting(check.boolean, True)
    """Drop access-link packets not sourced from the sender's own registered addresses, and
    lead what passes into the tunnel by packet mark (false: by a source rule per station, which
    costs the kernel more the more stations are registered)."""
    dhcpv4: bool = setting(check.boolean, True)
    """Serve DHCPv4 on the access interfaces (with ``ipv4_router`` as the server address)."""
    dhcpv4_lease_time: int = setting(check.integer(60, 7 * 86400), 3600)
    """Seconds of a DHCPv4 lease (the address itself stays the node's while it is bound)."""
    dhcpv4_dns: tuple[str, ...] = setting(check.list_of(check.ipv4), ())
    """DNS servers offered by DHCPv4."""
    metrics_listen: str | None = setting(check.listen, None)
    """Where Prometheus scrapes ``/metrics`` (and ``/ready``); unset: no listener."""
    hook_socket: str | None = setting(check.text, None)
    """The Unix socket hostapd_hooks/netlmm-hostapd-action writes station events to (for
    ``[[mag.hostapd]]`` tables with ``events = "hook"``)."""
    lma_selection: tuple[LmaSelection, ...] = ()
    quiet_lmas: frozenset[str] = frozenset()
    """LMAs that get no Heartbeat from us (``heartbeats = false``)."""
    accounting_upstream: AccountingUpstream | None = None
    radius_relay: RadiusRelay | None = None
    nases: tuple[NasConfig, ...] = ()
    hostapd: tuple[HostapdConfig, ...] = ()


_SUB_TABLES = ("lma_selection", "accounting_upstream", "radius_relay", "nas", "hostapd")


def parse_mag_config(document: dict[str, Any]) -> MagConfig:
    """Validate a parsed TOML document and build the MAG configuration; every problem found
    in one pass (:class:`~netlmm_aaa.config.schema.ConfigProblems` when there are several)."""
    raw = top_table(document, "mag")
    problems = Problems()
    mag: dict[str, Any] | None = None
    with problems.collect():
        mag = read_settings("mag", raw, MagConfig, tables=_SUB_TABLES)
    access = mag["access_interfaces"] if mag is not None else None
    nases: list[NasConfig] = []
    for i, item in enumerate(problems.array("mag.nas", raw)):
        with problems.collect():
            nas = read_table(f"mag.nas[{i}]", item, NasConfig)
            if access is not None and nas.interface not in access:
                raise fail(f"mag.nas[{i}].interface", nas.interface, "is not an access interface")
            source = ipaddress.ip_address(nas.address)
            if source.is_unspecified or source.is_multicast:
                why = "is a catch-all or multicast address: name each NAS's own source"
                raise fail(f"mag.nas[{i}].address", nas.address, why)
            if any(n.address == nas.address for n in nases):
                raise fail(f"mag.nas[{i}].address", nas.address, "is already another NAS's")
            nases.append(nas)
    hostapds: list[HostapdConfig] = []
    for i, item in enumerate(problems.array("mag.hostapd", raw)):
        with problems.collect():
            hostapd = read_table(f"mag.hostapd[{i}]", item, HostapdConfig)
            if access is not None and hostapd.interface not in access:
                why = "is not an access interface"
                raise fail(f"mag.hostapd[{i}].interface", hostapd.interface, why)
            if hostapd.events == "hook" and mag is not None and mag["hook_socket"] is None:
                raise fail(f"mag.hostapd[{i}].events", "hook", "needs mag.hook_socket")
            hostapds.append(hostapd)
    if not raw.get("nas") and not raw.get("hostapd"):
        with problems.collect():
            raise ConfigError(
                "mag: no [[mag.nas]] and no [[mag.hostapd]]: nothing reports stations"
            )
    selections = []
    quiet: set[str] = set()
    if mag is not None and not mag["lma_heartbeats"]:
        quiet.add(mag["lma_address"])
    for i, item in enumerate(problems.array("mag.lma_selection", raw)):
        with problems.collect():
            selection = read_table(f"mag.lma_selection[{i}]", item, _LmaSelectionTable)
            realm = selection.realm.strip().lower().lstrip("@")
            if not realm or "@" in realm:
                raise fail(f"mag.lma_selection[{i}].realm", selection.realm, "must be a realm")
            selections.append(LmaSelection(realm=realm, lma_address=selection.lma_address))
            if not selection.heartbeats:
                quiet.add(selection.lma_address)
    if mag is not None:
        for lma in sorted({mag["lma_address"], *(s.lma_address for s in selections)}):
            own, family = ("proxy_coa", "IPv6") if ":" in lma else ("ipv4_proxy_coa", "IPv4")
            if mag[own] is None:
                with problems.collect():
                    raise ConfigError(
                        f"mag.{own}: missing, but LMA {lma} is {family}: our {family} address "
                        "is the signalling source and tunnel end toward it"
                    )
    upstream = None
    if raw.get("accounting_upstream") is not None:
        with problems.collect():
            upstream = read_table(
                "mag.accounting_upstream", raw["accounting_upstream"], AccountingUpstream
            )
    relay = None
    if raw.get("radius_relay") is not None:
        with problems.collect():
            relay = read_table("mag.radius_relay", raw["radius_relay"], RadiusRelay)
            if not raw.get("nas"):
                raise ConfigError("mag.radius_relay: no [[mag.nas]] (their secrets sign the relay)")
            if mag is not None:
                if not relay.listen:
                    relay = dataclasses.replace(relay, listen=mag["accounting_listen"])
                if (relay.listen, relay.port) == (mag["accounting_listen"], mag["accounting_port"]):
                    why = "is the accounting listener's port"
                    raise fail("mag.radius_relay.port", relay.port, why)
    problems.raise_any()
    assert mag is not None  # else a problem was raised
    return MagConfig(
        **mag,
        lma_selection=tuple(selections),
        quiet_lmas=frozenset(quiet),
        accounting_upstream=upstream,
        radius_relay=relay,
        nases=tuple(nases),
        hostapd=tuple(hostapds),
    )


def load_mag_config(path: str | Path) -> MagConfig:
    """Read and validate a MAG configuration file."""
    return parse_mag_config(read_document(path))


TABLES = (
    TableDoc("mag", MagConfig, meanings_from=(MagPolicy,)),
    TableDoc("mag.nas", NasConfig, array=True),
    TableDoc("mag.hostapd", HostapdConfig, array=True),
    TableDoc("mag.lma_selection", _LmaSelectionTable, array=True),
    TableDoc("mag.accounting_upstream", AccountingUpstream),
    TableDoc("mag.radius_relay", RadiusRelay),
)
"""The file's tables, in the configuration reference's order."""
