"""Daemon configuration from TOML, validated at start-up.

Every problem is a :class:`~netlmm_aaa.core.errors.ConfigError` naming the key path and the bad
value, e.g. ``lma.pools.prefix: '2001:db8::/300' is not an IPv6 network``. Unknown keys are errors
too (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netlmm_aaa.core.errors import ConfigError
from netlmm_aaa.core.lma_policy import (
    LmaPolicy,
    MagPeer,
    MobileNodePolicy,
    TunnelMode,
    UnknownMobileNodes,
)
from netlmm_aaa.core.lma_selection import LmaSelection
from netlmm_aaa.dataplane.tunnel_backend import Backend


@dataclass(frozen=True, slots=True, kw_only=True)
class LmaConfig:
    """Everything ``netlmm-aaa lma`` needs."""

    name: str
    address: str
    ipv4_address: str | None
    transport_device: str
    dataplane: str
    backend: Backend = Backend.AUTO
    """The kernel mechanism of ``ip6ip6`` tunnels (``auto``: probe; see ``dataplane probe``)."""
    database: str
    control_socket: str
    metrics_listen: str | None
    policy: LmaPolicy
    aaa: LmaAaa | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LmaAaaNas:
    """A NAS whose accounting (replicated by the AAA server) tells the LMA where nodes are."""

    name: str
    address: str
    secret: bytes
    mag: str
    """The MAG whose access network this NAS serves."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LmaAaa:
    """``[lma.aaa]``: the LMA's accounting listener for the RFC 5213 §11 attachment check."""

    listen: str
    port: int
    nases: tuple[LmaAaaNas, ...]


def _fail(path: str, value: Any, why: str) -> ConfigError:
    return ConfigError(f"{path}: {value!r} {why}")


def _parser(parse: Callable[[str], Any], what: str) -> Callable[[str, Any], str]:
    """A checker for addresses / networks written as strings (``parse`` is an ipaddress type)."""

    def check(path: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _fail(path, value, f"is not {what} (write it as a string)")
        try:
            return str(parse(value))
        except (ValueError, TypeError) as exc:
            raise _fail(path, value, f"is not {what} ({exc})") from None

    return check


_ipv6 = _parser(ipaddress.IPv6Address, "an IPv6 address")
_ipv4 = _parser(ipaddress.IPv4Address, "an IPv4 address")
_ip = _parser(ipaddress.ip_address, "an IP address")
_net6 = _parser(ipaddress.IPv6Network, "an IPv6 network")
_net4 = _parser(ipaddress.IPv4Network, "an IPv4 network")
_net = _parser(ipaddress.ip_network, "an IP network")


def _str(path: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, value, "must be a non-empty string")
    return value


def _listen(path: str, value: Any) -> str:
    from netlmm_aaa.metrics import parse_listen

    text = _str(path, value)
    try:
        host, _port = parse_listen(text)
        if host != "::":
            ipaddress.ip_address(host)
    except ValueError:
        raise _fail(path, value, "must be ADDRESS:PORT, e.g. 127.0.0.1:9813") from None
    return text


def _bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, value, "must be true or false")
    return value


def _number(low: float, high: float) -> Callable[[str, Any], float]:
    def check(path: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(path, value, "must be a number")
        if not low <= value <= high:
            raise _fail(path, value, f"must be between {low:g} and {high:g}")
        return float(value)

    return check


def _integer(low: int, high: int) -> Callable[[str, Any], int]:
    def check(path: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, value, "must be a whole number")
        if not low <= value <= high:
            raise _fail(path, value, f"must be between {low} and {high}")
        return value

    return check


def _choice(*allowed: str) -> Callable[[str, Any], str]:
    def check(path: str, value: Any) -> str:
        if value not in allowed:
            raise _fail(path, value, f"must be one of {', '.join(allowed)}")
        return str(value)

    return check


def _list_of(item: Callable[[str, Any], Any]) -> Callable[[str, Any], list[Any]]:
    def check(path: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _fail(path, value, "must be a list")
        return [item(f"{path}[{i}]", v) for i, v in enumerate(value)]

    return check


_Schema = dict[str, tuple[Callable[[str, Any], Any] | None, Any]]
_REQUIRED = object()


def _section(path: str, raw: Any, schema: _Schema) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail(path, raw, "must be a table")
    unknown = sorted(set(raw) - set(schema))
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}: unknown key (known: {', '.join(sorted(schema))})")
    out: dict[str, Any] = {}
    for key, (check, default) in schema.items():
        if check is None:
            continue  # a sub-table, validated by its own schema
        if key in raw:
            out[key] = check(f"{path}.{key}", raw[key])
        elif default is _REQUIRED:
            raise ConfigError(f"{path}.{key}: missing (required)")
        else:
            out[key] = default
    return out


_LMA: _Schema = {
    "name": (_str, "lma"),
    "address": (_ipv6, _REQUIRED),
    "ipv4_address": (_ipv4, None),
    "transport_device": (_str, _REQUIRED),
    "tunnel_mode": (_choice("ip6ip6", "gre", "routing"), "ip6ip6"),
    "backend": (_choice(*(b.value for b in Backend)), "auto"),
    "dataplane": (_choice("linux", "none"), "linux"),
    "database": (_str, "sqlite:///netlmm-lma.db"),
    "control_socket": (_str, "/run/netlmm-aaa/lma.sock"),
    "metrics_listen": (_listen, None),
    "pools": (None, None),
    "timers": (None, None),
    "policy": (None, None),
    "mag": (None, None),
    "mobile_node": (None, None),
    "aaa": (None, None),
}
_LMA_AAA: _Schema = {
    "listen": (_ip, "127.0.0.1"),
    "port": (_integer(1, 65535), 1813),
    "wait": (_number(0, 10), 1.0),
    "nas": (None, None),
}
_LMA_AAA_NAS: _Schema = {
    "name": (_str, _REQUIRED),
    "address": (_ip, _REQUIRED),
    "secret": (_str, _REQUIRED),
    "mag": (_str, _REQUIRED),
}
_POOLS: _Schema = {
    "prefix": (_net6, "2001:db8:1000::/40"),
    "prefix_length": (_integer(1, 128), 64),
    "ipv4": (_net4, None),
    "ipv4_prefix_length": (_integer(0, 32), 24),
    "ipv4_default_router": (_ipv4, None),
}
_TIMERS: _Schema = {
    "max_lifetime": (_integer(4, 0xFFFF * 4), 3600),
    "min_delay_before_bce_delete": (_number(0, 3600), 10.0),
    "max_delay_before_new_bce_assign": (_number(0, 60), 1.5),
    "timestamp_validity_window": (_number(0.001, 3600), 0.3),
    "heartbeat_interval": (_number(0, 3600), 60.0),
    "missing_heartbeats_allowed": (_integer(1, 100), 3),
    "bri_retransmit_delay": (_number(0.5, 60), 1.0),
    "bri_max_retries": (_integer(0, 10), 1),
}
_POLICY: _Schema = {
    "unknown_mobile_nodes": (_choice("allocate", "reject"), "allocate"),
    "require_timestamp": (_bool, False),
    "mobile_node_generated_timestamp": (_bool, False),
    "accept_forced_udp_encapsulation": (_bool, False),
    "revoke_old_mag_on_handover": (_bool, True),
    "release_bindings_on_peer_restart": (_bool, True),
}
_MAG: _Schema = {
    "name": (_str, _REQUIRED),
    "addresses": (_list_of(_ip), _REQUIRED),
    "tunnel_address": (_ipv6, None),
    "allowed_prefixes": (_list_of(_net), []),
}
_MOBILE_NODE: _Schema = {
    "mn_id": (_str, _REQUIRED),
    "home_network_prefix": (_net6, None),
    "ipv4_home_address": (_ipv4, None),
    "proxy_mobility": (_bool, True),
    "ipv4_service": (_bool, True),
    "ipv6_service": (_bool, True),
    "allowed_mags": (_list_of(_str), None),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class NasConfig:
    """A NAS sending accounting to the MAG, and the access interface its stations are on."""

    name: str
    address: str
    secret: bytes
    interface: str
    identifier: str | None = None
    """The NAS-Identifier it must send (when set)."""
    ip_address: str | None = None
    """The NAS-IP-Address it must send (when set)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountingUpstream:
    """Where accepted accounting is forwarded (e.g. the billing RADIUS server)."""

    address: str
    port: int
    secret: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class RadiusRelay:
    """The MAG relays RADIUS authentication between its NASes (hostapd's ``auth_server_addr``
    points here) and the AAA server, to read the RFC 6572 profile of each Access-Accept."""

    listen: str
    port: int
    server: str
    server_port: int
    server_secret: bytes
    profile_ttl: int
    """Seconds a profile waits for its station's attachment."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HostapdConfig:
    """A hostapd whose control interface the MAG watches."""

    control: str
    interface: str
    events: str = "attach"
    """``attach``: the MAG ATTACHes to the control interface for events; ``hook``: events come
    from hostapd_hooks/netlmm-hostapd-action through the MAG's hook socket (either way the MAG
    confirms every station with ``STA <mac>`` on the control interface)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MagConfig:
    """Everything ``netlmm-aaa mag`` needs."""

    name: str
    proxy_coa: str
    lma_address: str
    transport_device: str
    tunnel_mode: TunnelMode
    backend: Backend = Backend.AUTO
    """The kernel mechanism of ``ip6ip6`` tunnels (``auto``: probe; see ``dataplane probe``)."""
    access_interfaces: tuple[str, ...]
    ipv4_router: str | None
    ipv4: bool
    mtu: int | None
    access_technology: int
    lifetime: int
    database: str
    accounting_listen: str
    accounting_replay_window: int = 300
    """Seconds an accounting Start/Interim may be away from our clock (replay defence)."""
    ingress_filter: bool = True
    """Drop access-link packets not sourced from the sender's own registered addresses."""
    dhcpv4: bool = True
    """Serve DHCPv4 on the access interfaces (with ``ipv4_router`` as the server address)."""
    dhcpv4_lease_time: int = 3600
    dhcpv4_dns: tuple[str, ...] = ()
    accounting_port: int
    metrics_listen: str | None
    hook_socket: str | None
    lma_selection: tuple[LmaSelection, ...]
    accounting_upstream: AccountingUpstream | None
    radius_relay: RadiusRelay | None = None
    nases: tuple[NasConfig, ...]
    hostapd: tuple[HostapdConfig, ...]


_MAG_SECTION: _Schema = {
    "name": (_str, "mag"),
    "proxy_coa": (_ipv6, _REQUIRED),
    "lma_address": (_ipv6, _REQUIRED),
    "transport_device": (_str, _REQUIRED),
    "tunnel_mode": (_choice("ip6ip6", "gre", "routing"), "ip6ip6"),
    "backend": (_choice(*(b.value for b in Backend)), "auto"),
    "access_interfaces": (_list_of(_str), _REQUIRED),
    "ipv4_router": (_ipv4, None),
    "ipv4": (_bool, True),
    "mtu": (_integer(1280, 9000), None),
    "access_technology": (_integer(0, 255), 4),
    "lifetime": (_integer(4, 0xFFFF * 4), 3600),
    "database": (_str, "sqlite:///netlmm-mag.db"),
    "accounting_listen": (_ip, "127.0.0.1"),
    "accounting_replay_window": (_integer(1, 86400), 300),
    "ingress_filter": (_bool, True),
    "dhcpv4": (_bool, True),
    "dhcpv4_lease_time": (_integer(60, 7 * 86400), 3600),
    "dhcpv4_dns": (_list_of(_ipv4), []),
    "accounting_port": (_integer(1, 65535), 1813),
    "metrics_listen": (_listen, None),
    "hook_socket": (_str, None),
    "lma_selection": (None, None),
    "accounting_upstream": (None, None),
    "radius_relay": (None, None),
    "nas": (None, None),
    "hostapd": (None, None),
}
_NAS: _Schema = {
    "name": (_str, _REQUIRED),
    "address": (_ip, _REQUIRED),
    "secret": (_str, _REQUIRED),
    "interface": (_str, _REQUIRED),
    "identifier": (_str, None),
    "ip_address": (_ip, None),
}
_RELAY: _Schema = {
    "listen": (_ip, None),  # default: accounting_listen
    "port": (_integer(1, 65535), 1812),
    "server": (_ip, _REQUIRED),
    "server_port": (_integer(1, 65535), 1812),
    "server_secret": (_str, _REQUIRED),
    "profile_ttl": (_integer(1, 3600), 60),
}
_UPSTREAM: _Schema = {
    "address": (_ip, _REQUIRED),
    "port": (_integer(1, 65535), 1813),
    "secret": (_str, _REQUIRED),
}
_LMA_SELECTION: _Schema = {"realm": (_str, _REQUIRED), "lma_address": (_ipv6, _REQUIRED)}
_HOSTAPD: _Schema = {
    "control": (_str, _REQUIRED),
    "interface": (_str, _REQUIRED),
    "events": (_choice("attach", "hook"), "attach"),
}


def parse_mag_config(document: dict[str, Any]) -> MagConfig:
    """Validate a parsed TOML document and build the MAG configuration."""
    top = set(document) - {"mag"}
    if top:
        raise ConfigError(f"{sorted(top)[0]}: unknown top-level table (expected [mag])")
    if "mag" not in document:
        raise ConfigError("mag: missing ([mag] table required)")
    mag = _section("mag", document["mag"], _MAG_SECTION)
    raw = document["mag"]
    nases: list[NasConfig] = []
    for i, item in enumerate(_array("mag.nas", raw.get("nas"))):
        nas = _section(f"mag.nas[{i}]", item, _NAS)
        if nas["interface"] not in mag["access_interfaces"]:
            raise _fail(f"mag.nas[{i}].interface", nas["interface"], "is not an access interface")
        source = ipaddress.ip_address(nas["address"])
        if source.is_unspecified or source.is_multicast:
            why = "is a catch-all or multicast address: name each NAS's own source"
            raise _fail(f"mag.nas[{i}].address", nas["address"], why)
        if any(n.address == nas["address"] for n in nases):
            raise _fail(f"mag.nas[{i}].address", nas["address"], "is already another NAS's")
        nases.append(
            NasConfig(
                name=nas["name"],
                address=nas["address"],
                secret=nas["secret"].encode(),
                interface=nas["interface"],
                identifier=nas["identifier"],
                ip_address=nas["ip_address"],
            )
        )
    hostapds = []
    for i, item in enumerate(_array("mag.hostapd", raw.get("hostapd"))):
        h = _section(f"mag.hostapd[{i}]", item, _HOSTAPD)
        if h["interface"] not in mag["access_interfaces"]:
            raise _fail(f"mag.hostapd[{i}].interface", h["interface"], "is not an access interface")
        hostapds.append(
            HostapdConfig(control=h["control"], interface=h["interface"], events=h["events"])
        )
        if h["events"] == "hook" and mag["hook_socket"] is None:
            raise _fail(f"mag.hostapd[{i}].events", "hook", "needs mag.hook_socket")
    selections = []
    for i, item in enumerate(_array("mag.lma_selection", raw.get("lma_selection"))):
        sel = _section(f"mag.lma_selection[{i}]", item, _LMA_SELECTION)
        realm = sel["realm"].strip().lower().lstrip("@")
        if not realm or "@" in realm:
            raise _fail(f"mag.lma_selection[{i}].realm", sel["realm"], "must be a realm")
        selections.append(LmaSelection(realm=realm, lma_address=sel["lma_address"]))
    upstream = None
    if raw.get("accounting_upstream") is not None:
        up = _section("mag.accounting_upstream", raw["accounting_upstream"], _UPSTREAM)
        upstream = AccountingUpstream(
            address=up["address"], port=up["port"], secret=up["secret"].encode()
        )
    if not nases and not hostapds:
        raise ConfigError("mag: no [[mag.nas]] and no [[mag.hostapd]]: nothing reports stations")
    relay = None
    if raw.get("radius_relay") is not None:
        r = _section("mag.radius_relay", raw["radius_relay"], _RELAY)
        if not nases:
            raise ConfigError("mag.radius_relay: no [[mag.nas]] (their secrets sign the relay)")
        relay = RadiusRelay(
            listen=r["listen"] or mag["accounting_listen"], port=r["port"], server=r["server"],
            server_port=r["server_port"], server_secret=r["server_secret"].encode(),
            profile_ttl=r["profile_ttl"],
        )  # fmt: skip
        if (relay.listen, relay.port) == (mag["accounting_listen"], mag["accounting_port"]):
            raise _fail("mag.radius_relay.port", relay.port, "is the accounting listener's port")
    return MagConfig(
        name=mag["name"],
        proxy_coa=mag["proxy_coa"],
        lma_address=mag["lma_address"],
        transport_device=mag["transport_device"],
        tunnel_mode=TunnelMode(mag["tunnel_mode"]),
        backend=Backend(mag["backend"]),
        access_interfaces=tuple(mag["access_interfaces"]),
        ipv4_router=mag["ipv4_router"],
        ipv4=mag["ipv4"],
        mtu=mag["mtu"],
        access_technology=mag["access_technology"],
        lifetime=mag["lifetime"],
        database=mag["database"],
        accounting_listen=mag["accounting_listen"],
        accounting_replay_window=mag["accounting_replay_window"],
        ingress_filter=mag["ingress_filter"],
        dhcpv4=mag["dhcpv4"],
        dhcpv4_lease_time=mag["dhcpv4_lease_time"],
        dhcpv4_dns=tuple(mag["dhcpv4_dns"]),
        accounting_port=mag["accounting_port"],
        metrics_listen=mag["metrics_listen"],
        hook_socket=mag["hook_socket"],
        lma_selection=tuple(selections),
        accounting_upstream=upstream,
        radius_relay=relay,
        nases=tuple(nases),
        hostapd=tuple(hostapds),
    )


def load_mag_config(path: str | Path) -> MagConfig:
    """Read and validate a MAG configuration file."""
    try:
        with open(path, "rb") as stream:
            document = tomllib.load(stream)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_mag_config(document)


def _array(path: str, raw: Any) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _fail(path, raw, "must be an array of tables ([[...]])")
    return raw


def parse_lma_config(document: dict[str, Any]) -> LmaConfig:
    """Validate a parsed TOML document and build the LMA configuration."""
    top = set(document) - {"lma"}
    if top:
        raise ConfigError(f"{sorted(top)[0]}: unknown top-level table (expected [lma])")
    if "lma" not in document:
        raise ConfigError("lma: missing ([lma] table required)")
    lma = _section("lma", document["lma"], _LMA)
    raw = document["lma"]
    pools = _section("lma.pools", raw.get("pools"), _POOLS)
    timers = _section("lma.timers", raw.get("timers"), _TIMERS)
    policy = _section("lma.policy", raw.get("policy"), _POLICY)
    peers: list[MagPeer] = []
    seen_addresses: dict[str, str] = {}
    for i, item in enumerate(_array("lma.mag", raw.get("mag"))):
        path = f"lma.mag[{i}]"
        mag = _section(path, item, _MAG)
        v6 = [a for a in mag["addresses"] if ":" in a]
        tunnel = mag["tunnel_address"] or (v6[0] if v6 else None)
        if tunnel is None:
            raise ConfigError(f"{path}.tunnel_address: missing (no IPv6 address to tunnel to)")
        for address in mag["addresses"]:
            if address in seen_addresses:
                raise _fail(f"{path}.addresses", address, f"is also MAG {seen_addresses[address]}")
            seen_addresses[address] = mag["name"]
        if any(p.name == mag["name"] for p in peers):
            raise _fail(f"{path}.name", mag["name"], "is used by another MAG")
        peers.append(
            MagPeer(
                name=mag["name"],
                addresses=frozenset(mag["addresses"]),
                tunnel_address=tunnel,
                allowed_prefixes=tuple(mag["allowed_prefixes"]),
            )
        )
    if not peers:
        raise ConfigError("lma.mag: no MAG configured (add [[lma.mag]] tables)")
    nodes: list[MobileNodePolicy] = []
    owners: dict[str, str] = {}
    for i, item in enumerate(_array("lma.mobile_node", raw.get("mobile_node"))):
        path = f"lma.mobile_node[{i}]"
        node = _section(path, item, _MOBILE_NODE)
        for key in ("home_network_prefix", "ipv4_home_address"):
            block = node[key]
            if block is None:
                continue
            if block in owners:
                raise _fail(f"{path}.{key}", block, f"is already {owners[block]}'s")
            owners[block] = node["mn_id"]
        if node["allowed_mags"] is not None:
            unknown = set(node["allowed_mags"]) - {p.name for p in peers}
            if unknown:
                raise _fail(f"{path}.allowed_mags", sorted(unknown)[0], "is not a configured MAG")
        nodes.append(
            MobileNodePolicy(
                mn_id=node["mn_id"].encode("utf-8"),
                home_network_prefix=node["home_network_prefix"],
                ipv4_home_address=node["ipv4_home_address"],
                proxy_mobility=node["proxy_mobility"],
                ipv4_service=node["ipv4_service"],
                ipv6_service=node["ipv6_service"],
                allowed_mags=(
                    frozenset(node["allowed_mags"]) if node["allowed_mags"] is not None else None
                ),
            )
        )
    prefix_bits = int(pools["prefix"].split("/")[1])
    if pools["prefix_length"] < prefix_bits:
        raise _fail(
            "lma.pools.prefix_length",
            pools["prefix_length"],
            f"is shorter than the pool {pools['prefix']}",
        )
    router, pool4 = pools["ipv4_default_router"], pools["ipv4"]
    if router and pool4 and ipaddress.IPv4Address(router) not in ipaddress.IPv4Network(pool4):
        raise _fail("lma.pools.ipv4_default_router", pools["ipv4_default_router"],
                        f"is not inside {pools['ipv4']}")  # fmt: skip
    aaa: LmaAaa | None = None
    aaa_wait = 1.0
    if raw.get("aaa") is not None:
        section = _section("lma.aaa", raw["aaa"], _LMA_AAA)
        aaa_nases: list[LmaAaaNas] = []
        for i, item in enumerate(_array("lma.aaa.nas", raw["aaa"].get("nas"))):
            nas = _section(f"lma.aaa.nas[{i}]", item, _LMA_AAA_NAS)
            if nas["mag"] not in {p.name for p in peers}:
                raise _fail(f"lma.aaa.nas[{i}].mag", nas["mag"], "is not a configured MAG")
            source = ipaddress.ip_address(nas["address"])
            if source.is_unspecified or source.is_multicast:
                raise _fail(f"lma.aaa.nas[{i}].address", nas["address"],
                            "is a catch-all or multicast address")  # fmt: skip
            aaa_nases.append(LmaAaaNas(name=nas["name"], address=nas["address"],
                                       secret=nas["secret"].encode(), mag=nas["mag"]))  # fmt: skip
        if not aaa_nases:
            raise ConfigError("lma.aaa.nas: no NAS configured (the check would refuse everyone)")
        aaa = LmaAaa(listen=section["listen"], port=section["port"], nases=tuple(aaa_nases))
        aaa_wait = float(section["wait"])
    lma_policy = LmaPolicy(
        aaa_attachment_check=aaa is not None,
        aaa_attachment_wait=aaa_wait,
        peers=tuple(peers),
        mobile_nodes=tuple(nodes),
        unknown_mobile_nodes=UnknownMobileNodes(policy["unknown_mobile_nodes"]),
        prefix_pool=pools["prefix"],
        prefix_length=pools["prefix_length"],
        ipv4_pool=pools["ipv4"],
        ipv4_prefix_length=pools["ipv4_prefix_length"],
        ipv4_default_router=pools["ipv4_default_router"],
        tunnel_mode=TunnelMode(lma["tunnel_mode"]),
        max_lifetime=int(timers["max_lifetime"]),
        min_delay_before_bce_delete=timers["min_delay_before_bce_delete"],
        max_delay_before_new_bce_assign=timers["max_delay_before_new_bce_assign"],
        timestamp_validity_window=timers["timestamp_validity_window"],
        mobile_node_generated_timestamp=policy["mobile_node_generated_timestamp"],
        require_timestamp=policy["require_timestamp"],
        accept_forced_udp_encapsulation=policy["accept_forced_udp_encapsulation"],
        revoke_old_mag_on_handover=policy["revoke_old_mag_on_handover"],
        heartbeat_interval=timers["heartbeat_interval"],
        missing_heartbeats_allowed=int(timers["missing_heartbeats_allowed"]),
        release_bindings_on_peer_restart=policy["release_bindings_on_peer_restart"],
        bri_retransmit_delay=timers["bri_retransmit_delay"],
        bri_max_retries=int(timers["bri_max_retries"]),
    )
    return LmaConfig(
        name=lma["name"],
        address=lma["address"],
        ipv4_address=lma["ipv4_address"],
        transport_device=lma["transport_device"],
        dataplane=lma["dataplane"],
        backend=Backend(lma["backend"]),
        database=lma["database"],
        control_socket=lma["control_socket"],
        metrics_listen=lma["metrics_listen"],
        policy=lma_policy,
        aaa=aaa,
    )


def load_lma_config(path: str | Path) -> LmaConfig:
    """Read and validate an LMA configuration file."""
    try:
        with open(path, "rb") as stream:
            document = tomllib.load(stream)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_lma_config(document)
