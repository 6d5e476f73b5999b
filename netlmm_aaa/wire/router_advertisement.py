"""ICMPv6 Router Advertisements and Solicitations of the per-MN links (RFC 4861 §4.1-4.2,
RFC 5213 §6.7, RFC 8106).

Each MN has its own home network prefix; the MAG advertises exactly that prefix to it, from the
link-local and link-layer address that every MAG shares (RFC 6543), so the MN's SLAAC address
and its default router stay valid across a handover. Several stations can share one access
interface (an AP's bridge), so an RA is sent as an Ethernet frame to the one station's MAC with
IPv6 destination all-nodes (RFC 6085): no other station sees another's prefix.
:func:`encode_router_advertisement` leaves the ICMPv6 checksum 0 (raw ICMPv6 sockets fill it
in); :func:`router_advertisement_frame` computes it.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence

from netlmm_aaa.core.addresses import ipv6_network, pack_ipv6
from netlmm_aaa.core.errors import WireFormatError
from netlmm_aaa.wire.mobility_header import internet_checksum_sum

ICMPV6_ROUTER_SOLICITATION = 133
ICMPV6_ROUTER_ADVERTISEMENT = 134
ALL_NODES = "ff02::1"
_OPT_SOURCE_LINK_LAYER = 1
_OPT_PREFIX_INFORMATION = 3
_OPT_MTU = 5
_OPT_RDNSS = 25
_OPT_DNSSL = 31
_PIO_FLAGS_ON_LINK_AUTONOMOUS = 0xC0
_ETH_P_IPV6 = 0x86DD
_ICMPV6 = 58


def encode_router_advertisement(
    prefixes: Sequence[str],
    *,
    source_mac: str,
    router_lifetime: int = 1800,
    valid_lifetime: int = 86400,
    preferred_lifetime: int = 14400,
    mtu: int | None = None,
    hop_limit: int = 64,
    dns_servers: Sequence[str] = (),
    search_domains: Sequence[str] = (),
    dns_lifetime: int | None = None,
) -> bytes:
    """A Router Advertisement carrying ``prefixes`` (on-link, autonomous), and the RFC 8106
    recursive DNS servers and search list when given (``dns_lifetime``: default the router
    lifetime). Zero lifetimes withdraw: router lifetime 0 (not a default router), valid and
    preferred 0 (the prefix deprecated at once, RFC 4862 §5.5.3)."""
    if not 0 <= router_lifetime <= 9000:
        raise ValueError(f"router lifetime {router_lifetime} is outside 0-9000 s")
    mac = _fixed_mac(source_mac)
    body = struct.pack("!BBHBBHII", ICMPV6_ROUTER_ADVERTISEMENT, 0, 0, hop_limit, 0,
                       router_lifetime, 0, 0)  # fmt: skip
    body += bytes((_OPT_SOURCE_LINK_LAYER, 1)) + mac
    if mtu is not None:
        body += struct.pack("!BBHI", _OPT_MTU, 1, 0, mtu)
    for prefix in prefixes:
        network, length = ipv6_network(prefix)
        body += struct.pack(
            "!BBBBIII16s", _OPT_PREFIX_INFORMATION, 4, length,
            _PIO_FLAGS_ON_LINK_AUTONOMOUS, valid_lifetime, preferred_lifetime, 0, network,
        )  # fmt: skip
    lifetime = router_lifetime if dns_lifetime is None else dns_lifetime
    if dns_servers:
        servers = b"".join(_fixed_address(a) for a in dns_servers)
        body += struct.pack("!BBHI", _OPT_RDNSS, 1 + 2 * len(dns_servers), 0, lifetime) + servers
    if search_domains:
        names = b"".join(_dns_name(d) for d in search_domains)
        names += bytes(-(8 + len(names)) % 8)
        body += struct.pack("!BBHI", _OPT_DNSSL, (8 + len(names)) // 8, 0, lifetime) + names
    return body


def _dns_name(domain: str) -> bytes:
    """A domain name in DNS wire format (RFC 1035 §3.1), as DNSSL carries it."""
    out = b""
    for label in domain.strip(".").split("."):
        raw = label.encode("idna")
        if not 0 < len(raw) < 64:
            raise ValueError(f"{domain!r} is not a domain name")
        out += bytes((len(raw),)) + raw
    return out + b"\x00"


def router_advertisement_frame(
    ra: bytes,
    *,
    destination_mac: str,
    source_mac: str,
    source: str,
    destination: str = ALL_NODES,
) -> bytes:
    """The Ethernet frame of ``ra`` (from :func:`encode_router_advertisement`): IPv6 hop limit
    255 (RFC 4861 §6.1.2), the ICMPv6 checksum filled in over the pseudo-header."""
    src = _fixed_address(source)
    dst = _fixed_address(destination)
    pseudo = src + dst + struct.pack("!I3xB", len(ra), _ICMPV6)
    total = internet_checksum_sum(pseudo + ra)
    checksum = 0xFFFF - total if total else 0xFFFF
    icmp = ra[:2] + struct.pack("!H", checksum) + ra[4:]
    ipv6 = struct.pack("!IHBB", 6 << 28, len(icmp), _ICMPV6, 255) + src + dst
    ethernet = _mac(destination_mac) + _fixed_mac(source_mac) + struct.pack("!H", _ETH_P_IPV6)
    return ethernet + ipv6 + icmp


@functools.lru_cache(maxsize=64)
def _fixed_address(text: str) -> bytes:
    """The octets of an address that every RA of a MAG repeats (its link-local source,
    all-nodes, the DNS servers): converted once, not per station."""
    return pack_ipv6(text)


def _mac(text: str) -> bytes:
    mac = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(mac) != 6:
        raise ValueError(f"{text!r} is not a MAC address")
    return mac


_fixed_mac = functools.lru_cache(maxsize=16)(_mac)
"""The octets of the MAG's own MAC (the same in every RA)."""


def decode_router_solicitation(data: bytes, hop_limit: int) -> str | None:
    """The Source Link-Layer Address a Router Solicitation names (None without one), after the
    RFC 4861 §6.1.1 checks: hop limit 255, code 0, at least 8 octets, options of non-zero
    length that fit. Raises :class:`WireFormatError` for anything else."""
    if hop_limit != 255:
        raise WireFormatError(f"Router Solicitation with hop limit {hop_limit}, not 255")
    if len(data) < 8 or data[0] != ICMPV6_ROUTER_SOLICITATION or data[1] != 0:
        raise WireFormatError("not a Router Solicitation")
    at, mac = 8, None
    while at < len(data):
        if at + 2 > len(data) or data[at + 1] == 0 or at + 8 * data[at + 1] > len(data):
            raise WireFormatError("Router Solicitation option of bad length")
        if data[at] == _OPT_SOURCE_LINK_LAYER and data[at + 1] == 1:
            mac = data[at + 2 : at + 8].hex(":")
        at += 8 * data[at + 1]
    return mac
