"""The Mobility Header codec (RFC 6275 §6.1, RFC 5213 §8, RFC 5846 §5, RFC 5847 §3.3, RFC 7077 §4).

Layout of every message::

    0: Payload Proto (59)  1: Header Len (8-octet units after the first 8)  2: MH Type  3: Reserved
    4: Checksum (16)       6: message data, then mobility options; the total is a multiple of 8

Decoding is strict and bounded (RFC 6275 §9.2 and our own policy, since a packet we cannot trust is
dropped, not half-processed): the buffer must be exactly Header Len long, Payload Proto must be 59,
the message data must fit, every option length is checked, and when the IPv6 source and destination
are given the checksum must verify. Everything that fails raises a
:class:`~netlmm_aaa.core.errors.WireFormatError` subclass naming the problem; no other exception
escapes :func:`decode_mobility_header` for any input.

The checksum is the Internet checksum over the IPv6 pseudo-header (next header 135) and the whole
MH. Over the RFC 5844 IPv4/UDP transport it is 0 and receivers ignore it: encode without addresses
and decode without addresses (see :mod:`.ipv4_udp_transport`). On a raw socket with the kernel's
``IPV6_CHECKSUM`` offset set, the kernel fills in and verifies it, and the same applies.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from typing import Any

from netlmm_aaa.core.codes import (
    BindingAcknowledgementFlag,
    BindingStatus,
    BindingUpdateFlag,
    MobilityHeaderType,
    RevocationFlag,
    RevocationStatus,
    RevocationTrigger,
    UpdateNotificationReason,
    UpdateNotificationStatus,
)
from netlmm_aaa.core.errors import (
    ChecksumError,
    TruncatedMessageError,
    UnknownMessageTypeError,
    WireFormatError,
)
from netlmm_aaa.core.messages import (
    BindingError,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    Heartbeat,
    MobilityMessage,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    UpdateNotification,
    UpdateNotificationAcknowledgement,
)
from netlmm_aaa.wire.mobility_options import decode_options, encode_options

#: IPv6 next-header value of the Mobility Header.
IPPROTO_MH = 135
#: IPPROTO_NONE, the only valid Payload Proto.
IPPROTO_NONE = 59
#: Offset of the checksum inside the MH (for ``IPV6_CHECKSUM``).
CHECKSUM_OFFSET = 4

_new = tuple.__new__
_HHH = struct.Struct("!HHH")
_BBHH = struct.Struct("!BBHH")
_HI = struct.Struct("!HI")
_HB3 = struct.Struct("!HB3x")
_BB16 = struct.Struct("!BB16s")

Address = bytes | str | ipaddress.IPv6Address


def _ipv6(address: Address) -> bytes:
    if isinstance(address, bytes):
        if len(address) != 16:
            raise ValueError(f"an IPv6 address is 16 octets, got {len(address)}")
        return address
    return ipaddress.IPv6Address(address).packed


#: One's complement sums (mod 0xFFFF) of source + destination + next header, per address pair.
#: A node talks to few peers; the cache is emptied if it ever grows past a few thousand pairs.
_PSEUDO_SUMS: dict[tuple[Address, Address], int] = {}


def _pseudo_header_sum(source: Address, destination: Address) -> int:
    key = (source, destination)
    s = _PSEUDO_SUMS.get(key)
    if s is None:
        if len(_PSEUDO_SUMS) >= 4096:
            _PSEUDO_SUMS.clear()
        s = (int.from_bytes(_ipv6(source) + _ipv6(destination), "big") + IPPROTO_MH) % 0xFFFF
        _PSEUDO_SUMS[key] = s
    return s


def internet_checksum_sum(data: bytes) -> int:
    """The 16-bit one's complement sum of ``data`` (zero-padded to an even length), mod 0xFFFF.

    A big-endian integer is congruent to the sum of its 16-bit words modulo 2**16 - 1, which is
    exactly the end-around-carry arithmetic of the Internet checksum (RFC 1071), so one
    ``int.from_bytes`` replaces a loop over the words.
    """
    if len(data) & 1:
        data += b"\x00"
    return int.from_bytes(data, "big") % 0xFFFF


def _mh_sum(mh: bytes, source: Address, destination: Address) -> int:
    # Pseudo-header: source, destination, 32-bit upper-layer length, 3 zero octets, next header.
    # A Mobility Header always has an even length (a multiple of 8), so no padding octet.
    key = (source, destination)
    pseudo = _PSEUDO_SUMS.get(key)
    if pseudo is None:
        pseudo = _pseudo_header_sum(source, destination)
    if len(mh) & 1:
        mh += b"\x00"
    return (pseudo + len(mh) + int.from_bytes(mh, "big")) % 0xFFFF


def mobility_header_checksum(mh: bytes, source: Address, destination: Address) -> int:
    """The RFC 6275 §6.1.1 checksum of ``mh`` (whose checksum field must be zero)."""
    s = _mh_sum(mh, source, destination)
    return 0xFFFF - s if s else 0


def verify_mobility_header_checksum(mh: bytes, source: Address, destination: Address) -> bool:
    """True when the checksum stored in ``mh`` verifies over the pseudo-header."""
    return _mh_sum(mh, source, destination) == 0


# ------------------------------------------------------------------------------------- encoding
# Each message has one struct for the MH prefix and its fixed data; ranges are checked by struct.

_PBU = struct.Struct("!BBBBHHHH")
_PBA = struct.Struct("!BBBBHBBHH")
_HEARTBEAT = struct.Struct("!BBBBHHI")
_REVOCATION = struct.Struct("!BBBBHBBHH")
_UPN = struct.Struct("!BBBBHHHH")
_UPA = struct.Struct("!BBBBHHB3x")
_BINDING_ERROR = struct.Struct("!BBBBHBB16s")


def _checksummed(
    pack: Callable[..., bytes], options: bytes, src: Address, dst: Address, *fields: Any
) -> bytes:
    # Re-pack the fixed part with the checksum of the whole MH (checksum field 0 in ``fields``).
    s = _mh_sum(pack(*fields) + options, src, dst)
    return pack(*fields[:4], 0xFFFF - s if s else 0, *fields[5:]) + options


# Options start at octet 12 (24 for a Binding Error) and encode_options pads them so the MH
# length is a multiple of 8; Header Len is that length in 8-octet units, less one. A message too
# long for Header Len's octet fails in struct (as do out-of-range fields) and becomes ValueError.
# ``int(flags)``: an IntFlag's own ``&`` is ten times slower than an int's.


def _sum_with_pseudo(src: Address, dst: Address, length: int, words: int, options: bytes) -> int:
    # One's complement sum (mod 0xFFFF) of the pseudo-header, the fixed part given as the plain
    # sum of its 16-bit words, and the options, which start at an even offset.
    pseudo = _PSEUDO_SUMS.get((src, dst))
    if pseudo is None:
        pseudo = _pseudo_header_sum(src, dst)
    s = (pseudo + length + words + int.from_bytes(options, "big")) % 0xFFFF
    return 0xFFFF - s if s else 0


def _encode_pbu(m: Any, src: Address | None, dst: Address | None) -> bytes:
    options = encode_options(m.options, 12)
    length = 12 + len(options)
    hlen = (length >> 3) - 1
    seq = m.sequence
    flags = int(m.flags) & 0xFFC0
    lifetime = m.lifetime
    checksum = 0
    if src is not None:
        pseudo = _PSEUDO_SUMS.get((src, dst))  # type: ignore[arg-type]
        if pseudo is None:
            pseudo = _pseudo_header_sum(src, dst)  # type: ignore[arg-type]
        total = pseudo + length + 0x4000 + hlen + seq + flags + lifetime  # 0x3B00 + 0x0500
        checksum = 0xFFFF - (total + int.from_bytes(options, "big")) % 0xFFFF
        if checksum == 0xFFFF:
            checksum = 0
    return _PBU.pack(59, hlen, 5, 0, checksum, seq, flags, lifetime) + options


def _encode_pba(m: Any, src: Address | None, dst: Address | None) -> bytes:
    options = encode_options(m.options, 12)
    length = 12 + len(options)
    hlen = (length >> 3) - 1
    status = m.status
    flags = int(m.flags) & 0xF8
    seq = m.sequence
    lifetime = m.lifetime
    checksum = 0
    if src is not None:
        words = 0x3B00 + hlen + 0x0600 + (status << 8) + flags + seq + lifetime
        checksum = _sum_with_pseudo(src, dst, length, words, options)  # type: ignore[arg-type]
    return _PBA.pack(59, hlen, 6, 0, checksum, status, flags, seq, lifetime) + options


def _encode_heartbeat(m: Any, src: Address | None, dst: Address | None) -> bytes:
    options = encode_options(m.options, 12)
    hlen = ((12 + len(options)) >> 3) - 1
    flags = (2 if m.unsolicited else 0) | (1 if m.response else 0)
    fields = (59, hlen, 13, 0, 0, flags, m.sequence)
    if src is None:
        return _HEARTBEAT.pack(*fields) + options
    return _checksummed(_HEARTBEAT.pack, options, src, dst, *fields)  # type: ignore[arg-type]


def _encode_revocation(
    br_type: int, code: int, m: Any, src: Address | None, dst: Address | None
) -> bytes:
    options = encode_options(m.options, 12)
    hlen = ((12 + len(options)) >> 3) - 1
    fields = (59, hlen, 16, 0, 0, br_type, code, m.sequence, int(m.flags) & 0xE000)
    if src is None:
        return _REVOCATION.pack(*fields) + options
    return _checksummed(_REVOCATION.pack, options, src, dst, *fields)  # type: ignore[arg-type]


def _encode_bri(m: Any, src: Address | None, dst: Address | None) -> bytes:
    return _encode_revocation(1, m.trigger, m, src, dst)


def _encode_bra(m: Any, src: Address | None, dst: Address | None) -> bytes:
    return _encode_revocation(2, m.status, m, src, dst)


def _encode_upn(m: Any, src: Address | None, dst: Address | None) -> bytes:
    options = encode_options(m.options, 12)
    hlen = ((12 + len(options)) >> 3) - 1
    flags = (0x8000 if m.ack_requested else 0) | (0x4000 if m.retransmission else 0)
    fields = (59, hlen, 19, 0, 0, m.sequence, m.reason, flags)
    if src is None:
        return _UPN.pack(*fields) + options
    return _checksummed(_UPN.pack, options, src, dst, *fields)  # type: ignore[arg-type]


def _encode_upa(m: Any, src: Address | None, dst: Address | None) -> bytes:
    options = encode_options(m.options, 12)
    hlen = ((12 + len(options)) >> 3) - 1
    fields = (59, hlen, 20, 0, 0, m.sequence, m.status)
    if src is None:
        return _UPA.pack(*fields) + options
    return _checksummed(_UPA.pack, options, src, dst, *fields)  # type: ignore[arg-type]


def _encode_binding_error(m: Any, src: Address | None, dst: Address | None) -> bytes:
    if len(m.home_address) != 16:
        raise ValueError(f"home address must be 16 octets, got {len(m.home_address)}")
    options = encode_options(m.options, 24)
    hlen = ((24 + len(options)) >> 3) - 1
    fields = (59, hlen, 7, 0, 0, m.status, 0, m.home_address)
    if src is None:
        return _BINDING_ERROR.pack(*fields) + options
    return _checksummed(_BINDING_ERROR.pack, options, src, dst, *fields)  # type: ignore[arg-type]


_MESSAGE_ENCODERS: dict[type[Any], Callable[[Any, Address | None, Address | None], bytes]] = {
    ProxyBindingUpdate: _encode_pbu,
    ProxyBindingAcknowledgement: _encode_pba,
    Heartbeat: _encode_heartbeat,
    BindingRevocationIndication: _encode_bri,
    BindingRevocationAcknowledgement: _encode_bra,
    UpdateNotification: _encode_upn,
    UpdateNotificationAcknowledgement: _encode_upa,
    BindingError: _encode_binding_error,
}


def encode_mobility_header(
    message: MobilityMessage,
    *,
    source: Address | None = None,
    destination: Address | None = None,
) -> bytes:
    """Encode ``message`` as a Mobility Header.

    With ``source`` and ``destination`` (the IPv6 addresses of the packet) the checksum is
    computed; without them it is left 0, as RFC 5844 UDP framing and ``IPV6_CHECKSUM`` want.
    Raises ``ValueError`` for a field value that does not fit on the wire.
    """
    encoder = _MESSAGE_ENCODERS.get(type(message))
    if encoder is None:
        raise TypeError(f"{message!r} is not a mobility message")
    if (source is None) is not (destination is None):
        raise ValueError("give both source and destination for the checksum, or neither")
    try:
        return encoder(message, source, destination)
    except struct.error as exc:
        raise ValueError(f"a field of {type(message).__name__} does not fit: {exc}") from None


# ------------------------------------------------------------------------------------- decoding
# Each takes the whole MH and its verified length, and returns the message.

_BU_FLAGS = {w: BindingUpdateFlag(w) for w in range(0, 0x10000, 0x40)}
_BA_FLAGS = {w: BindingAcknowledgementFlag(w) for w in range(0, 0x100, 0x8)}
_BR_FLAGS = {w: RevocationFlag(w) for w in range(0, 0x10000, 0x2000)}
_BINDING_STATUS = {int(m): m for m in BindingStatus}
_REVOCATION_TRIGGER = {int(m): m for m in RevocationTrigger}
_REVOCATION_STATUS = {int(m): m for m in RevocationStatus}
_UPN_REASON = {int(m): m for m in UpdateNotificationReason}
_UPN_STATUS = {int(m): m for m in UpdateNotificationStatus}


def _too_short(name: str, need: int, length: int) -> TruncatedMessageError:
    return TruncatedMessageError(
        f"{name} needs at least {need} octets of Mobility Header, Header Len gives {length}",
        offset=1,
    )


def _decode_pbu(data: bytes, length: int) -> MobilityMessage:
    if length < 12:
        raise _too_short("a Binding Update", 12, length)
    seq, flags, lifetime = _HHH.unpack_from(data, 6)
    return _new(
        ProxyBindingUpdate,
        (seq, lifetime, _BU_FLAGS[flags & 0xFFC0], decode_options(data, 12, length)),
    )


def _decode_pba(data: bytes, length: int) -> MobilityMessage:
    if length < 12:
        raise _too_short("a Binding Acknowledgement", 12, length)
    status, flags, seq, lifetime = _BBHH.unpack_from(data, 6)
    return _new(
        ProxyBindingAcknowledgement,
        (
            _BINDING_STATUS.get(status, status),
            seq,
            lifetime,
            _BA_FLAGS[flags & 0xF8],
            decode_options(data, 12, length),
        ),
    )


def _decode_heartbeat(data: bytes, length: int) -> MobilityMessage:
    if length < 12:
        raise _too_short("a Heartbeat", 12, length)
    flags, seq = _HI.unpack_from(data, 6)
    return _new(
        Heartbeat, (seq, bool(flags & 1), bool(flags & 2), decode_options(data, 12, length))
    )


def _decode_binding_revocation(data: bytes, length: int) -> MobilityMessage:
    if length < 12:
        raise _too_short("a Binding Revocation message", 12, length)
    br_type, code, seq, flags = _BBHH.unpack_from(data, 6)
    options = decode_options(data, 12, length)
    if br_type == 1:
        return _new(
            BindingRevocationIndication,
            (_REVOCATION_TRIGGER.get(code, code), seq, _BR_FLAGS[flags & 0xE000], options),
        )
    if br_type == 2:
        return _new(
            BindingRevocationAcknowledgement,
            (_REVOCATION_STATUS.get(code, code), seq, _BR_FLAGS[flags & 0xE000], options),
        )
    raise WireFormatError(
        f"unknown Binding Revocation type {br_type} (1 is BRI, 2 is BRA)", offset=6
    )


def _decode_upn(data: bytes, length: int) -> MobilityMessage:
    if length < 12:
        raise _too_short("an Update Notification", 12, length)
    seq, reason, flags = _HHH.unpack_from(data, 6)
    return _new(
        UpdateNotification,
        (
            seq,
            _UPN_REASON.get(reason, reason),
            bool(flags & 0x8000),
            bool(flags & 0x4000),
            decode_options(data, 12, length),
        ),
    )


def _decode_upa(data: bytes, length: int) -> MobilityMessage:
    if length < 12:
        raise _too_short("an Update Notification Acknowledgement", 12, length)
    seq, status = _HB3.unpack_from(data, 6)
    return _new(
        UpdateNotificationAcknowledgement,
        (seq, _UPN_STATUS.get(status, status), decode_options(data, 12, length)),
    )


def _decode_binding_error(data: bytes, length: int) -> MobilityMessage:
    if length < 24:
        raise _too_short("a Binding Error", 24, length)
    status, _reserved, home = _BB16.unpack_from(data, 6)
    return _new(BindingError, (status, home, decode_options(data, 24, length)))


_MESSAGE_DECODERS: dict[int, Callable[[bytes, int], MobilityMessage]] = {
    MobilityHeaderType.BINDING_UPDATE: _decode_pbu,
    MobilityHeaderType.BINDING_ACKNOWLEDGEMENT: _decode_pba,
    MobilityHeaderType.HEARTBEAT: _decode_heartbeat,
    MobilityHeaderType.BINDING_REVOCATION: _decode_binding_revocation,
    MobilityHeaderType.UPDATE_NOTIFICATION: _decode_upn,
    MobilityHeaderType.UPDATE_NOTIFICATION_ACKNOWLEDGEMENT: _decode_upa,
    MobilityHeaderType.BINDING_ERROR: _decode_binding_error,
}


def decode_mobility_header(
    data: bytes,
    *,
    source: Address | None = None,
    destination: Address | None = None,
) -> MobilityMessage:
    """Decode one Mobility Header that fills ``data`` exactly.

    With ``source`` and ``destination`` the checksum is verified (:class:`ChecksumError`);
    without them it is ignored. Raises :class:`WireFormatError` or a subclass for anything wrong,
    :class:`UnknownMessageTypeError` for an MH type we do not implement.
    """
    if type(data) is not bytes:  # bytearray / memoryview from a socket
        data = bytes(data)
    size = len(data)
    if size >= 12 and data[0] == IPPROTO_NONE and (data[1] + 1) << 3 == size:
        mh_type = data[2]
        if mh_type == 5:  # the common case, a PBU, without the table and the extra calls
            if source is not None and destination is not None:
                _verify(data, size, source, destination)
            seq, flags, lifetime = _HHH.unpack_from(data, 6)
            return _new(
                ProxyBindingUpdate,
                (seq, lifetime, _BU_FLAGS[flags & 0xFFC0], decode_options(data, 12, size)),
            )
    if size < 8:
        raise TruncatedMessageError(
            f"{size} octets cannot hold a Mobility Header (at least 8)", offset=size
        )
    length = (data[1] + 1) << 3
    if length > size:
        raise TruncatedMessageError(
            f"Header Len says {length} octets but only {size} arrived", offset=size
        )
    if length < size:
        raise WireFormatError(
            f"{size - length} octets follow the {length}-octet Mobility Header", offset=length
        )
    if data[0] != IPPROTO_NONE:
        raise WireFormatError(f"Payload Proto is {data[0]}, must be 59 (no next header)", offset=0)
    decoder = _MESSAGE_DECODERS.get(data[2])
    if decoder is None:
        raise UnknownMessageTypeError(data[2])
    if source is not None and destination is not None:
        _verify(data, size, source, destination)
    return decoder(data, length)


def _verify(data: bytes, size: int, source: Address, destination: Address) -> None:
    """Raise ChecksumError unless the MH checksum verifies (``size`` is a multiple of 8)."""
    pseudo = _PSEUDO_SUMS.get((source, destination))
    if pseudo is None:
        try:
            pseudo = _pseudo_header_sum(source, destination)
        except ValueError as exc:
            raise ValueError(f"bad address for the checksum: {exc}") from None
    if (pseudo + size + int.from_bytes(data, "big")) % 0xFFFF:
        expected = mobility_header_checksum(data[:4] + bytes(2) + data[6:], source, destination)
        raise ChecksumError(
            f"checksum 0x{data[4] << 8 | data[5]:04x} does not verify (expected 0x{expected:04x})",
            offset=4,
        )
