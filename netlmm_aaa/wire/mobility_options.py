"""Encoding and decoding of mobility options (RFC 6275 §6.2, RFC 5213 §8, RFC 5844, 5845, 5847).

Rules (RFC 6275 §6.2):

- Every option but Pad1 is Type (8), Length (8, octets after these two), data.
- Senders align each option as its RFC says ("xn+y": the Type octet sits at an offset from the start
  of the Mobility Header that is y modulo x), with Pad1 for one octet and PadN for more, and pad the
  whole header to a multiple of 8 octets.
- Receivers must accept any alignment and any run of Pad1/PadN (published implementations misalign
  the HNP and pad with six Pad1s), skip option types they do not know (kept as ``UnknownOption``),
  and check every length: an option running past the end of the header, or a known option whose
  length differs from its definition, makes the whole message untrustworthy (``WireFormatError``).

Decoders are small functions ``(data, start, length) -> option`` in a table keyed by Type; they
build the NamedTuple with ``tuple.__new__`` directly, which is the fastest way CPython offers.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from netlmm_aaa.core.codes import (
    AccessTechnologyType,
    HandoffIndicator,
    IPv4HomeAddressReplyStatus,
    MobilityOptionType,
)
from netlmm_aaa.core.errors import InvalidOptionError, TruncatedMessageError
from netlmm_aaa.core.options import (
    AccessTechnologyTypeOption,
    BindingRefreshAdviceOption,
    GreKeyOption,
    HandoffIndicatorOption,
    HomeNetworkPrefixOption,
    IPv4DefaultRouterAddressOption,
    IPv4DhcpSupportModeOption,
    IPv4HomeAddressReplyOption,
    IPv4HomeAddressRequestOption,
    LinkLocalAddressOption,
    MobileNodeIdentifierOption,
    MobileNodeLinkLayerIdentifierOption,
    MobilityOption,
    RestartCounterOption,
    TimestampOption,
    UnknownOption,
)

_new = tuple.__new__
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")

#: Alignment (x, y) of each option Type that has a requirement (RFC sections in the module doc).
ALIGNMENT: dict[int, tuple[int, int]] = {
    MobilityOptionType.BINDING_REFRESH_ADVICE: (2, 0),
    MobilityOptionType.HOME_NETWORK_PREFIX: (8, 4),
    MobilityOptionType.LINK_LOCAL_ADDRESS: (8, 6),
    MobilityOptionType.TIMESTAMP: (8, 2),
    MobilityOptionType.RESTART_COUNTER: (4, 2),
    MobilityOptionType.GRE_KEY: (4, 0),
    MobilityOptionType.IPV4_HOME_ADDRESS_REQUEST: (4, 0),
    MobilityOptionType.IPV4_HOME_ADDRESS_REPLY: (4, 0),
    MobilityOptionType.IPV4_DEFAULT_ROUTER_ADDRESS: (4, 0),
}

#: Padding of 0..7 octets: Pad1 for one, PadN (zero-filled) for more.
PADDING: tuple[bytes, ...] = (
    b"",
    b"\x00",
    *(bytes((1, n - 2)) + bytes(n - 2) for n in range(2, 8)),
)

_HI_VALUES: dict[int, int] = {int(m): m for m in HandoffIndicator}
_ATT_VALUES: dict[int, int] = {int(m): m for m in AccessTechnologyType}
_HOA_STATUS_VALUES: dict[int, int] = {int(m): m for m in IPv4HomeAddressReplyStatus}


def _bad_length(name: str, length: int, expected: str, start: int) -> InvalidOptionError:
    return InvalidOptionError(
        f"{name} option has length {length}, must be {expected}", offset=start - 2
    )


# --------------------------------------------------------------------------------------- decoders
# Each takes the whole buffer, the offset of the option's data and its Length octet.


def _decode_refresh_advice(data: bytes, p: int, n: int) -> MobilityOption:
    if n != 2:
        raise _bad_length("Binding Refresh Advice", n, "2", p)
    return _new(BindingRefreshAdviceOption, ((data[p] << 8) | data[p + 1],))


def _decode_mn_id(data: bytes, p: int, n: int) -> MobilityOption:
    if n < 1:
        raise _bad_length("Mobile Node Identifier", n, "at least 1 (the subtype)", p)
    return _new(MobileNodeIdentifierOption, (data[p + 1 : p + n], data[p]))


def _decode_hnp(data: bytes, p: int, n: int) -> MobilityOption:
    if n != 18:
        raise _bad_length("Home Network Prefix", n, "18", p)
    plen = data[p + 1]
    if plen > 128:
        raise InvalidOptionError(f"Home Network Prefix length {plen} exceeds 128", offset=p + 1)
    return _new(HomeNetworkPrefixOption, (data[p + 2 : p + 18], plen))


# Handoff Indicator, Access Technology Type and DHCP mode have few possible values: their option
# objects are made once here and shared (they are immutable), so decoding them allocates nothing.
_HI_OPTIONS = [tuple.__new__(HandoffIndicatorOption, (_HI_VALUES.get(v, v),)) for v in range(256)]
_ATT_OPTIONS = [
    tuple.__new__(AccessTechnologyTypeOption, (_ATT_VALUES.get(v, v),)) for v in range(256)
]
_DHCP_MODE_OPTIONS = [
    tuple.__new__(IPv4DhcpSupportModeOption, (False,)),
    tuple.__new__(IPv4DhcpSupportModeOption, (True,)),
]


def _decode_hi(data: bytes, p: int, n: int) -> MobilityOption:
    if n != 2:
        raise _bad_length("Handoff Indicator", n, "2", p)
    return _HI_OPTIONS[data[p + 1]]


def _decode_att(data: bytes, p: int, n: int) -> MobilityOption:
    if n != 2:
        raise _bad_length("Access Technology Type", n, "2", p)
    return _ATT_OPTIONS[data[p + 1]]


def _decode_mn_ll_id(data: bytes, p: int, n: int) -> MobilityOption:
    if n < 2:
        raise _bad_length("MN Link-layer Identifier", n, "at least 2", p)
    return _new(MobileNodeLinkLayerIdentifierOption, (data[p + 2 : p + n],))


def _decode_lla(data: bytes, p: int, n: int) -> MobilityOption:
    if n != 16:
        raise _bad_length("Link-local Address", n, "16", p)
    return _new(LinkLocalAddressOption, (data[p : p + 16],))


def _decode_timestamp(data: bytes, p: int, n: int) -> MobilityOption:
    if n != 8:
        raise _bad_length("Timestamp", n, "8", p)
    return _new(TimestampOption, _U64.unpack_from(data, p))


def _decode_restart_counter(data: bytes, p: int, n: int) -> MobilityOption:
    if n != 4:
        raise _bad_length("Restart Counter", n, "4", p)
    return _new(RestartCounterOption, _U32.unpack_from(data, p))


def _decode_gre_key(data: bytes, p: int, n: int) -> MobilityOption:
    if n == 2:
        return _new(GreKeyOption, (None,))
    if n != 6:
        raise _bad_length("GRE Key", n, "2 or 6", p)
    return _new(GreKeyOption, _U32.unpack_from(data, p + 2))


def _decode_hoa_request(data: bytes, p: int, n: int) -> MobilityOption:
    if n != 6:
        raise _bad_length("IPv4 Home Address Request", n, "6", p)
    plen = data[p] >> 2
    if plen > 32:
        raise InvalidOptionError(f"IPv4 home address prefix length {plen} exceeds 32", offset=p)
    return _new(IPv4HomeAddressRequestOption, (data[p + 2 : p + 6], plen))


def _decode_hoa_reply(data: bytes, p: int, n: int) -> MobilityOption:
    if n != 6:
        raise _bad_length("IPv4 Home Address Reply", n, "6", p)
    plen = data[p + 1] >> 2
    if plen > 32:
        raise InvalidOptionError(f"IPv4 home address prefix length {plen} exceeds 32", offset=p + 1)
    status = data[p]
    return _new(
        IPv4HomeAddressReplyOption,
        (_HOA_STATUS_VALUES.get(status, status), data[p + 2 : p + 6], plen),
    )


def _decode_default_router(data: bytes, p: int, n: int) -> MobilityOption:
    if n != 6:
        raise _bad_length("IPv4 Default-Router Address", n, "6", p)
    return _new(IPv4DefaultRouterAddressOption, (data[p + 2 : p + 6],))


def _decode_dhcp_mode(data: bytes, p: int, n: int) -> MobilityOption:
    if n != 2:
        raise _bad_length("IPv4 DHCP Support Mode", n, "2", p)
    return _DHCP_MODE_OPTIONS[data[p + 1] & 1]


_Decoder = Callable[[bytes, int, int], MobilityOption]

_DECODERS: dict[int, _Decoder] = {
    MobilityOptionType.BINDING_REFRESH_ADVICE: _decode_refresh_advice,
    MobilityOptionType.MOBILE_NODE_IDENTIFIER: _decode_mn_id,
    MobilityOptionType.HOME_NETWORK_PREFIX: _decode_hnp,
    MobilityOptionType.HANDOFF_INDICATOR: _decode_hi,
    MobilityOptionType.ACCESS_TECHNOLOGY_TYPE: _decode_att,
    MobilityOptionType.MOBILE_NODE_LINK_LAYER_IDENTIFIER: _decode_mn_ll_id,
    MobilityOptionType.LINK_LOCAL_ADDRESS: _decode_lla,
    MobilityOptionType.TIMESTAMP: _decode_timestamp,
    MobilityOptionType.RESTART_COUNTER: _decode_restart_counter,
    MobilityOptionType.GRE_KEY: _decode_gre_key,
    MobilityOptionType.IPV4_HOME_ADDRESS_REQUEST: _decode_hoa_request,
    MobilityOptionType.IPV4_HOME_ADDRESS_REPLY: _decode_hoa_reply,
    MobilityOptionType.IPV4_DEFAULT_ROUTER_ADDRESS: _decode_default_router,
    MobilityOptionType.IPV4_DHCP_SUPPORT_MODE: _decode_dhcp_mode,
}


def decode_options(data: bytes, start: int, end: int) -> tuple[MobilityOption, ...]:
    """Decode the options in ``data[start:end]`` (offsets are from the start of the MH).

    Padding is skipped; unknown types become :class:`UnknownOption`. Raises
    :class:`~netlmm_aaa.core.errors.WireFormatError` (a subclass) on any length problem.
    """
    out: list[MobilityOption] = []
    append = out.append
    decoders = _DECODERS
    pos = start
    if end > len(data):
        end = len(data)
    while pos < end:
        otype = data[pos]
        if otype == 0:  # Pad1
            pos += 1
            continue
        at = pos + 1
        if at >= end:
            raise TruncatedMessageError(
                f"mobility option type {otype} has no Length octet before the end", offset=pos
            )
        length = data[at]
        nxt = at + 1 + length
        if nxt > end:
            raise TruncatedMessageError(
                f"mobility option type {otype} with length {length} runs past the end of the "
                f"message ({end - pos - 2} octets left)",
                offset=pos,
            )
        # The options of every PBU/PBA are decoded inline (a call costs as much as the work);
        # the rest go through the table.
        if otype == 8 and length:  # MN-ID
            append(_new(MobileNodeIdentifierOption, (data[pos + 3 : nxt], data[pos + 2])))
        elif otype == 22 and length == 18 and data[pos + 3] <= 128:  # HNP
            append(_new(HomeNetworkPrefixOption, (data[pos + 4 : nxt], data[pos + 3])))
        elif otype == 23 and length == 2:  # HI
            append(_HI_OPTIONS[data[pos + 3]])
        elif otype == 24 and length == 2:  # ATT
            append(_ATT_OPTIONS[data[pos + 3]])
        elif otype == 27 and length == 8:  # Timestamp
            append(_new(TimestampOption, (int.from_bytes(data[pos + 2 : nxt], "big"),)))
        elif otype == 25 and length >= 2:  # MN-LL-ID
            append(_new(MobileNodeLinkLayerIdentifierOption, (data[pos + 4 : nxt],)))
        elif otype != 1:  # PadN is skipped
            decoder = decoders.get(otype)
            if decoder is None:
                append(_new(UnknownOption, (otype, data[pos + 2 : nxt])))
            else:
                append(decoder(data, pos + 2, length))
        pos = nxt
    return tuple(out)


# --------------------------------------------------------------------------------------- encoders
# Each returns the whole option (Type, Length, data). Integer ranges are checked by ``struct``
# (``struct.error``, turned into ValueError by the message encoder); byte-string sizes, which
# ``struct`` would silently pad or cut, are checked here. A value that does not fit is our own
# caller's bug, not a peer's, hence ValueError and not WireFormatError.

_PACK_U16_OPT = struct.Struct("!BBH").pack
_PACK_U32_OPT = struct.Struct("!BBI").pack
_PACK_U64_OPT = struct.Struct("!BBQ").pack
_PACK_2 = struct.Struct("!BB").pack
_PACK_3 = struct.Struct("!BBB").pack
_PACK_4 = struct.Struct("!BBBB").pack
_PACK_HNP = struct.Struct("!BBBB16s").pack
_PACK_GRE = struct.Struct("!BBHI").pack


def _size_error(name: str, value: bytes, size: int) -> ValueError:
    return ValueError(f"{name} must be {size} octets, got {len(value)}")


def _encode_refresh_advice(o: Any) -> bytes:
    return _PACK_U16_OPT(2, 2, o.refresh_interval)


def _encode_mn_id(o: Any) -> bytes:
    ident: bytes = o.identifier
    if len(ident) > 254:
        raise ValueError(f"MN identifier is {len(ident)} octets; at most 254 fit in an option")
    return _PACK_3(8, len(ident) + 1, o.subtype) + ident


def _encode_hnp(o: Any) -> bytes:
    prefix = o.prefix
    if len(prefix) != 16:
        raise _size_error("home network prefix", prefix, 16)
    if o.prefix_length > 128:
        raise ValueError(f"prefix length {o.prefix_length!r} is not within 0-128")
    return _PACK_HNP(22, 18, 0, o.prefix_length, prefix)


def _encode_hi(o: Any) -> bytes:
    return _PACK_4(23, 2, 0, o.indicator)


def _encode_att(o: Any) -> bytes:
    return _PACK_4(24, 2, 0, o.access_technology)


_HI_BYTES = [bytes((23, 2, 0, v)) for v in range(256)]
_ATT_BYTES = [bytes((24, 2, 0, v)) for v in range(256)]


def _encode_mn_ll_id(o: Any) -> bytes:
    lli: bytes = o.link_layer_identifier
    if len(lli) > 251:
        raise ValueError(f"link-layer identifier is {len(lli)} octets; at most 251 fit")
    return _PACK_4(25, len(lli) + 2, 0, 0) + lli


def _encode_lla(o: Any) -> bytes:
    address: bytes = o.address
    if len(address) != 16:
        raise _size_error("link-local address", address, 16)
    return b"\x1a\x10" + address


def _encode_timestamp(o: Any) -> bytes:
    return _PACK_U64_OPT(27, 8, o.timestamp)


def _encode_restart_counter(o: Any) -> bytes:
    return _PACK_U32_OPT(28, 4, o.counter)


def _encode_gre_key(o: Any) -> bytes:
    if o.key is None:
        return b"\x21\x02\x00\x00"
    return _PACK_GRE(33, 6, 0, o.key)


def _ipv4_prefix_length(plen: int) -> int:
    if not 0 <= plen <= 32:
        raise ValueError(f"IPv4 prefix length {plen!r} is not within 0-32")
    return plen << 2


def _encode_hoa_request(o: Any) -> bytes:
    address: bytes = o.address
    if len(address) != 4:
        raise _size_error("IPv4 home address", address, 4)
    return _PACK_4(36, 6, _ipv4_prefix_length(o.prefix_length), 0) + address


def _encode_hoa_reply(o: Any) -> bytes:
    address: bytes = o.address
    if len(address) != 4:
        raise _size_error("IPv4 home address", address, 4)
    return _PACK_4(37, 6, o.status, _ipv4_prefix_length(o.prefix_length)) + address


def _encode_default_router(o: Any) -> bytes:
    address: bytes = o.address
    if len(address) != 4:
        raise _size_error("IPv4 default-router address", address, 4)
    return b"\x26\x06\x00\x00" + address


def _encode_dhcp_mode(o: Any) -> bytes:
    return b"\x27\x02\x00\x01" if o.server else b"\x27\x02\x00\x00"


def _encode_unknown(o: Any) -> bytes:
    if o.option_type < 2:
        raise ValueError("padding is inserted by the encoder; do not pass Pad1/PadN options")
    if len(o.data) > 255:
        raise ValueError(f"option data is {len(o.data)} octets; at most 255 fit")
    data: bytes = o.data
    return _PACK_2(o.option_type, len(data)) + data


# (encoder, alignment modulus, alignment remainder); modulus 1 means no requirement.
_ENCODERS: dict[type[Any], tuple[Callable[[Any], bytes], int, int]] = {}
for _cls, _enc, _otype in (
    (BindingRefreshAdviceOption, _encode_refresh_advice, 2),
    (MobileNodeIdentifierOption, _encode_mn_id, 8),
    (HomeNetworkPrefixOption, _encode_hnp, 22),
    (HandoffIndicatorOption, _encode_hi, 23),
    (AccessTechnologyTypeOption, _encode_att, 24),
    (MobileNodeLinkLayerIdentifierOption, _encode_mn_ll_id, 25),
    (LinkLocalAddressOption, _encode_lla, 26),
    (TimestampOption, _encode_timestamp, 27),
    (RestartCounterOption, _encode_restart_counter, 28),
    (GreKeyOption, _encode_gre_key, 33),
    (IPv4HomeAddressRequestOption, _encode_hoa_request, 36),
    (IPv4HomeAddressReplyOption, _encode_hoa_reply, 37),
    (IPv4DefaultRouterAddressOption, _encode_default_router, 38),
    (IPv4DhcpSupportModeOption, _encode_dhcp_mode, 39),
    (UnknownOption, _encode_unknown, -1),
):
    _ENCODERS[_cls] = (_enc, *ALIGNMENT.get(_otype, (1, 0)))


def encode_options(options: Sequence[MobilityOption], offset: int) -> bytes:
    """Encode ``options`` for a message whose options start at MH offset ``offset``.

    Inserts the padding each option's alignment needs and pads the end so that ``offset`` plus the
    result is a multiple of 8. Raises ``ValueError`` for a value that does not fit its field.
    """
    parts: list[bytes] = []
    append = parts.append
    pos = offset
    try:
        for option in options:
            kind = type(option)
            o: Any = option  # the type tests below narrow it; mypy cannot follow ``kind is``
            # The options of every PBU/PBA are encoded inline, alignment included; the rest
            # (and any value these paths do not accept) go through the table.
            if kind is HandoffIndicatorOption or kind is AccessTechnologyTypeOption:
                value = o[0]
                if type(value) is not bool and 0 <= value <= 255:
                    append((_HI_BYTES if kind is HandoffIndicatorOption else _ATT_BYTES)[value])
                    pos += 4
                    continue
            elif kind is MobileNodeIdentifierOption:
                ident = o.identifier
                if len(ident) <= 254:
                    append(_PACK_3(8, len(ident) + 1, o.subtype) + ident)
                    pos += len(ident) + 3
                    continue
            elif kind is HomeNetworkPrefixOption:
                prefix, plen = o.prefix, o.prefix_length
                if len(prefix) == 16 and 0 <= plen <= 128:
                    pad = (4 - pos) & 7  # 8n+4
                    if pad:
                        append(PADDING[pad])
                    append(_PACK_HNP(22, 18, 0, plen, prefix))
                    pos += pad + 20
                    continue
            elif kind is TimestampOption:
                pad = (2 - pos) & 7  # 8n+2
                if pad:
                    append(PADDING[pad])
                append(_PACK_U64_OPT(27, 8, o.timestamp))
                pos += pad + 10
                continue
            elif kind is MobileNodeLinkLayerIdentifierOption:
                lli = o.link_layer_identifier
                if len(lli) <= 251:
                    append(_PACK_4(25, len(lli) + 2, 0, 0) + lli)
                    pos += len(lli) + 4
                    continue
            try:
                encoder, modulus, remainder = _ENCODERS[kind]
            except KeyError:
                raise TypeError(f"{option!r} is not a mobility option") from None
            if modulus != 1:
                pad = (remainder - pos) % modulus
                if pad:
                    append(PADDING[pad])
                    pos += pad
            encoded = encoder(option)
            append(encoded)
            pos += len(encoded)
    except struct.error as exc:
        raise ValueError(f"a mobility option value does not fit on the wire: {exc}") from None
    pad = -pos % 8
    if pad:
        append(PADDING[pad])
    return b"".join(parts)
