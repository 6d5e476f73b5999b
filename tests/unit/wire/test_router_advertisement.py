"""Router Advertisements: scapy (an independent decoder) reads back what we build."""

from __future__ import annotations

import pytest
from scapy.layers.inet6 import (
    ICMPv6ND_RA,
    ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
)

from netlmm_aaa.wire.router_advertisement import encode_router_advertisement


def test_scapy_reads_our_router_advertisement() -> None:
    data = encode_router_advertisement(
        ["2001:db8:1:1::/64", "2001:db8:1:2::/64"], source_mac="00:00:5e:00:52:13", mtu=1460
    )
    ra = ICMPv6ND_RA(data)
    assert (ra.type, ra.chlim, ra.routerlifetime, ra.M, ra.O) == (134, 64, 1800, 0, 0)
    assert ra[ICMPv6NDOptSrcLLAddr].lladdr == "00:00:5e:00:52:13"
    assert ra[ICMPv6NDOptMTU].mtu == 1460
    pios = []
    layer = ra
    while layer.haslayer(ICMPv6NDOptPrefixInfo):
        pio = layer[ICMPv6NDOptPrefixInfo]
        pios.append((pio.prefix, pio.prefixlen, pio.L, pio.A, pio.validlifetime))
        layer = pio.payload
    assert pios == [("2001:db8:1:1::", 64, 1, 1, 86400), ("2001:db8:1:2::", 64, 1, 1, 86400)]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="MAC"):
        encode_router_advertisement([], source_mac="00:00:5e")
    with pytest.raises(ValueError, match="router lifetime"):
        encode_router_advertisement([], source_mac="00:00:5e:00:52:13", router_lifetime=10000)


def test_the_frame_to_one_station_verifies_in_scapy() -> None:
    """Issue 23 (1): L2 unicast to the station's MAC, IPv6 all-nodes, hop limit 255, a correct
    ICMPv6 checksum (scapy recomputes it), RDNSS and DNSSL (RFC 8106), zero lifetimes."""
    from scapy.layers.inet6 import IPv6, ICMPv6NDOptDNSSL, ICMPv6NDOptRDNSS
    from scapy.layers.l2 import Ether

    from netlmm_aaa.wire.router_advertisement import router_advertisement_frame

    ra = encode_router_advertisement(["2001:db8:1:1::/64"], source_mac="00:00:5e:00:52:13",
                                     dns_servers=["2001:db8::53", "2001:db8::54"],
                                     search_domains=["corp.example", "example"],
                                     router_lifetime=0, valid_lifetime=0, preferred_lifetime=0)  # fmt: skip
    frame = router_advertisement_frame(ra, destination_mac="02:88:00:00:aa:01",
                                       source_mac="00:00:5e:00:52:13", source="fe80::1")  # fmt: skip
    packet = Ether(frame)
    assert (packet.dst, packet.src, packet.type) == ("02:88:00:00:aa:01", "00:00:5e:00:52:13", 0x86DD)
    assert (packet[IPv6].dst, packet[IPv6].src, packet[IPv6].hlim) == ("ff02::1", "fe80::1", 255)
    sent = packet[ICMPv6ND_RA].cksum
    del packet[ICMPv6ND_RA].cksum
    assert Ether(bytes(packet))[ICMPv6ND_RA].cksum == sent
    assert packet[ICMPv6ND_RA].routerlifetime == 0
    pio = packet[ICMPv6NDOptPrefixInfo]
    assert (pio.prefix, pio.validlifetime, pio.preferredlifetime) == ("2001:db8:1:1::", 0, 0)
    assert packet[ICMPv6NDOptRDNSS].dns == ["2001:db8::53", "2001:db8::54"]
    assert packet[ICMPv6NDOptDNSSL].searchlist == ["corp.example.", "example."]


def test_router_solicitations_are_checked() -> None:
    from scapy.layers.inet6 import ICMPv6ND_RS

    from netlmm_aaa.core.errors import WireFormatError
    from netlmm_aaa.wire.router_advertisement import decode_router_solicitation

    with_sllao = bytes(ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr="02:88:00:00:aa:01"))
    assert decode_router_solicitation(with_sllao, 255) == "02:88:00:00:aa:01"
    assert decode_router_solicitation(bytes(ICMPv6ND_RS()), 255) is None
    with pytest.raises(WireFormatError, match="hop limit"):
        decode_router_solicitation(with_sllao, 64)
    with pytest.raises(WireFormatError, match="bad length"):
        decode_router_solicitation(with_sllao[:8] + b"\x01\x00" + bytes(6), 255)
