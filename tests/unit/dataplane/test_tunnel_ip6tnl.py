"""The ip6tnl backend's netlink encodings, without a kernel: each route's tunnel metadata is
read back to the endpoint it was written for, and what is not ours is not taken for ours."""

from __future__ import annotations

import socket
import struct

from netlmm_aaa.dataplane.netlink_routes import RTA_ENCAP, RTA_ENCAP_TYPE, endpoint_octets
from netlmm_aaa.dataplane.tunnel_ip6tnl import (
    LWTUNNEL_ENCAP_IP6,
    LWTUNNEL_IP6_DST,
    Ip6tnlTunnel,
    _link_message,
    _nested,
)

LOCAL, PEER = "2001:db8:ff::1", "2001:db8:ff::11"


def _tunnel(gre: bool) -> Ip6tnlTunnel:
    tunnel = Ip6tnlTunnel(gre=gre)
    tunnel.local = socket.inet_pton(socket.AF_INET6, LOCAL)
    return tunnel


def _encap(attributes: bytes) -> tuple[int, bytes]:
    found = _nested(attributes)
    [encap_type] = struct.unpack("=H", found[RTA_ENCAP_TYPE][:2])
    return encap_type, found[RTA_ENCAP]


def test_routes_read_back_to_their_endpoint_with_and_without_a_key() -> None:
    for gre, endpoint in (
        (False, PEER),
        (True, f"{PEER} key 77"),
        (True, f"{PEER} key 4294967295"),
    ):
        tunnel = _tunnel(gre)
        octets = endpoint_octets(endpoint)
        encap_type, encap = _encap(tunnel.route_attributes(socket.AF_INET6, 1, octets))
        assert encap_type == LWTUNNEL_ENCAP_IP6
        assert tunnel.route_endpoint(encap_type, encap) == octets


def test_a_route_of_the_other_mode_or_another_source_is_not_ours() -> None:
    keyed = _encap(
        _tunnel(True).route_attributes(socket.AF_INET6, 1, endpoint_octets(f"{PEER} key 5"))
    )
    plain = _encap(_tunnel(False).route_attributes(socket.AF_INET6, 1, endpoint_octets(PEER)))
    assert _tunnel(False).route_endpoint(*keyed) is None  # a GRE route in ip6ip6 mode
    assert _tunnel(True).route_endpoint(*plain) is None  # an unkeyed route in GRE mode
    other = _tunnel(False)
    other.local = socket.inet_pton(socket.AF_INET6, "2001:db8:ff::9")
    assert other.route_endpoint(*plain) is None  # written for another local address
    assert _tunnel(False).route_endpoint(LWTUNNEL_ENCAP_IP6 + 1, plain[1]) is None
    assert LWTUNNEL_IP6_DST in _nested(plain[1])


def test_the_device_message_asks_for_a_flow_based_device_without_encapsulation_limit() -> None:
    for kind in ("ip6tnl", "ip6gre"):
        message = _link_message("nlmm0", kind, 7)
        length, kind_number, _flags, seq, _pid = struct.unpack_from("=IHHII", message)
        assert (length, kind_number, seq) == (len(message), 16, 7)
        assert kind.encode() in message
