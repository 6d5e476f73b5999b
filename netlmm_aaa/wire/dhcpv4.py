"""DHCPv4 (RFC 2131, options RFC 2132) as far as the MAG's server needs it: client requests in,
OFFER / ACK / NAK out. Pure bytes in, bytes out.

The MAG hands an 802.1X-authenticated station its IPv4 home address (RFC 5844 §3.3, the MAG as
DHCP server), from the same server address on every MAG, so a client renewing after a handover
talks to "its" server and keeps its address.
"""

from __future__ import annotations

import ipaddress
import struct

from netlmm_aaa.core.dhcpv4_decisions import DhcpMessageType, DhcpRequest
from netlmm_aaa.core.errors import NetlmmError

SERVER_PORT = 67
CLIENT_PORT = 68
MAGIC_COOKIE = b"\x63\x82\x53\x63"
_FIXED = 236  # op .. file, before the magic cookie
_MIN_REPLY = 300  # BOOTP's minimum message size; some clients drop shorter replies

# Option codes (RFC 2132)
_PAD, _END = 0, 255
_SUBNET_MASK = 1
_ROUTER = 3
_DNS = 6
_REQUESTED_ADDRESS = 50
_LEASE_TIME = 51
_OVERLOAD = 52
_MESSAGE_TYPE = 53
_SERVER_IDENTIFIER = 54
_RENEWAL_TIME = 58
_REBINDING_TIME = 59


class DhcpDecodeError(NetlmmError):
    """A datagram on port 67 that is not a DHCP request we can answer; ``reason`` is short and
    stable (for the audit trail), the message says what was wrong."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _address(data: bytes, what: str) -> str:
    if len(data) != 4:
        raise DhcpDecodeError("bad_option", f"{what} has {len(data)} octets, not 4")
    return str(ipaddress.IPv4Address(data))


def decode_request(data: bytes) -> DhcpRequest:
    """Parse a client's message; :class:`DhcpDecodeError` for anything we would not answer."""
    if len(data) < _FIXED + 4:
        raise DhcpDecodeError("truncated", f"{len(data)} octets, a DHCP message has >= 240")
    op, htype, hlen, _hops, xid, _secs, flags = struct.unpack_from("!BBBBIHH", data)
    if op != 1:
        raise DhcpDecodeError("not_a_request", f"op {op} (clients send BOOTREQUEST, 1)")
    if htype != 1 or hlen != 6:
        raise DhcpDecodeError(
            "not_ethernet", f"hardware type {htype} / length {hlen} (Ethernet is 1 / 6)"
        )
    if data[_FIXED : _FIXED + 4] != MAGIC_COOKIE:
        raise DhcpDecodeError("no_magic_cookie", "no DHCP magic cookie (a plain BOOTP request)")
    options: dict[int, bytes] = {}
    p = _FIXED + 4
    end = len(data)
    while p < end:
        code = data[p]
        if code == _PAD:
            p += 1
            continue
        if code == _END:
            break
        if p + 1 >= end:
            raise DhcpDecodeError("truncated_option", f"option {code} at {p} has no length")
        length = data[p + 1]
        if p + 2 + length > end:
            raise DhcpDecodeError(
                "truncated_option", f"option {code} at {p} runs past the end ({length} octets)"
            )
        # RFC 3396: a repeated option is one long option split in parts.
        options[code] = options.get(code, b"") + data[p + 2 : p + 2 + length]
        p += 2 + length
    else:
        raise DhcpDecodeError("no_end_option", "the options do not end with option 255")
    if _OVERLOAD in options:
        raise DhcpDecodeError("option_overload", "options in sname/file (option 52) not handled")
    kind = options.get(_MESSAGE_TYPE)
    if kind is None or len(kind) != 1:
        raise DhcpDecodeError("no_message_type", "no DHCP message type (option 53)")
    try:
        message_type = DhcpMessageType(kind[0])
    except ValueError:
        raise DhcpDecodeError("bad_message_type", f"message type {kind[0]}") from None
    if message_type in (DhcpMessageType.OFFER, DhcpMessageType.ACK, DhcpMessageType.NAK):
        raise DhcpDecodeError("not_a_request", f"{message_type.name} is a server's message")
    requested = options.get(_REQUESTED_ADDRESS)
    server = options.get(_SERVER_IDENTIFIER)
    return DhcpRequest(
        message_type=message_type,
        xid=xid,
        flags=flags,
        ciaddr=_address(data[12:16], "ciaddr"),
        giaddr=_address(data[24:28], "giaddr"),
        mac=":".join(f"{b:02x}" for b in data[28:34]),
        requested_address=None if requested is None else _address(requested, "option 50"),
        server_identifier=None if server is None else _address(server, "option 54"),
    )


def encode_reply(
    request: DhcpRequest,
    message_type: DhcpMessageType,
    *,
    server_identifier: str,
    yiaddr: str = "0.0.0.0",
    lease_seconds: int | None = None,
    prefix_length: int | None = None,
    router: str | None = None,
    dns: tuple[str, ...] = (),
) -> bytes:
    """A BOOTREPLY answering ``request`` (RFC 2131 table 3: NAK carries no address or lease)."""
    mac = bytes.fromhex(request.mac.replace(":", ""))
    ciaddr = request.ciaddr if message_type is DhcpMessageType.ACK else "0.0.0.0"
    fixed = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        2, 1, 6, 0, request.xid, 0, request.flags,
        ipaddress.IPv4Address(ciaddr).packed,
        ipaddress.IPv4Address(yiaddr).packed,
        b"\0" * 4,
        ipaddress.IPv4Address(request.giaddr).packed,
        mac, b"", b"",
    )  # fmt: skip
    server = ipaddress.IPv4Address(server_identifier).packed
    options = bytearray(MAGIC_COOKIE)
    options += bytes((_MESSAGE_TYPE, 1, message_type)) + bytes((_SERVER_IDENTIFIER, 4)) + server
    if message_type is not DhcpMessageType.NAK:
        if lease_seconds is not None:
            options += struct.pack("!BBI", _LEASE_TIME, 4, lease_seconds)
            options += struct.pack("!BBI", _RENEWAL_TIME, 4, lease_seconds // 2)
            options += struct.pack("!BBI", _REBINDING_TIME, 4, lease_seconds * 7 // 8)
        if prefix_length is not None:
            mask = ipaddress.IPv4Network(f"0.0.0.0/{prefix_length}").netmask.packed
            options += bytes((_SUBNET_MASK, 4)) + mask
        if router is not None:
            options += bytes((_ROUTER, 4)) + ipaddress.IPv4Address(router).packed
        if dns:
            packed = b"".join(ipaddress.IPv4Address(a).packed for a in dns[:63])
            options += bytes((_DNS, len(packed))) + packed
    options.append(_END)
    message = fixed + bytes(options)
    return message + b"\0" * max(0, _MIN_REPLY - len(message))
