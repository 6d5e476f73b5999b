"""The access link's router side: Router Advertisements to one station, Router Solicitations
heard (see :mod:`netlmm_aaa.wire.router_advertisement`)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable, Sequence

from netlmm_aaa.core.errors import WireFormatError
from netlmm_aaa.dataplane.mag_linux import FIXED_MAG_LINK_LOCAL, FIXED_MAG_MAC
from netlmm_aaa.wire.router_advertisement import (
    ICMPV6_ROUTER_SOLICITATION,
    decode_router_solicitation,
    encode_router_advertisement,
    router_advertisement_frame,
)

_ETH_P_IPV6 = 0x86DD
_ICMP6_FILTER = 1  # <netinet/icmp6.h>, at level IPPROTO_ICMPV6


class RouterAdvertiser:
    """Sends each station its own RA as an Ethernet frame to its MAC (an AF_PACKET socket):
    from the link-local and MAC every MAG shares, with the station's prefixes only."""

    def __init__(
        self,
        *,
        mtu: int | None = None,
        router_lifetime: int = 1800,
        dns_servers: Sequence[str] = (),
        search_domains: Sequence[str] = (),
        sock: socket.socket | None = None,
    ) -> None:
        """``sock`` defaults to an AF_PACKET socket of this network namespace (tests pass
        one opened in theirs); protocol 0: it sends, it receives nothing."""
        self.mtu = mtu
        self.router_lifetime = router_lifetime
        self.dns_servers = tuple(dns_servers)
        self.search_domains = tuple(search_domains)
        self._sock = sock or socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sent = 0

    def advertise(
        self, interface: str, mac: str, prefixes: Sequence[str], *, withdraw: bool = False
    ) -> None:
        """Send the station at ``mac`` on ``interface`` an RA with ``prefixes``; ``withdraw``:
        zero lifetimes (no longer its default router, its prefix deprecated)."""
        lifetimes = (
            {"router_lifetime": 0, "valid_lifetime": 0, "preferred_lifetime": 0}
            if withdraw
            else {"router_lifetime": self.router_lifetime}
        )
        ra = encode_router_advertisement(
            prefixes,
            source_mac=FIXED_MAG_MAC,
            mtu=self.mtu,
            dns_servers=self.dns_servers,
            search_domains=self.search_domains,
            dns_lifetime=0 if withdraw else None,
            **lifetimes,
        )
        frame = router_advertisement_frame(
            ra, destination_mac=mac, source_mac=FIXED_MAG_MAC, source=FIXED_MAG_LINK_LOCAL
        )
        self._sock.sendto(frame, (interface, _ETH_P_IPV6))
        self.sent += 1

    def close(self) -> None:
        self._sock.close()


class RouterSolicitations:
    """Hears Router Solicitations on the access interfaces (a raw ICMPv6 socket that passes
    type 133 only) and reports ``(interface, the SLLAO's MAC or None)``; invalid ones (hop
    limit other than 255, bad options) are counted and dropped."""

    def __init__(
        self,
        interfaces: Sequence[str],
        solicited: Callable[[str, str | None], None],
        *,
        sock: socket.socket | None = None,
        name_of: Callable[[int], str] = socket.if_indextoname,
    ) -> None:
        self._interfaces = frozenset(interfaces)
        self._solicited = solicited
        self._name_of = name_of
        self._sock = sock or socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        blocked = [0xFFFF_FFFF] * 8
        blocked[ICMPV6_ROUTER_SOLICITATION >> 5] &= ~(1 << (ICMPV6_ROUTER_SOLICITATION & 31))
        self._sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *blocked))
        self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        self._sock.setblocking(False)
        self.invalid = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._readable)

    def _readable(self) -> None:
        for _ in range(64):  # a burst per wake-up, then the other work of the loop
            try:
                data, ancillary, _, _ = self._sock.recvmsg(1500, 256)
            except (BlockingIOError, InterruptedError):
                return
            index, hop_limit = 0, -1
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                    index = struct.unpack("@I", value[16:20])[0]
                elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT:
                    hop_limit = struct.unpack("@i", value[:4])[0]
            try:
                interface = self._name_of(index)
                mac = decode_router_solicitation(data, hop_limit)
            except (OSError, WireFormatError):
                self.invalid += 1
                continue
            if interface in self._interfaces:
                self._solicited(interface, mac)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
