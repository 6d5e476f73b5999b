"""Sends the per-MN Router Advertisements (see :mod:`netlmm_aaa.wire.router_advertisement`)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Sequence

from netlmm_aaa.dataplane.mag_linux import FIXED_MAG_LINK_LOCAL, FIXED_MAG_MAC
from netlmm_aaa.wire.router_advertisement import encode_router_advertisement

_ALL_NODES = "ff02::1"


class RouterAdvertiser:
    """One raw ICMPv6 socket; RAs leave from the shared MAG link-local with hop limit 255."""

    def __init__(
        self,
        *,
        mtu: int | None = None,
        router_lifetime: int = 1800,
        sock: socket.socket | None = None,
        index_of: Callable[[str], int] = socket.if_nametoindex,
    ) -> None:
        """``sock``/``index_of`` default to this network namespace's (tests pass others)."""
        self.mtu = mtu
        self.router_lifetime = router_lifetime
        self._index_of = index_of
        self._sock = sock or socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
        self.sent = 0

    def advertise(
        self, interface: str, prefixes: Sequence[str], lifetime: int | None = None
    ) -> None:
        """Send an RA with ``prefixes`` on ``interface`` (the MN's own link) to all-nodes.

        ``lifetime=0`` withdraws the MAG as default router (the MN left or was revoked).
        """
        index = self._index_of(interface)
        packet = encode_router_advertisement(
            prefixes,
            source_mac=FIXED_MAG_MAC,
            router_lifetime=self.router_lifetime if lifetime is None else lifetime,
            mtu=self.mtu,
        )
        # IPV6_PKTINFO picks the source address and the outgoing interface per datagram.
        info = socket.inet_pton(socket.AF_INET6, FIXED_MAG_LINK_LOCAL) + struct.pack("@I", index)
        self._sock.sendmsg(
            [packet], [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info)], 0,
            (_ALL_NODES, 0, 0, index),
        )  # fmt: skip
        self.sent += 1

    def close(self) -> None:
        self._sock.close()
