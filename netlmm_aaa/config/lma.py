"""``netlmm-aaa lma``'s configuration: the ``[lma]`` table, its pools, timers, policy switches,
MAG peers, mobile node profiles and the AAA attachment check."""

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
from netlmm_aaa.core.lma_policy import (
    LmaPolicy,
    MagPeer,
    MobileNodePolicy,
    TunnelMode,
    UnknownMobileNodes,
)
from netlmm_aaa.dataplane.tunnel_backend import Backend


@dataclass(frozen=True, slots=True, kw_only=True)
class LmaAaaNas:
    """``[[lma.aaa.nas]]``: a NAS whose accounting (replicated by the AAA server) tells the LMA
    where nodes are."""

    name: str = setting(check.text)
    """The NAS's name in the audit trail."""
    address: str = setting(check.ip)
    """The source address of the accounting it (or the AAA server replicating it) sends."""
    secret: bytes = setting(check.secret)
    """The RADIUS shared secret of that accounting."""
    mag: str = setting(check.text)
    """The MAG whose access network this NAS serves."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LmaAaa:
    """``[lma.aaa]``: the LMA's accounting listener for the RFC 5213 §11 attachment check."""

    listen: str = setting(check.ip, "127.0.0.1")
    """The accounting listener's address."""
    port: int = setting(check.integer(1, 65535), 1813)
    """Its port."""
    wait: float = setting(check.number(0, 10), 1.0)
    """Seconds a PBU waits for the accounting record that places its node at its MAG."""
    nases: tuple[LmaAaaNas, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LmaConfig:
    """``[lma]``: the LMA itself: its addresses, data plane, store and control socket;
    everything ``netlmm-aaa lma`` needs."""

    name: str = setting(check.text, "lma")
    """This LMA's name (audit trail, metrics)."""
    address: str | None = setting(check.ipv6, None)
    """The LMAA: our IPv6 address for MAGs that signal over IPv6 (and the tunnels' end)."""
    ipv4_address: str | None = setting(check.ipv4, None)
    """The IPv4-LMAA (RFC 5844 §4): UDP port 5436 signalling and IPv4 tunnels, for MAGs
    that have IPv4 addresses."""
    transport_device: str = setting(check.text)
    """The interface toward the MAGs (tunnels and signalling)."""
    tunnel_mode: TunnelMode = setting(check.one_of(TunnelMode), TunnelMode.IP6IP6)
    """LMA-MAG forwarding (RFC 4831 goal 11): IPv6/IPv4-in-IPv6 tunnels, GRE with
    per-binding keys (RFC 5845), or plain routes toward the MAG (the transport must route
    home prefixes); the MAGs' ``tunnel_mode`` must be the same."""
    backend: Backend = setting(check.one_of(Backend), Backend.AUTO)
    """The kernel mechanism of ``ip6ip6`` tunnels (``auto``: probe; see ``dataplane probe``)."""
    dataplane: str = setting(check.choice("linux", "none"), "linux")
    """``linux``: program the kernel's routes and tunnels; ``none``: signalling and the
    binding cache only (a test or a signalling peer)."""
    database: str = setting(check.text, "sqlite:///netlmm-lma.db")
    """The store's SQLAlchemy URL: bindings, audit trail (SQLite file or
    ``postgresql+psycopg://...``)."""
    retention: timedelta | None = setting(check.age, None)
    """How long the store keeps raw rows (``90d``); older ones are deleted every hour, the
    report rollups stay. Unset: kept until ``netlmm-aaa db prune``."""
    control_socket: str = setting(check.text, "/run/netlmm-aaa/lma.sock")
    """The Unix socket of ``netlmm-aaa lma bindings`` and ``lma revoke``."""
    metrics_listen: str | None = setting(check.listen, None)
    """Where Prometheus scrapes ``/metrics`` (and ``/ready``); unset: no listener."""
    policy: LmaPolicy
    aaa: LmaAaa | None = None


# The tables below hold LmaPolicy's fields under their TOML names.


@dataclass(frozen=True, slots=True, kw_only=True)
class _Pools:
    """``[lma.pools]``: where home network prefixes and IPv4 home addresses come from."""

    prefix_pool: str = setting(check.net6, "2001:db8:1000::/40", key="prefix")
    prefix_length: int = setting(check.integer(1, 128), 64)
    ipv4_pool: str | None = setting(check.net4, None, key="ipv4")
    ipv4_prefix_length: int = setting(check.integer(0, 32), 24)
    ipv4_default_router: str | None = setting(check.ipv4, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Timers:
    """``[lma.timers]``: binding lifetimes and the protocol timers (RFC 5213, 5846, 5847)."""

    max_lifetime: int = setting(check.integer(4, 0xFFFF * 4), 3600)
    min_delay_before_bce_delete: float = setting(check.number(0, 3600), 10.0)
    max_delay_before_new_bce_assign: float = setting(check.number(0, 60), 1.5)
    timestamp_validity_window: float = setting(check.number(0.001, 3600), 0.3)
    heartbeat_interval: float = setting(check.number(0, 3600), 60.0)
    missing_heartbeats_allowed: int = setting(check.integer(1, 100), 3)
    bri_retransmit_delay: float = setting(check.number(0.5, 60), 1.0)
    bri_max_retries: int = setting(check.integer(0, 10), 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Switches:
    """``[lma.policy]``: what the LMA accepts and does on its own initiative."""

    unknown_mobile_nodes: UnknownMobileNodes = setting(
        check.one_of(UnknownMobileNodes), UnknownMobileNodes.ALLOCATE
    )
    require_timestamp: bool = setting(check.boolean, False)
    mobile_node_generated_timestamp: bool = setting(check.boolean, False)
    accept_forced_udp_encapsulation: bool = setting(check.boolean, False)
    revoke_old_mag_on_handover: bool = setting(check.boolean, True)
    release_bindings_on_peer_restart: bool = setting(check.boolean, True)
    honour_requested_blocks: bool = setting(check.boolean, True)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Peer:
    """``[[lma.mag]]``: a MAG allowed to register mobile nodes here."""

    name: str = setting(check.text)
    addresses: tuple[str, ...] = setting(check.list_of(check.ip))
    tunnel_address: str | None = setting(check.ipv6, None)
    allowed_prefixes: tuple[str, ...] = setting(check.list_of(check.net), ())
    heartbeats: bool = setting(check.boolean, True)
    """Heartbeats and restart announcements to this MAG (off for a peer that cannot parse them)."""
    revocation: bool = setting(check.boolean, True)
    """Binding Revocation Indications to this MAG."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Node:
    """``[[lma.mobile_node]]``: one mobile node's policy profile (RFC 5213 §2.2); nodes
    without one follow ``lma.policy.unknown_mobile_nodes``."""

    mn_id: str = setting(check.text)
    home_network_prefix: str | None = setting(check.net6, None)
    ipv4_home_address: str | None = setting(check.ipv4, None)
    proxy_mobility: bool = setting(check.boolean, True)
    ipv4_service: bool = setting(check.boolean, True)
    ipv6_service: bool = setting(check.boolean, True)
    allowed_mags: tuple[str, ...] | None = setting(check.list_of(check.text), None)


_SUB_TABLES = ("pools", "timers", "policy", "mag", "mobile_node", "aaa")


def parse_lma_config(document: dict[str, Any]) -> LmaConfig:
    """Validate a parsed TOML document and build the LMA configuration; every problem found
    in one pass (:class:`~netlmm_aaa.config.schema.ConfigProblems` when there are several)."""
    raw = top_table(document, "lma")
    problems = Problems()
    lma: dict[str, Any] | None = None
    pools: _Pools | None = None
    timers: _Timers | None = None
    switches: _Switches | None = None
    with problems.collect():
        lma = read_settings("lma", raw, LmaConfig, tables=_SUB_TABLES)
    with problems.collect():
        pools = read_table("lma.pools", raw.get("pools"), _Pools)
    with problems.collect():
        timers = read_table("lma.timers", raw.get("timers"), _Timers)
    with problems.collect():
        switches = read_table("lma.policy", raw.get("policy"), _Switches)
    peers = _peers(raw, problems)
    # The names as written: a MAG table with another problem must not make its name unknown.
    written = raw["mag"] if isinstance(raw.get("mag"), list) else []
    names = {str(m["name"]) for m in written if isinstance(m, dict) and "name" in m}
    nodes = _nodes(raw, names, problems)
    if pools is not None:
        prefix_bits = int(pools.prefix_pool.split("/")[1])
        if pools.prefix_length < prefix_bits:
            with problems.collect():
                why = f"is shorter than the pool {pools.prefix_pool}"
                raise fail("lma.pools.prefix_length", pools.prefix_length, why)
        router, pool4 = pools.ipv4_default_router, pools.ipv4_pool
        if router and pool4 and ipaddress.IPv4Address(router) not in ipaddress.IPv4Network(pool4):
            with problems.collect():
                raise fail("lma.pools.ipv4_default_router", router, f"is not inside {pool4}")
    ipv6_peer = next((p for p in peers if any(":" in a for a in p.addresses)), None)
    if ipv6_peer is not None and lma is not None and not lma["address"]:
        with problems.collect():
            raise ConfigError(f"lma.address: missing, but MAG {ipv6_peer.name} has IPv6 addresses")
    ipv4_peer = next((p for p in peers if any(":" not in a for a in p.addresses)), None)
    if ipv4_peer is not None and lma is not None and not lma["ipv4_address"]:
        with problems.collect():
            raise ConfigError(
                f"lma.ipv4_address: missing, but MAG {ipv4_peer.name} has IPv4 addresses "
                "(it signals over IPv4: RFC 5844 §4, UDP port 5436)"
            )
    aaa = None
    with problems.collect():
        aaa = _aaa(raw, names, problems)
    problems.raise_any()
    assert lma is not None and pools is not None and timers is not None and switches is not None
    policy = LmaPolicy(
        **_fields(pools),
        **_fields(timers),
        **_fields(switches),
        peers=peers,
        mobile_nodes=nodes,
        tunnel_mode=lma["tunnel_mode"],
        aaa_attachment_check=aaa is not None,
        aaa_attachment_wait=aaa.wait if aaa is not None else 1.0,
    )
    return LmaConfig(**lma, policy=policy, aaa=aaa)


def load_lma_config(path: str | Path) -> LmaConfig:
    """Read and validate an LMA configuration file."""
    return parse_lma_config(read_document(path))


def _fields(table: Any) -> dict[str, Any]:
    return {f.name: getattr(table, f.name) for f in dataclasses.fields(table)}


def _peers(raw: dict[str, Any], problems: Problems) -> tuple[MagPeer, ...]:
    peers: list[MagPeer] = []
    seen_addresses: dict[str, str] = {}
    for i, item in enumerate(problems.array("lma.mag", raw)):
        with problems.collect():
            peers.append(_peer(f"lma.mag[{i}]", item, peers, seen_addresses))
    if not raw.get("mag"):
        with problems.collect():
            raise ConfigError("lma.mag: no MAG configured (add [[lma.mag]] tables)")
    return tuple(peers)


def _peer(path: str, item: Any, peers: list[MagPeer], seen_addresses: dict[str, str]) -> MagPeer:
    mag = read_table(path, item, _Peer)
    v6 = [a for a in mag.addresses if ":" in a]
    # A MAG known only by IPv4 signals over IPv4 (RFC 5844 §4): its tunnel ends at the IPv4
    # source of its PBUs.
    tunnel = mag.tunnel_address or next(iter(v6 or mag.addresses), None)
    if tunnel is None:
        raise ConfigError(f"{path}.addresses: empty (nothing to accept signalling from)")
    for address in mag.addresses:
        if address in seen_addresses:
            raise fail(f"{path}.addresses", address, f"is also MAG {seen_addresses[address]}")
    if any(p.name == mag.name for p in peers):
        raise fail(f"{path}.name", mag.name, "is used by another MAG")
    seen_addresses.update(dict.fromkeys(mag.addresses, mag.name))
    return MagPeer(
        name=mag.name,
        addresses=frozenset(mag.addresses),
        tunnel_address=tunnel,
        allowed_prefixes=mag.allowed_prefixes,
        heartbeats=mag.heartbeats,
        revocation=mag.revocation,
    )


def _nodes(raw: dict[str, Any], mags: set[str], problems: Problems) -> tuple[MobileNodePolicy, ...]:
    nodes: list[MobileNodePolicy] = []
    owners: dict[str, str] = {}
    for i, item in enumerate(problems.array("lma.mobile_node", raw)):
        with problems.collect():
            nodes.append(_node(f"lma.mobile_node[{i}]", item, mags, owners))
    return tuple(nodes)


def _node(path: str, item: Any, mags: set[str], owners: dict[str, str]) -> MobileNodePolicy:
    node = read_table(path, item, _Node)
    blocks = (
        ("home_network_prefix", node.home_network_prefix),
        ("ipv4_home_address", node.ipv4_home_address),
    )
    for key, block in blocks:
        if block is not None and block in owners:
            raise fail(f"{path}.{key}", block, f"is already {owners[block]}'s")
    if node.allowed_mags is not None:
        unknown = set(node.allowed_mags) - mags
        if unknown:
            raise fail(f"{path}.allowed_mags", sorted(unknown)[0], "is not a configured MAG")
    owners.update({block: node.mn_id for _key, block in blocks if block is not None})
    return MobileNodePolicy(
        mn_id=node.mn_id.encode("utf-8"),
        home_network_prefix=node.home_network_prefix,
        ipv4_home_address=node.ipv4_home_address,
        proxy_mobility=node.proxy_mobility,
        ipv4_service=node.ipv4_service,
        ipv6_service=node.ipv6_service,
        allowed_mags=frozenset(node.allowed_mags) if node.allowed_mags is not None else None,
    )


def _aaa(raw: dict[str, Any], mags: set[str], problems: Problems) -> LmaAaa | None:
    if raw.get("aaa") is None:
        return None
    settings = read_settings("lma.aaa", raw["aaa"], LmaAaa, tables=("nas",))
    nases: list[LmaAaaNas] = []
    for i, item in enumerate(problems.array("lma.aaa.nas", raw["aaa"])):
        with problems.collect():
            nas = read_table(f"lma.aaa.nas[{i}]", item, LmaAaaNas)
            if nas.mag not in mags:
                raise fail(f"lma.aaa.nas[{i}].mag", nas.mag, "is not a configured MAG")
            source = ipaddress.ip_address(nas.address)
            if source.is_unspecified or source.is_multicast:
                why = "is a catch-all or multicast address"
                raise fail(f"lma.aaa.nas[{i}].address", nas.address, why)
            nases.append(nas)
    if not raw["aaa"].get("nas"):
        raise ConfigError("lma.aaa.nas: no NAS configured (the check would refuse everyone)")
    return LmaAaa(**settings, nases=tuple(nases))


TABLES = (
    TableDoc("lma", LmaConfig),
    TableDoc("lma.pools", _Pools, meanings_from=(LmaPolicy,)),
    TableDoc("lma.timers", _Timers, meanings_from=(LmaPolicy,)),
    TableDoc("lma.policy", _Switches, meanings_from=(LmaPolicy,)),
    TableDoc("lma.mag", _Peer, array=True, meanings_from=(MagPeer,)),
    TableDoc("lma.mobile_node", _Node, array=True, meanings_from=(MobileNodePolicy,)),
    TableDoc("lma.aaa", LmaAaa),
    TableDoc("lma.aaa.nas", LmaAaaNas, array=True),
)
"""The file's tables, in the configuration reference's order."""
