"""The ``ip6tnl`` tunnel backend: flow-based ip6tnl / ip6gre devices (``CONFIG_IPV6_TUNNEL``,
``CONFIG_IPV6_GRE``; modules ``ip6_tunnel``, ``ip6_gre`` on distribution kernels).

One ``external`` (collect_md) device per node: ``nlmm6tnl0`` (``mode any``: IPv6- and
IPv4-in-IPv6) for ``ip6ip6``, ``nlmm6gre0`` for ``gre``; no device per peer or key. Each binding
route goes through it with its own tunnel metadata, ``encap ip6 dst <peer> src <local>
[id <key> key]`` (``LWTUNNEL_ENCAP_IP6``, written by raw netlink: pyroute2 has no encoder for
it, nor for the ip6gre device's collect_md flag). The devices ignore the encapsulation limit
(RFC 2473 would add a destination-options header, next header 60, that RFC 5213 peers do not
expect).

Receiver: the kernel decapsulates on the devices, which accept any remote; an nftables table
(``ip6 netlmm_tunnel``, prerouting) drops IP-in-IPv6 to our address from anyone but the
configured peers, and GRE unless it has only the Key bit and its (source, key) pair is one we
handed out. A restart keeps the devices (and with them the routes) and rebuilds the table.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import struct
from collections.abc import Collection, Mapping
from typing import Any

from netlmm_aaa.dataplane.netlink_routes import (
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_REQUEST,
    RTA_ENCAP,
    RTA_ENCAP_TYPE,
    RTA_OIF,
    nla,
    open_route_socket,
    transact,
)
from netlmm_aaa.dataplane.nftables import Nftables
from netlmm_aaa.dataplane.port import DataPlaneError
from netlmm_aaa.dataplane.tunnel_backend import ipv6_transport_only

LWTUNNEL_ENCAP_IP6 = 4
LWTUNNEL_IP6_ID = 1
LWTUNNEL_IP6_DST = 2
LWTUNNEL_IP6_SRC = 3
LWTUNNEL_IP6_HOPLIMIT = 4
LWTUNNEL_IP6_FLAGS = 6
TUNNEL_KEY = b"\x00\x04"  # the tunnel flag "key present", big-endian
RTM_NEWLINK = 16
NLM_F_EXCL = 0x200
IFLA_IFNAME = 3
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
NLA_F_NESTED = 0x8000
IFLA_IPTUN_FLAGS = 8
IFLA_IPTUN_PROTO = 9
IFLA_IPTUN_COLLECT_METADATA = 19
IFLA_GRE_FLAGS = 13
IFLA_GRE_COLLECT_METADATA = 18
IP6_TNL_F_IGN_ENCAP_LIMIT = 0x1
IFF_UP = 0x1
HOP_LIMIT = 64
#: Octets the encapsulation adds: the outer IPv6 header, and with GRE its header and key.
OVERHEAD = {False: 40, True: 40 + 8}
TABLE = "netlmm_tunnel"
#: The devices: name and link kind per forwarding mode.
DEVICES = {False: ("nlmm6tnl0", "ip6tnl"), True: ("nlmm6gre0", "ip6gre")}
#: The receiver's filter ($local: our tunnel address). ``meta l4proto`` finds the tunnel protocol
#: behind extension headers, so an outer packet that a sender fragmented (RFC 2473 allows it; an
#: older kernel's eBPF encapsulation emits atomic fragments) is checked like any other: its first
#: fragment carries the GRE header, and the kernel reassembles nothing without it. The GRE rules
#: sit in a chain of their own: nft 1.0.6 aborts when listing a rule that pairs ``meta l4proto``
#: with a raw ``@th`` in a concatenation, which would break ``nft list ruleset`` for the operator
#: (the listing shows ``@th,0,16`` as ``th sport``: the same two octets).
_FILTER = """table ip6 TABLE {
 set peers { type ipv6_addr; }
 set gre_keys { typeof ip6 saddr . @th,32,32; }
 counter unknown_peer {}
 counter unknown_key {}
 chain gre {
  @th,0,16 != 0x2000 counter name "unknown_key" drop comment "flags: only the Key bit"
  ip6 saddr . @th,32,32 != @gre_keys counter name "unknown_key" drop
 }
 chain prerouting {
  type filter hook prerouting priority raw; policy accept;
  ip6 daddr $local meta l4proto { 4, 41 } ip6 saddr != @peers counter name "unknown_peer" drop
  ip6 daddr $local meta l4proto 47 jump gre
 }
}
"""
_IFINFO = struct.Struct("=BxHiII")
_NLA = struct.Struct("=HH")


def _link_message(name: str, kind: str, seq: int) -> bytes:
    """RTM_NEWLINK of a flow-based ``kind`` device, up, ignoring the encapsulation limit."""
    if kind == "ip6tnl":
        data = (nla(IFLA_IPTUN_COLLECT_METADATA, b"")
                + nla(IFLA_IPTUN_PROTO, b"\x00")  # any: IPv6 and IPv4 inside
                + nla(IFLA_IPTUN_FLAGS, struct.pack("=I", IP6_TNL_F_IGN_ENCAP_LIMIT)))  # fmt: skip
    else:
        data = nla(IFLA_GRE_COLLECT_METADATA, b"") + nla(
            IFLA_GRE_FLAGS, struct.pack("=I", IP6_TNL_F_IGN_ENCAP_LIMIT)
        )
    info = nla(IFLA_INFO_KIND, kind.encode()) + nla(IFLA_INFO_DATA | NLA_F_NESTED, data)
    body = (
        _IFINFO.pack(socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP)
        + nla(IFLA_IFNAME, name.encode() + b"\0")
        + nla(IFLA_LINKINFO | NLA_F_NESTED, info)
    )
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    return struct.pack("=IHHII", 16 + len(body), RTM_NEWLINK, flags, seq, 0) + body


def _nested(payload: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(payload):
        length, kind = _NLA.unpack_from(payload, pos)
        if length < 4:
            break
        found[kind & 0x3FFF] = payload[pos + 4 : pos + length]
        pos += (length + 3) & ~3
    return found


class Ip6tnlTunnel:
    """The ``ip6tnl`` backend (see the module docstring)."""

    name = "ip6tnl"
    carries_gre = True
    carries_ipv4_transport = False

    def __init__(self, netns: str | None = None, gre: bool = False) -> None:
        self.netns = netns
        self.gre = gre
        self.device, self.kind = DEVICES[gre]
        self.local = b""
        self._local_text = ""
        self._index = 0
        self._nft = Nftables(netns)
        self._attributes: dict[bytes, bytes] = {}
        self._keys: dict[int, str] = {}
        """GRE keys accepted: key -> the peer it was handed to (the set's elements)."""

    def open(
        self,
        ipr: Any,
        oif: int,
        local_address: str | None,
        peers: Collection[str],
        local_ipv4: str | None = None,
    ) -> None:
        local_address = ipv6_transport_only(self.name, local_address, peers, local_ipv4)
        self._local_text = str(ipaddress.IPv6Address(local_address))
        self.local = socket.inet_pton(socket.AF_INET6, local_address)
        sock = open_route_socket(self.netns)
        try:
            sock.bind((0, 0))
            [error] = transact(sock, [_link_message(self.device, self.kind, 1)], 1)
        finally:
            sock.close()
        if error == errno.EOPNOTSUPP:
            option = "CONFIG_IPV6_GRE (ip6_gre)" if self.gre else "CONFIG_IPV6_TUNNEL (ip6_tunnel)"
            raise DataPlaneError(f"the ip6tnl backend needs {option}: the kernel has no "
                                 f"{self.kind} devices")  # fmt: skip
        if error not in (0, errno.EEXIST):  # EEXIST: a restart, whose routes use it
            raise DataPlaneError(f"creating the {self.kind} device {self.device}: "
                                 f"{os.strerror(error)}")  # fmt: skip
        links = ipr.link_lookup(ifname=self.device)
        if not links:
            raise DataPlaneError(f"the {self.kind} device {self.device} did not appear")
        self._index = int(links[0])
        # The kernel sizes a flow-based device for a tunnel without options (no key), so an
        # inner packet it admits could exceed the transport link once a key is added: set the
        # MTU from the transport link, so that the kernel answers Packet Too Big instead.
        transport_mtu = int(ipr.get_links(oif)[0].get_attr("IFLA_MTU"))
        ipr.link("set", index=self._index, mtu=transport_mtu - OVERHEAD[self.gre], state="up")
        self._nft.run(
            f"table ip6 {TABLE} {{}}\ndelete table ip6 {TABLE}\n"
            f"define local = {self._local_text}\n" + _FILTER.replace("TABLE", TABLE),
            missing="the ip6tnl backend filters tunnel peers with nftables: it needs the nft "
            "program (Debian package nftables)",
        )
        self._keys.clear()  # the table is new
        self.set_peers(peers)

    def set_peers(self, peers: Collection[str]) -> None:
        script = f"flush set ip6 {TABLE} peers\n"
        if peers:
            script += f"add element ip6 {TABLE} peers {{ {', '.join(sorted(peers))} }}\n"
        self._nft.run(script)

    def accept_gre_keys(self, keys: Mapping[int, str]) -> None:
        stale = {k: self._keys[k] for k, peer in keys.items() if self._keys.get(k, peer) != peer}
        self.forget_gre_keys(stale)
        if keys:
            elements = ", ".join(f"{peer} . {key:#010x}" for key, peer in keys.items())
            self._nft.run(f"add element ip6 {TABLE} gre_keys {{ {elements} }}\n")
            self._keys.update(keys)

    def forget_gre_keys(self, keys: Collection[int]) -> None:
        gone = [f"{self._keys.pop(key)} . {key:#010x}" for key in keys if key in self._keys]
        if gone:
            self._nft.run(f"delete element ip6 {TABLE} gre_keys {{ {', '.join(gone)} }}\n")

    def route_attributes(self, family: int, oif: int, endpoint: bytes) -> bytes:
        attributes = self._attributes.get(endpoint)
        if attributes is None:
            encap = (nla(LWTUNNEL_IP6_DST, endpoint[:16]) + nla(LWTUNNEL_IP6_SRC, self.local)
                     + nla(LWTUNNEL_IP6_HOPLIMIT, bytes([HOP_LIMIT])))  # fmt: skip
            if len(endpoint) == 20:
                key = struct.unpack(">I", endpoint[16:20])[0]
                encap += nla(LWTUNNEL_IP6_ID, struct.pack(">Q", key))
                encap += nla(LWTUNNEL_IP6_FLAGS, TUNNEL_KEY)
            attributes = (
                nla(RTA_OIF, struct.pack("=i", self._index))
                + nla(RTA_ENCAP_TYPE, struct.pack("=H", LWTUNNEL_ENCAP_IP6))
                + nla(RTA_ENCAP | NLA_F_NESTED, encap)
            )
            self._attributes[endpoint] = attributes
        return attributes

    def route_endpoint(self, encap_type: int, encap: bytes) -> bytes | None:
        if encap_type != LWTUNNEL_ENCAP_IP6:
            return None
        fields = _nested(encap)
        destination = fields.get(LWTUNNEL_IP6_DST, b"")
        if len(destination) != 16 or fields.get(LWTUNNEL_IP6_SRC, self.local) != self.local:
            return None
        flags = fields.get(LWTUNNEL_IP6_FLAGS, b"\x00\x00")
        keyed = len(flags) == 2 and bool(flags[1] & TUNNEL_KEY[1])
        if keyed != self.gre:
            return None
        if not keyed:
            return destination
        identity = fields.get(LWTUNNEL_IP6_ID, b"")
        return destination + identity[4:8] if len(identity) == 8 else None

    def counters(self) -> dict[str, int]:
        """Tunnel packets to us the filter dropped, per reason (its named counters)."""
        listing = json.loads(self._nft.output("-j", "list", "counters", "table", "ip6", TABLE))
        return {
            item["counter"]["name"]: int(item["counter"]["packets"])
            for item in listing.get("nftables", [])
            if "counter" in item
        }

    def close(self) -> None:
        """The devices, routes and filter stay: they are forwarding state."""
