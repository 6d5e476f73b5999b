"""The MAG's DHCPv4 server on its access interfaces (asyncio): decode, ask the core, answer.

One UDP socket per access interface (port 67, bound to the device), so a request is known to
come from that link. Replies go to the link's broadcast address through the same device (the
client has no address yet) or, for a renewal, to the client's address. What to answer is
:func:`netlmm_aaa.core.dhcpv4_decisions.decide`; the lease comes from the MAG core's registered
station (its IPv4 home address from the PBA), so only 802.1X-authenticated, registered stations
get an address, and the same one on every MAG.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from netlmm_aaa.core.dhcpv4_decisions import (
    DhcpDecision,
    DhcpMessageType,
    DhcpRequest,
    Lease,
    decide,
)
from netlmm_aaa.wire.dhcpv4 import (
    CLIENT_PORT,
    SERVER_PORT,
    DhcpDecodeError,
    decode_request,
    encode_reply,
)

log = logging.getLogger("netlmm_aaa.dhcpv4")

LeaseLookup = Callable[[str, str], Lease | None]
"""(interface, mac) -> the station's lease, or None."""
Answered = Callable[[str, DhcpRequest, DhcpDecision], None]
"""Called for every decoded request with what was decided (the audit trail)."""
Rejected = Callable[[str, str, str], None]
"""(interface, reason, detail) for a datagram that is not a request we can answer."""


def server_socket(interface: str) -> socket.socket:
    """UDP port 67 on ``interface`` only (SO_BINDTODEVICE), allowed to broadcast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        sock.bind(("0.0.0.0", SERVER_PORT))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: Dhcpv4Server, interface: str) -> None:
        self.server = server
        self.interface = interface
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        assert self.transport is not None
        self.server.handle(self.interface, data, self.transport)


class Dhcpv4Server:
    """DHCPv4 on every access interface, answering from the MAG core's registered stations."""

    def __init__(
        self,
        *,
        interfaces: tuple[str, ...],
        server_address: str,
        lease_for: LeaseLookup,
        lease_seconds: int = 3600,
        dns: tuple[str, ...] = (),
        answered: Answered | None = None,
        rejected: Rejected | None = None,
    ) -> None:
        self.interfaces = interfaces
        self.server_address = server_address
        self.lease_for = lease_for
        self.lease_seconds = lease_seconds
        self.dns = dns
        self.answered = answered
        self.rejected = rejected
        self.replies = 0
        self._transports: list[asyncio.DatagramTransport] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for interface in self.interfaces:
            sock = server_socket(interface)
            transport, _ = await loop.create_datagram_endpoint(
                lambda i=interface: _Protocol(self, i),  # type: ignore[misc]
                sock=sock,
            )
            self._transports.append(transport)

    def close(self) -> None:
        for transport in self._transports:
            transport.close()
        self._transports.clear()

    def handle(self, interface: str, data: bytes, transport: asyncio.DatagramTransport) -> None:
        """One datagram from ``interface``: answer it or drop it (never half-process it)."""
        try:
            request = decode_request(data)
        except DhcpDecodeError as exc:
            if self.rejected is not None:
                self.rejected(interface, exc.reason, str(exc))
            return
        lease = self.lease_for(interface, request.mac)
        decision = decide(request, lease, self.server_address)
        if self.answered is not None:
            self.answered(interface, request, decision)
        if decision.reply is None:
            log.debug("dhcp %s from %s on %s: %s", request.message_type.name, request.mac,
                      interface, decision.reason)  # fmt: skip
            return
        reply = encode_reply(
            request,
            decision.reply,
            server_identifier=self.server_address,
            yiaddr=decision.yiaddr,
            lease_seconds=None if decision.reply is DhcpMessageType.NAK else self.lease_seconds,
            prefix_length=lease.prefix_length if lease is not None else None,
            router=self.server_address,
            dns=self.dns,
        )
        # RFC 2131 §4.1: to a client with an address (renewing) unicast; otherwise broadcast
        # (the client cannot receive unicast IP before it has its address, and we do not write
        # its ARP entry). NAKs are broadcast.
        renewing = request.ciaddr != "0.0.0.0" and decision.reply is not DhcpMessageType.NAK
        destination = request.ciaddr if renewing else "255.255.255.255"
        try:
            transport.sendto(reply, (destination, CLIENT_PORT))
        except OSError as exc:
            log.warning("dhcp reply to %s on %s failed: %s", request.mac, interface, exc)
            return
        self.replies += 1
