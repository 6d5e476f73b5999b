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
