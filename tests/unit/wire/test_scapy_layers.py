"""Our scapy layers dissect what our codec encodes, and our codec decodes what scapy builds.

scapy is an independent implementation of the checksum (``in6_chksum``) and of the alignment
padding, so agreement in both directions checks both sides.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, MIP6OptMNID, in6_chksum

from netlmm_aaa.core.messages import (
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    Heartbeat,
    ProxyBindingAcknowledgement,
    ProxyBindingUpdate,
    UpdateNotification,
    UpdateNotificationAcknowledgement,
)
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
    RestartCounterOption,
    TimestampOption,
    UnknownOption,
)
from netlmm_aaa.wire import scapy_layers as L
from netlmm_aaa.wire.mobility_header import decode_mobility_header, encode_mobility_header
from tests.strategies import MESSAGE_STRATEGIES

SRC, DST = "2001:db8:ff::11", "2001:db8:ff::1"


def _options_equal(scapy_options: list, ours: tuple) -> None:
    """scapy's options (padding dropped) carry the same values as ours, in order."""
    real = [o for o in scapy_options if o.otype > 1]
    assert len(real) == len(ours)
    for s, o in zip(real, ours, strict=True):
        match o:
            case MobileNodeIdentifierOption():
                assert (s.subtype, s.id) == (o.subtype, o.identifier)
            case HomeNetworkPrefixOption():
                assert (s.plen, ipaddress.IPv6Address(s.prefix).packed) == (
                    o.prefix_length,
                    o.prefix,
                )
            case HandoffIndicatorOption():
                assert s.hi == o.indicator
            case AccessTechnologyTypeOption():
                assert s.att == o.access_technology
            case MobileNodeLinkLayerIdentifierOption():
                assert s.lli == o.link_layer_identifier
            case LinkLocalAddressOption():
                assert ipaddress.IPv6Address(s.lla).packed == o.address
            case TimestampOption():
                assert (s.seconds << 16) | s.fraction == o.timestamp
            case RestartCounterOption():
                assert s.counter == o.counter
            case GreKeyOption():
                assert s.key == (b"" if o.key is None else o.key.to_bytes(4, "big"))
            case IPv4HomeAddressRequestOption():
                assert (s.plen, ipaddress.IPv4Address(s.hoa).packed) == (o.prefix_length, o.address)
            case IPv4HomeAddressReplyOption():
                assert (s.status, s.plen) == (o.status, o.prefix_length)
                assert ipaddress.IPv4Address(s.hoa).packed == o.address
            case IPv4DefaultRouterAddressOption():
                assert ipaddress.IPv4Address(s.dr).packed == o.address
            case IPv4DhcpSupportModeOption():
                assert int(o.server) == s.S
            case BindingRefreshAdviceOption():
                assert s.rinter == o.refresh_interval
            case _:
                assert (s.otype, s.odata) == (o.option_type, o.data)


def _no_scapy_mip6_types(pbu: ProxyBindingUpdate) -> bool:
    # Unknown to us but not to scapy: types 3-16 are MIPv6 options scapy dissects its own way.
    return not any(isinstance(o, UnknownOption) and o.option_type <= 16 for o in pbu.options)


@given(MESSAGE_STRATEGIES[ProxyBindingUpdate].filter(_no_scapy_mip6_types))
def test_scapy_dissects_our_pbu_and_agrees_on_the_checksum(pbu: ProxyBindingUpdate) -> None:
    mh = encode_mobility_header(pbu, source=SRC, destination=DST)
    packet = IPv6(bytes(IPv6(src=SRC, dst=DST, nh=135) / mh))
    layer = packet[L.PMIP6MH_PBU]
    assert (layer.seq, layer.mhtime, layer.len) == (pbu.sequence, pbu.lifetime, mh[1])
    assert int(layer.flags) == pbu.flags >> 6
    # scapy's own checksum routine over the same pseudo-header and octets.
    zeroed = mh[:4] + b"\x00\x00" + mh[6:]
    assert in6_chksum(135, IPv6(src=SRC, dst=DST), zeroed) == int.from_bytes(mh[4:6], "big")
    _options_equal(layer.options, pbu.options)


@pytest.mark.parametrize(
    ("message", "layer"),
    [
        (ProxyBindingAcknowledgement(153, 9, 0, 0x20), L.PMIP6MH_PBA),
        (Heartbeat(0xDEADBEEF, True, True, (RestartCounterOption(5),)), L.PMIP6MH_HB),
        (BindingRevocationIndication(7, 12, 0xE000), L.PMIP6MH_BRI),
        (BindingRevocationAcknowledgement(132, 12, 0x8000), L.PMIP6MH_BRA),
        (UpdateNotification(3, 2, True, True), L.PMIP6MH_UPN),
        (UpdateNotificationAcknowledgement(3, 129), L.PMIP6MH_UPA),
    ],
)
def test_scapy_dissects_each_message_over_ipv6_and_udp5436(message: object, layer: type) -> None:
    mh = encode_mobility_header(message, source=SRC, destination=DST)  # type: ignore[arg-type]
    over_ipv6 = IPv6(bytes(IPv6(src=SRC, dst=DST, nh=135) / mh))
    assert over_ipv6.haslayer(layer)
    udp_payload = encode_mobility_header(message)  # type: ignore[arg-type]
    over_udp = IP(
        bytes(IP(src="192.0.2.11", dst="192.0.2.1") / UDP(sport=5436, dport=5436) / udp_payload)
    )
    assert over_udp.haslayer(layer)
    for got in (over_ipv6[layer], over_udp[layer]):
        assert got.seq == message.sequence  # type: ignore[attr-defined]
    assert over_udp[layer].cksum == 0


def test_what_scapy_builds_our_codec_decodes() -> None:
    built = IPv6(src=SRC, dst=DST) / L.PMIP6MH_PBU(
        seq=7,
        mhtime=15,
        flags=0x208 | 0x1,  # A, P and B (scapy numbers the 10 flag bits from B upward)
        options=[
            MIP6OptMNID(id=b"mn1@example.org"),
            L.PMIP6OptHomeNetworkPrefix(prefix="2001:db8:100::", plen=64),
            L.PMIP6OptHandoffIndicator(hi=3),
            L.PMIP6OptAccessTechnologyType(att=4),
            L.PMIP6OptMNLinkLayerIdentifier(lli=bytes.fromhex("020000000101")),
            L.PMIP6OptLinkLocalAddress(lla="fe80::1"),
            L.PMIP6OptTimestamp(seconds=1_700_000_000, fraction=0x8000),
            L.PMIP6OptGREKey(key=b"\x00\x00\x03\xe9"),
            L.PMIP6OptIPv4HoARequest(plen=24, hoa="203.0.113.10"),
            L.PMIP6OptIPv4DefaultRouter(dr="203.0.113.1"),
            L.PMIP6OptIPv4DHCPSupportMode(S=1),
        ],
    )
    raw = bytes(built)
    ours = decode_mobility_header(raw[40:], source=SRC, destination=DST)  # scapy's checksum
    assert isinstance(ours, ProxyBindingUpdate)
    assert (ours.sequence, ours.lifetime, ours.flags) == (7, 15, 0x8240)
    assert ours.options == (
        MobileNodeIdentifierOption.from_nai("mn1@example.org"),
        HomeNetworkPrefixOption.from_network("2001:db8:100::/64"),
        HandoffIndicatorOption(3),
        AccessTechnologyTypeOption(4),
        MobileNodeLinkLayerIdentifierOption.from_mac("02:00:00:00:01:01"),
        LinkLocalAddressOption.from_address("fe80::1"),
        TimestampOption.from_seconds(1_700_000_000.5),
        GreKeyOption(1001),
        IPv4HomeAddressRequestOption.from_address("203.0.113.10", 24),
        IPv4DefaultRouterAddressOption(bytes([203, 0, 113, 1])),
        IPv4DhcpSupportModeOption(True),
    )
    # Same alignment rules: our encoding of the decoded message is byte-identical to scapy's.
    assert encode_mobility_header(ours, source=SRC, destination=DST) == raw[40:]
