"""The signalling path's address helpers give exactly :mod:`ipaddress`'s answers: the same octets,
the same text, and an error for the same inputs."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netlmm_aaa.core.addresses import (
    format_ipv4,
    format_ipv6,
    format_ipv6_network,
    ipv6_network,
    pack_ipv4,
    pack_ipv6,
)
from netlmm_aaa.core.options import HomeNetworkPrefixOption, IPv4HomeAddressRequestOption

# Addresses with long zero runs, ties between runs, and runs at either end are the cases RFC 5952
# compression gets wrong most easily.
_words = st.lists(st.sampled_from([0, 0, 0, 1, 0xDB8, 0xFFFF, 0x2001]) | st.integers(0, 0xFFFF),
                  min_size=8, max_size=8)  # fmt: skip
_packed6 = _words.map(lambda ws: b"".join(w.to_bytes(2, "big") for w in ws))


def _outcome(fn: object, *args: object) -> object:
    try:
        return fn(*args)  # type: ignore[operator]
    except ValueError:
        return ValueError


@given(_packed6)
def test_ipv6_text_matches_ipaddress_both_ways(packed: bytes) -> None:
    text = format_ipv6(packed)
    assert text == str(ipaddress.IPv6Address(packed))
    assert pack_ipv6(text) == packed
    assert pack_ipv6(text.upper()) == packed
    exploded = ipaddress.IPv6Address(packed).exploded
    assert pack_ipv6(exploded) == packed


@given(_packed6, st.integers(0, 128))
def test_ipv6_networks_match_ipaddress(packed: bytes, length: int) -> None:
    text = format_ipv6_network(packed, length)
    assert text == str(ipaddress.IPv6Network((packed, length), strict=False))
    network = ipaddress.IPv6Network(text)
    assert ipv6_network(text) == (network.network_address.packed, network.prefixlen)
    assert HomeNetworkPrefixOption.from_network(text) == HomeNetworkPrefixOption.from_network(
        network
    )


@given(st.binary(min_size=4, max_size=4))
def test_ipv4_matches_ipaddress(packed: bytes) -> None:
    text = format_ipv4(packed)
    assert text == str(ipaddress.IPv4Address(packed))
    assert pack_ipv4(text) == packed
    assert IPv4HomeAddressRequestOption.from_address(text).address == packed


_address_chars = st.text(alphabet="0123456789abcdefABCDEF:./%xg_ +-\n", max_size=45)


@given(_address_chars)
def test_any_text_is_accepted_or_refused_as_ipaddress_does(text: str) -> None:
    assert _outcome(pack_ipv6, text) == _outcome(lambda t: ipaddress.IPv6Address(t).packed, text)
    assert _outcome(pack_ipv4, text) == _outcome(lambda t: ipaddress.IPv4Address(t).packed, text)

    def reference(t: str) -> tuple[bytes, int]:
        network = ipaddress.IPv6Network(t)
        return network.network_address.packed, network.prefixlen

    assert _outcome(ipv6_network, text) == _outcome(reference, text)


@pytest.mark.parametrize(
    "text",
    [
        "::", "::1", "1::", "2001:db8::1:0:0:1", "2001:0:0:1::1", "fe80::1%eth0",
        "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8", "::ffff:192.0.2.1",
        "0x1::", "1_0::", "+1::", " 1::", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1::", "12345::",
        "01.2.3.4", "1.2.3.256", "1.2.3", "192.0.2.1", "0.0.0.0", "255.255.255.255",
        "2001:db8::/64", "2001:db8::1/64", "2001:db8::/129", "2001:db8::/064", "2001:db8::",
    ],
)  # fmt: skip
def test_edge_cases_match_ipaddress(text: str) -> None:
    assert _outcome(pack_ipv6, text) == _outcome(lambda t: ipaddress.IPv6Address(t).packed, text)
    assert _outcome(pack_ipv4, text) == _outcome(lambda t: ipaddress.IPv4Address(t).packed, text)
    net = _outcome(lambda t: ipaddress.IPv6Network(t), text)
    expected = net if net is ValueError else (net.network_address.packed, net.prefixlen)  # type: ignore[union-attr]
    assert _outcome(ipv6_network, text) == expected


def test_v4_mapped_text_is_the_running_pythons() -> None:
    packed = ipaddress.IPv6Address("::ffff:192.0.2.1").packed
    assert format_ipv6(packed) == str(ipaddress.IPv6Address(packed))
