"""PMIPv6 signalling sockets: IPv6 next header 135 (raw) and RFC 5844 UDP port 5436 (IPv4).

Each socket decodes what arrives with the wire codec and hands a core event to ``deliver``
(``MobilityMessageReceived``, or ``MalformedPacketReceived`` for bytes that did not decode; the
core audits those). The Mobility Header checksum is computed and verified here, in user space,
rather than by the kernel (``IPV6_CHECKSUM``), so that a packet with a bad checksum is audited
instead of vanishing silently.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable

from netlmm_aaa.core.errors import UnknownMessageTypeError, WireFormatError
from netlmm_aaa.core.events import (
    MalformedPacketReceived,
    MobilityMessageReceived,
    Transport,
)
from netlmm_aaa.core.messages import MobilityMessage
from netlmm_aaa.wire.ipv4_udp_transport import PMIP6_CONTROL_PORT
from netlmm_aaa.wire.mobility_header import (
    IPPROTO_MH,
    decode_mobility_header,
    encode_mobility_header,
)

log = logging.getLogger(__name__)

IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
_MAX_PER_WAKEUP = 256

Deliver = Callable[[MobilityMessageReceived | MalformedPacketReceived], None]
"""Where decoded messages (and what failed to decode) go: the LMA's or the MAG's core."""
_SO_RCVBUFFORCE = 33
_RECEIVE_BUFFER = 16 << 20  # room for bursts of thousands of PBUs (each skb costs ~1 KiB)


_PACKED: dict[str, bytes] = {}
_TEXT: dict[bytes, str] = {}


def _packed(address: str) -> bytes:
    # Peers are few: remember their conversions (bounded, in case of a spoofing flood).
    value = _PACKED.get(address)
    if value is None:
        if len(_PACKED) > 4096:
            _PACKED.clear()
        value = _PACKED[address] = ipaddress.IPv6Address(address).packed
    return value


def _text(address: bytes) -> str:
    value = _TEXT.get(address)
    if value is None:
        if len(_TEXT) > 4096:
            _TEXT.clear()
        value = _TEXT[address] = str(ipaddress.IPv6Address(address))
    return value


def _large_receive_buffer(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RECEIVE_BUFFER)  # root: no cap
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)


class MobilityHeaderSocket:
    """A raw IPv6 socket for next header 135, bound to our address."""

    def __init__(self, address: str, deliver: Deliver) -> None:
        self.address = str(ipaddress.IPv6Address(address))
        self._packed = ipaddress.IPv6Address(address).packed
        self._deliver = deliver
        self._sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
        self._sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        _large_receive_buffer(self._sock)
        self._sock.bind((self.address, 0))
        self._sock.setblocking(False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.received = 0
        self.sent = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self._sock.fileno(), self._readable)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    def _readable(self) -> None:
        for _ in range(_MAX_PER_WAKEUP):
            try:
                data, ancillary, _flags, peer = self._sock.recvmsg(4096, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("mobility socket receive failed: %s", exc)
                return
            self.received += 1
            destination = self._packed
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO and len(value) >= 16:
                    destination = value[:16]
            source = peer[0].split("%", 1)[0]
            try:
                message = decode_mobility_header(
                    data, source=_packed(source), destination=destination
                )
            except WireFormatError as exc:
                self._deliver(
                    MalformedPacketReceived(
                        source=source,
                        transport=Transport.IPV6,
                        reason=str(exc),
                        length=len(data),
                        unknown_mh_type=(
                            exc.mh_type if isinstance(exc, UnknownMessageTypeError) else None
                        ),
                    )
                )
                continue
            self._deliver(
                MobilityMessageReceived(
                    message=message,
                    source=source,
                    destination=_text(destination),
                    transport=Transport.IPV6,
                )
            )

    def send(self, message: MobilityMessage, destination: str) -> None:
        """Send ``message`` to ``destination`` from our address, checksum computed here."""
        mh = encode_mobility_header(message, source=self._packed, destination=destination)
        try:
            self._sock.sendto(mh, (destination, 0))
            self.sent += 1
        except OSError as exc:
            log.warning("sending %s to %s failed: %s", type(message).__name__, destination, exc)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: Udp5436Socket) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner.received_datagram(data, addr)


class Udp5436Socket:
    """RFC 5844 signalling over IPv4: the MH directly in UDP, checksum 0 (ignored on input)."""

    def __init__(self, address: str, deliver: Deliver, port: int = PMIP6_CONTROL_PORT) -> None:
        self.address = str(ipaddress.IPv4Address(address))
        self.port = port
        self._deliver = deliver
        self._transport: asyncio.DatagramTransport | None = None
        self.received = 0
        self.sent = 0

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(self.address, self.port)
        )
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            _large_receive_buffer(sock)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def received_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1
        try:
            message = decode_mobility_header(data)
        except WireFormatError as exc:
            self._deliver(
                MalformedPacketReceived(
                    source=addr[0],
                    transport=Transport.UDP4,
                    reason=str(exc),
                    length=len(data),
                    unknown_mh_type=(
                        exc.mh_type if isinstance(exc, UnknownMessageTypeError) else None
                    ),
                    source_port=addr[1],
                )
            )
            return
        self._deliver(
            MobilityMessageReceived(
                message=message,
                source=addr[0],
                destination=self.address,
                transport=Transport.UDP4,
                source_port=addr[1],
            )
        )

    def send(self, message: MobilityMessage, destination: str, port: int) -> None:
        if self._transport is None:
            raise RuntimeError("UDP 5436 socket not started")
        self._transport.sendto(encode_mobility_header(message), (destination, port))
        self.sent += 1
