"""Scapy layers for the PMIPv6 messages and options scapy 2.8 lacks, registered on import.

For users and tests (crafting packets, reading pcaps interactively); the daemons use the hand codec
in :mod:`.mobility_header`, which is about a hundred times faster and validates what scapy does
not (scapy silently absorbs option-length overruns and never checks Header Len or the checksum).

Importing this module:

- adds option classes for types 22-28, 33 and 36-39 to scapy's mobility-option table, with the
  RFC alignment so scapy inserts the right Pad1/PadN when building;
- registers full-flag Proxy Binding Update / Acknowledgement classes (scapy's own lack F, T, B),
  Heartbeat (13), Binding Revocation (16, BRI/BRA by B.R. Type), Update Notification (19) and
  Acknowledgement (20) for dissection after IPv6 next header 135;
- binds UDP port 5436 (RFC 5844: the MH directly in UDP, checksum 0) in both directions.

Example::

    >>> from scapy.layers.inet6 import IPv6, MIP6OptMNID
    >>> from netlmm_aaa.wire.scapy_layers import PMIP6MH_PBU, PMIP6OptHomeNetworkPrefix
    >>> pkt = IPv6(src="2001:db8::2", dst="2001:db8::1") / PMIP6MH_PBU(
    ...     seq=7, mhtime=15, options=[MIP6OptMNID(id=b"mn@example.org"),
    ...                                PMIP6OptHomeNetworkPrefix(prefix="2001:db8:1::")])
"""

from __future__ import annotations

from typing import Any

from scapy.fields import (
    BitEnumField,
    BitField,
    ByteEnumField,
    ByteField,
    FieldLenField,
    FlagsField,
    IntField,
    IP6Field,
    IPField,
    ShortEnumField,
    ShortField,
    StrLenField,
    X3BytesField,
    XBitField,
    XShortField,
)
from scapy.layers.inet import UDP
from scapy.layers.inet6 import (
    IPv6,
    MIP6MH_Generic,
    MIP6OptUnknown,
    _mip6_mhtype2cls,
    _MIP6OptAlign,
    _MobilityHeader,
    _mobopttypes,
    _OptionsField,
    _PhantomAutoPadField,
    in6_chksum,
    ipv6nh,
    mhtypes,
    moboptcls,
)
from scapy.packet import Packet, bind_layers

from netlmm_aaa.core.codes import (
    AccessTechnologyType,
    BindingStatus,
    HandoffIndicator,
    IPv4HomeAddressReplyStatus,
    MobilityOptionType,
    RevocationStatus,
    RevocationTrigger,
    UpdateNotificationReason,
    UpdateNotificationStatus,
)
from netlmm_aaa.wire.ipv4_udp_transport import PMIP6_CONTROL_PORT


def _names(enum: Any) -> dict[int, str]:
    return {int(m): m.name for m in enum}


# ----------------------------------------------------------------------------------- options


class PMIP6OptHomeNetworkPrefix(_MIP6OptAlign):
    """Home Network Prefix (RFC 5213 §8.3)."""

    name = "PMIPv6 Option - Home Network Prefix"
    fields_desc = [
        ByteEnumField("otype", 22, _mobopttypes),
        ByteField("olen", 18),
        ByteField("reserved", 0),
        ByteField("plen", 64),
        IP6Field("prefix", "::"),
    ]
    x = 8
    y = 4


class PMIP6OptHandoffIndicator(_MIP6OptAlign):
    """Handoff Indicator (RFC 5213 §8.4)."""

    name = "PMIPv6 Option - Handoff Indicator"
    fields_desc = [
        ByteEnumField("otype", 23, _mobopttypes),
        ByteField("olen", 2),
        ByteField("reserved", 0),
        ByteEnumField("hi", 1, _names(HandoffIndicator)),
    ]
    x = 0
    y = 0


class PMIP6OptAccessTechnologyType(_MIP6OptAlign):
    """Access Technology Type (RFC 5213 §8.5)."""

    name = "PMIPv6 Option - Access Technology Type"
    fields_desc = [
        ByteEnumField("otype", 24, _mobopttypes),
        ByteField("olen", 2),
        ByteField("reserved", 0),
        ByteEnumField("att", 4, _names(AccessTechnologyType)),
    ]
    x = 0
    y = 0


class PMIP6OptMNLinkLayerIdentifier(_MIP6OptAlign):
    """Mobile Node Link-layer Identifier (RFC 5213 §8.6)."""

    name = "PMIPv6 Option - MN Link-layer Identifier"
    fields_desc = [
        ByteEnumField("otype", 25, _mobopttypes),
        FieldLenField("olen", None, length_of="lli", fmt="B", adjust=lambda pkt, x: x + 2),
        ShortField("reserved", 0),
        StrLenField("lli", b"", length_from=lambda pkt: pkt.olen - 2),
    ]
    x = 0
    y = 0


class PMIP6OptLinkLocalAddress(_MIP6OptAlign):
    """Link-local Address (RFC 5213 §8.7)."""

    name = "PMIPv6 Option - Link-local Address"
    fields_desc = [
        ByteEnumField("otype", 26, _mobopttypes),
        ByteField("olen", 16),
        IP6Field("lla", "::"),
    ]
    x = 8
    y = 6


class PMIP6OptTimestamp(_MIP6OptAlign):
    """Timestamp (RFC 5213 §8.8): 48-bit seconds since 1970 and a 16-bit fraction."""

    name = "PMIPv6 Option - Timestamp"
    fields_desc = [
        ByteEnumField("otype", 27, _mobopttypes),
        ByteField("olen", 8),
        BitField("seconds", 0, 48),
        BitField("fraction", 0, 16),
    ]
    x = 8
    y = 2


class PMIP6OptRestartCounter(_MIP6OptAlign):
    """Restart Counter (RFC 5847 §3.4)."""

    name = "PMIPv6 Option - Restart Counter"
    fields_desc = [
        ByteEnumField("otype", 28, _mobopttypes),
        ByteField("olen", 4),
        IntField("counter", 0),
    ]
    x = 4
    y = 2


class PMIP6OptGREKey(_MIP6OptAlign):
    """GRE Key (RFC 5845 §6.1); build with ``olen=2`` and no key for the key-less form."""

    name = "PMIPv6 Option - GRE Key"
    fields_desc = [
        ByteEnumField("otype", 33, _mobopttypes),
        ByteField("olen", 6),
        ShortField("reserved", 0),
        StrLenField("key", b"\x00\x00\x00\x00", length_from=lambda pkt: max(pkt.olen - 2, 0)),
    ]
    x = 4
    y = 0


class PMIP6OptIPv4HoARequest(_MIP6OptAlign):
    """IPv4 Home Address Request (RFC 5844 §3.3.1)."""

    name = "PMIPv6 Option - IPv4 Home Address Request"
    fields_desc = [
        ByteEnumField("otype", 36, _mobopttypes),
        ByteField("olen", 6),
        BitField("plen", 0, 6),
        BitField("reserved", 0, 10),
        IPField("hoa", "0.0.0.0"),
    ]
    x = 4
    y = 0


class PMIP6OptIPv4HoAReply(_MIP6OptAlign):
    """IPv4 Home Address Reply (RFC 5844 §3.3.2)."""

    name = "PMIPv6 Option - IPv4 Home Address Reply"
    fields_desc = [
        ByteEnumField("otype", 37, _mobopttypes),
        ByteField("olen", 6),
        ByteEnumField("status", 0, _names(IPv4HomeAddressReplyStatus)),
        BitField("plen", 0, 6),
        BitField("reserved", 0, 2),
        IPField("hoa", "0.0.0.0"),
    ]
    x = 4
    y = 0


class PMIP6OptIPv4DefaultRouter(_MIP6OptAlign):
    """IPv4 Default-Router Address (RFC 5844 §3.3.3)."""

    name = "PMIPv6 Option - IPv4 Default-Router Address"
    fields_desc = [
        ByteEnumField("otype", 38, _mobopttypes),
        ByteField("olen", 6),
        ShortField("reserved", 0),
        IPField("dr", "0.0.0.0"),
    ]
    x = 4
    y = 0


class PMIP6OptIPv4DHCPSupportMode(_MIP6OptAlign):
    """IPv4 DHCP Support Mode (RFC 5844 §3.3.4); S=1: the MAG is the DHCP server."""

    name = "PMIPv6 Option - IPv4 DHCP Support Mode"
    fields_desc = [
        ByteEnumField("otype", 39, _mobopttypes),
        ByteField("olen", 2),
        BitField("reserved", 0, 15),
        BitField("S", 0, 1),
    ]
    x = 0
    y = 0


_OPTION_CLASSES: dict[int, type[Packet]] = {
    22: PMIP6OptHomeNetworkPrefix,
    23: PMIP6OptHandoffIndicator,
    24: PMIP6OptAccessTechnologyType,
    25: PMIP6OptMNLinkLayerIdentifier,
    26: PMIP6OptLinkLocalAddress,
    27: PMIP6OptTimestamp,
    28: PMIP6OptRestartCounter,
    33: PMIP6OptGREKey,
    36: PMIP6OptIPv4HoARequest,
    37: PMIP6OptIPv4HoAReply,
    38: PMIP6OptIPv4DefaultRouter,
    39: PMIP6OptIPv4DHCPSupportMode,
}

# ----------------------------------------------------------------------------------- messages


class _PMIP6Message(_MobilityHeader):
    """Computes the MH checksum over IPv6 only; over UDP 5436 it is 0 (RFC 5844 §4)."""

    overload_fields = {
        IPv6: {"nh": 135},
        UDP: {"sport": PMIP6_CONTROL_PORT, "dport": PMIP6_CONTROL_PORT},
    }

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        p += pay
        hlen = self.len if self.len is not None else (len(p) - 8) // 8
        p = p[:1] + bytes((hlen,)) + p[2:]
        if self.cksum is not None:
            cksum = self.cksum
        elif isinstance(self.underlayer, IPv6):
            cksum = in6_chksum(135, self.underlayer, p)
        else:
            cksum = 0
        return p[:4] + cksum.to_bytes(2, "big") + p[6:]


def _options(curpos: int) -> Any:
    return _OptionsField(
        "options", [], MIP6OptUnknown, curpos, length_from=lambda pkt: 8 * pkt.len - (curpos - 8)
    )


def _header(mhtype: int) -> list[Any]:
    return [
        ByteEnumField("nh", 59, ipv6nh),
        ByteField("len", None),
        ByteEnumField("mhtype", mhtype, mhtypes),
        ByteField("res", 0),
        XShortField("cksum", None),
    ]


class PMIP6MH_PBU(_PMIP6Message):
    """Proxy Binding Update (RFC 5213 §8.1) with every flag of the 16-bit word."""

    name = "PMIPv6 Mobility Header - Proxy Binding Update"
    fields_desc = [
        *_header(5),
        XShortField("seq", 0),
        FlagsField("flags", 0x208, 10, "BTFPRMKLHA"),
        XBitField("reserved", 0, 6),
        ShortField("mhtime", 3),
        _PhantomAutoPadField("autopad", 1),
        _options(12),
    ]


class PMIP6MH_PBA(_PMIP6Message):
    """Proxy Binding Acknowledgement (RFC 5213 §8.2) with K, R, P, T, B flags."""

    name = "PMIPv6 Mobility Header - Proxy Binding Acknowledgement"
    fields_desc = [
        *_header(6),
        ByteEnumField("status", 0, _names(BindingStatus)),
        FlagsField("flags", 0x04, 5, "BTPRK"),
        XBitField("res2", 0, 3),
        XShortField("seq", 0),
        ShortField("mhtime", 0),
        _PhantomAutoPadField("autopad", 1),
        _options(12),
    ]


class PMIP6MH_HB(_PMIP6Message):
    """Heartbeat (RFC 5847 §3.3)."""

    name = "PMIPv6 Mobility Header - Heartbeat"
    fields_desc = [
        *_header(13),
        XBitField("reserved", 0, 14),
        BitField("U", 0, 1),
        BitField("R", 0, 1),
        IntField("seq", 0),
        _PhantomAutoPadField("autopad", 1),
        _options(12),
    ]


class PMIP6MH_BR(_PMIP6Message):
    """Binding Revocation (RFC 5846 §5); dissects as :class:`PMIP6MH_BRI` or ``PMIP6MH_BRA``."""

    name = "PMIPv6 Mobility Header - Binding Revocation"
    fields_desc = [
        *_header(16),
        ByteEnumField("brtype", 1, {1: "BRI", 2: "BRA"}),
        ByteField("code", 0),
        XShortField("seq", 0),
        FlagsField("flags", 0x04, 3, "GVP"),
        XBitField("reserved", 0, 13),
        _PhantomAutoPadField("autopad", 1),
        _options(12),
    ]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kargs: Any) -> type[Packet]:
        if _pkt and len(_pkt) > 6:
            return {1: PMIP6MH_BRI, 2: PMIP6MH_BRA}.get(_pkt[6], cls)
        return cls


class PMIP6MH_BRI(PMIP6MH_BR):
    """Binding Revocation Indication (B.R. Type 1)."""

    name = "PMIPv6 Mobility Header - Binding Revocation Indication"
    fields_desc = [
        *_header(16),
        ByteEnumField("brtype", 1, {1: "BRI", 2: "BRA"}),
        ByteEnumField("trigger", 0, _names(RevocationTrigger)),
        XShortField("seq", 0),
        FlagsField("flags", 0x04, 3, "GVP"),
        XBitField("reserved", 0, 13),
        _PhantomAutoPadField("autopad", 1),
        _options(12),
    ]


class PMIP6MH_BRA(PMIP6MH_BR):
    """Binding Revocation Acknowledgement (B.R. Type 2)."""

    name = "PMIPv6 Mobility Header - Binding Revocation Acknowledgement"
    fields_desc = [
        *_header(16),
        ByteEnumField("brtype", 2, {1: "BRI", 2: "BRA"}),
        ByteEnumField("status", 0, _names(RevocationStatus)),
        XShortField("seq", 0),
        FlagsField("flags", 0x04, 3, "GVP"),
        XBitField("reserved", 0, 13),
        _PhantomAutoPadField("autopad", 1),
        _options(12),
    ]


class PMIP6MH_UPN(_PMIP6Message):
    """Update Notification (RFC 7077 §4.1)."""

    name = "PMIPv6 Mobility Header - Update Notification"
    fields_desc = [
        *_header(19),
        XShortField("seq", 0),
        ShortEnumField("reason", 1, _names(UpdateNotificationReason)),
        BitEnumField("A", 1, 1, {0: "no ack", 1: "ack requested"}),
        BitField("D", 0, 1),
        XBitField("reserved", 0, 14),
        _PhantomAutoPadField("autopad", 1),
        _options(12),
    ]


class PMIP6MH_UPA(_PMIP6Message):
    """Update Notification Acknowledgement (RFC 7077 §4.2)."""

    name = "PMIPv6 Mobility Header - Update Notification Acknowledgement"
    fields_desc = [
        *_header(20),
        XShortField("seq", 0),
        ByteEnumField("status", 0, _names(UpdateNotificationStatus)),
        X3BytesField("reserved", 0),
        _PhantomAutoPadField("autopad", 1),
        _options(12),
    ]


class PMIP6OverUDP(Packet):
    """Dissects a UDP 5436 payload as the Mobility Header message its MH Type names."""

    name = "PMIPv6 over IPv4/UDP (RFC 5844)"

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kargs: Any) -> type[Packet]:
        if not _pkt or len(_pkt) <= 3:
            return MIP6MH_Generic
        target: type[Packet] = _mip6_mhtype2cls.get(_pkt[2], MIP6MH_Generic)
        if "dispatch_hook" in target.__dict__:  # Binding Revocation picks BRI or BRA itself
            target = target.dispatch_hook(_pkt, *args, **kargs)
        return target


def register() -> None:
    """Register the layers with scapy (done once on import; harmless to repeat)."""
    for otype, cls in _OPTION_CLASSES.items():
        moboptcls[otype] = cls
        _mobopttypes.setdefault(otype, MobilityOptionType(otype).name)
    mhtypes.update({13: "Heartbeat", 16: "Binding Revocation", 19: "UPN", 20: "UPA"})
    _mip6_mhtype2cls.update(
        {
            5: PMIP6MH_PBU,
            6: PMIP6MH_PBA,
            13: PMIP6MH_HB,
            16: PMIP6MH_BR,
            19: PMIP6MH_UPN,
            20: PMIP6MH_UPA,
        }
    )
    bind_layers(UDP, PMIP6OverUDP, dport=PMIP6_CONTROL_PORT)
    bind_layers(UDP, PMIP6OverUDP, sport=PMIP6_CONTROL_PORT)


register()

__all__ = [
    "PMIP6MH_BR",
    "PMIP6MH_BRA",
    "PMIP6MH_BRI",
    "PMIP6MH_HB",
    "PMIP6MH_PBA",
    "PMIP6MH_PBU",
    "PMIP6MH_UPA",
    "PMIP6MH_UPN",
    "PMIP6OptAccessTechnologyType",
    "PMIP6OptGREKey",
    "PMIP6OptHandoffIndicator",
    "PMIP6OptHomeNetworkPrefix",
    "PMIP6OptIPv4DHCPSupportMode",
    "PMIP6OptIPv4DefaultRouter",
    "PMIP6OptIPv4HoAReply",
    "PMIP6OptIPv4HoARequest",
    "PMIP6OptLinkLocalAddress",
    "PMIP6OptMNLinkLayerIdentifier",
    "PMIP6OptRestartCounter",
    "PMIP6OptTimestamp",
    "PMIP6OverUDP",
]
