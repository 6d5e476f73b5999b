"""ICMPv6 Router Advertisements for the per-MN links (RFC 4861 §4.2, RFC 5213 §6.7).

Each MN sits on its own point-to-point access link; the MAG advertises exactly the MN's home
network prefixes there, from the link-local and link-layer address that every MAG shares
(RFC 6543), so the MN's SLAAC address and its default router stay valid across a handover.
The ICMPv6 checksum is left 0 here: raw ICMPv6 sockets have the kernel fill it in.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence

ICMPV6_ROUTER_ADVERTISEMENT = 134
_OPT_SOURCE_LINK_LAYER = 1
_OPT_PREFIX_INFORMATION = 3
_OPT_MTU = 5
_PIO_FLAGS_ON_LINK_AUTONOMOUS = 0xC0


def encode_router_advertisement(
    prefixes: Sequence[str],
    *,
    source_mac: str,
    router_lifetime: int = 1800,
    valid_lifetime: int = 86400,
    preferred_lifetime: int = 14400,
    mtu: int | None = None,
    hop_limit: int = 64,
) -> bytes:
    """A Router Advertisement carrying ``prefixes`` (on-link, autonomous)."""
    if not 0 <= router_lifetime <= 9000:
        raise ValueError(f"router lifetime {router_lifetime} is outside 0-9000 s")
    mac = bytes.fromhex(source_mac.replace(":", "").replace("-", ""))
    if len(mac) != 6:
        raise ValueError(f"{source_mac!r} is not a MAC address")
    body = struct.pack("!BBHBBHII", ICMPV6_ROUTER_ADVERTISEMENT, 0, 0, hop_limit, 0,
                       router_lifetime, 0, 0)  # fmt: skip
    body += bytes((_OPT_SOURCE_LINK_LAYER, 1)) + mac
    if mtu is not None:
        body += struct.pack("!BBHI", _OPT_MTU, 1, 0, mtu)
    for prefix in prefixes:
        network = ipaddress.IPv6Network(prefix)
        body += struct.pack(
            "!BBBBIII16s", _OPT_PREFIX_INFORMATION, 4, network.prefixlen,
            _PIO_FLAGS_ON_LINK_AUTONOMOUS, valid_lifetime, preferred_lifetime, 0,
            network.network_address.packed,
        )  # fmt: skip
    return body
