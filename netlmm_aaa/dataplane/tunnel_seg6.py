"""The ``seg6`` tunnel backend: seg6 lightweight tunnels (``CONFIG_IPV6_SEG6_LWTUNNEL``).

Encapsulation: per route ``encap seg6 mode encap.red segs <peer>``. With one segment the kernel
adds no routing header, so the outer header is plain IPv6 with next header 41 (or 4): the
octets ip6tnl sends, with no device per peer.

Receiver: packets to our tunnel address with next header 41 / 4 *from a configured peer* are
steered by ``ipproto`` rules (one pair per peer, matching the outer source) to tables holding
``seg6local End.DX6`` / ``End.DX4`` routes; the local table moves behind those rules. Tunnel
packets from anyone else reach the local table, where nothing decapsulates them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Collection, Mapping
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from netlmm_aaa.dataplane.netlink_routes import (
    RTA_DST,
    RTA_ENCAP,
    RTA_ENCAP_TYPE,
    RTA_OIF,
    RTA_TABLE,
    nla,
    open_route_socket,
    parse_destination,
    route_dump,
    route_dump_request,
    strict_dumps,
)
from netlmm_aaa.dataplane.port import DataPlaneError
from netlmm_aaa.dataplane.tunnel_backend import ipv6_transport_only

LWTUNNEL_ENCAP_SEG6 = 5
SEG6_IPTUNNEL_SRH = 1
SEG6_IPTUN_MODE_ENCAP_RED = 3
#: Tables holding the End.DX6 / End.DX4 decapsulation routes.
DECAP_TABLE_V6 = 200
DECAP_TABLE_V4 = 201
#: Rule priorities: decapsulation first, then the local table (moved from priority 0).
DECAP_RULE_PRIORITY = 100
LOCAL_RULE_PRIORITY = 500
PROBE_TABLE = 25213
PROBE_PREFIX = "2001:db8:ffff:ffff::/64"
_RTMSG = struct.Struct("=BBBBBBBBI")
_NLA = struct.Struct("=HH")


def patch_pyroute2_seg6_modes() -> None:
    """pyroute2 0.9.7 knows only seg6 modes inline/encap and silently sends "encap.red" as
    mode 1 (encap, with a routing header). Teach it modes 2-4 (idempotent)."""
    for holder in (rtmsg.seg6_encap_info, rtmsg.seg6local_encap_info):
        for klass in vars(holder).values():
            modes = getattr(klass, "encapmodes", None)
            if isinstance(modes, dict):
                modes.update({"l2encap": 2, "encap.red": 3, "l2encap.red": 4})
                klass.r_encapmodes = {v: k for k, v in modes.items()}


patch_pyroute2_seg6_modes()


def seg6_encapsulation(segment: bytes) -> bytes:
    """``RTA_ENCAP_TYPE`` + ``RTA_ENCAP`` of ``encap seg6 mode encap.red segs <segment>``."""
    # struct seg6_iptunnel_encap { int mode; struct ipv6_sr_hdr srh; } with one segment:
    # nexthdr 0, hdrlen 2 ((8 + 16) / 8 - 1), type 4, segments_left 0, first_segment 0, flags 0,
    # tag 0, then the segment. encap.red drops the SRH on the wire when there is one segment.
    srh = struct.pack("=iBBBBBBH", SEG6_IPTUN_MODE_ENCAP_RED, 0, 2, 4, 0, 0, 0, 0) + segment
    return nla(RTA_ENCAP_TYPE, struct.pack("=H", LWTUNNEL_ENCAP_SEG6)) + nla(
        RTA_ENCAP, nla(SEG6_IPTUNNEL_SRH, srh)
    )


def seg6_mode(sock: socket.socket, table: int, destination: str) -> int | None:
    """The seg6 encapsulation mode the kernel reports for route ``destination`` (IPv6) in
    ``table`` (SEG6_IPTUN_MODE_*), or None when there is no such seg6 route. ``sock``: a bound
    NETLINK_ROUTE socket; :func:`strict_dumps` keeps the dump to that one table."""
    strict_dumps(sock)
    _, wanted, wanted_length = parse_destination(destination)
    seq = 0x7FFF_0000 | (os.getpid() & 0xFFFF)
    mode: int | None = None
    for buf, start, end in route_dump(
        sock, route_dump_request(socket.AF_INET6, table, 0, seq), seq
    ):
        _fa, dst_len, _s, _t, route_table, _p, _sc, _ty, _f = _RTMSG.unpack_from(buf, start)
        pos = start + _RTMSG.size
        dst, encap = b"", b""
        while pos + 4 <= end:
            nla_len, nla_type = _NLA.unpack_from(buf, pos)
            if nla_len < 4:
                break
            kind = nla_type & 0x3FFF
            if kind == RTA_DST:
                dst = buf[pos + 4 : pos + nla_len]
            elif kind == RTA_TABLE:
                route_table = struct.unpack_from("=I", buf, pos + 4)[0]
            elif kind == RTA_ENCAP:
                encap = buf[pos + 4 : pos + nla_len]
            pos += (nla_len + 3) & ~3
        if route_table != table or dst_len != wanted_length or dst.ljust(16, b"\0") != wanted:
            continue
        if len(encap) >= 8:
            inner_len, inner_type = _NLA.unpack_from(encap, 0)
            if (inner_type & 0x3FFF) == SEG6_IPTUNNEL_SRH and inner_len >= 8:
                mode = struct.unpack_from("=i", encap, 4)[0]
    return mode


def probe_seg6(ipr: Any, oif: int, address: str, sock: socket.socket) -> None:
    """Check that the kernel takes seg6 ``encap.red`` routes (and that pyroute2 sends mode 3).
    ``sock``: a bound NETLINK_ROUTE socket in the same namespace, to read the probe route back
    from its own table only (pyroute2 would dump and parse every route of the namespace: minutes
    on a host holding a million of them)."""
    try:
        ipr.route(
            "replace",
            dst=PROBE_PREFIX,
            oif=oif,
            table=PROBE_TABLE,
            encap={"type": "seg6", "mode": "encap.red", "segs": [address]},
        )
        mode = seg6_mode(sock, PROBE_TABLE, PROBE_PREFIX)
        ipr.route("del", dst=PROBE_PREFIX, oif=oif, table=PROBE_TABLE)
    except NetlinkError as exc:
        raise DataPlaneError(
            "the seg6 backend needs seg6 lightweight tunnels "
            f"(CONFIG_IPV6_SEG6_LWTUNNEL): the kernel refused a seg6 route: {exc}"
        ) from exc
    if mode != SEG6_IPTUN_MODE_ENCAP_RED:
        raise DataPlaneError(
            f"seg6 encap.red did not stick (kernel reports mode {mode!r}, encap.red is "
            f"{SEG6_IPTUN_MODE_ENCAP_RED}); without it packets would carry a routing header"
        )


def _rule_source(rule: Any) -> str | None:
    return next((value for key, value in rule["attrs"] if key == "FRA_SRC"), None)


def setup_decapsulation(ipr: Any, oif: int, address: str, peers: Collection[str]) -> None:
    """Decapsulate IPv6-in-IPv6 and IPv4-in-IPv6 sent to ``address`` by ``peers`` (RFC 5213
    wire format): per peer ``from <peer> ipproto 41/4`` rules to tables with ``seg6local
    End.DX6/End.DX4`` routes, and the local table moved behind them (idempotent; rules of
    peers no longer configured are removed)."""
    for table, action, nh in (
        (DECAP_TABLE_V6, "End.DX6", {"nh6": "::"}),
        (DECAP_TABLE_V4, "End.DX4", {"nh4": "0.0.0.0"}),
    ):
        try:
            ipr.route("replace", dst=f"{address}/128", oif=oif, table=table,
                      encap={"type": "seg6local", "action": action, **nh})  # fmt: skip
        except NetlinkError as exc:
            raise DataPlaneError(
                f"the seg6 backend needs seg6local {action} (CONFIG_IPV6_SEG6_LWTUNNEL): {exc}"
            ) from exc
    rules = ipr.get_rules(family=socket.AF_INET6)
    # The kernel omits FRA_PRIORITY for priority 0 (the default local-table rule).
    have = {(r.get("priority") or 0, r.get("table")) for r in rules}
    if (LOCAL_RULE_PRIORITY, 255) not in have:
        ipr.rule("add", family=socket.AF_INET6, priority=LOCAL_RULE_PRIORITY, table=255)
    if (0, 255) in have:
        ipr.rule("del", family=socket.AF_INET6, priority=0, table=255)
    wanted = set(peers)
    for offset, (proto, table) in enumerate(((41, DECAP_TABLE_V6), (4, DECAP_TABLE_V4))):
        priority = DECAP_RULE_PRIORITY + offset
        present: set[str | None] = set()
        for rule in rules:
            if (rule.get("priority") or 0) != priority or rule.get("table") != table:
                continue
            source = _rule_source(rule)
            if source in wanted:
                present.add(source)
                continue
            with contextlib.suppress(NetlinkError):  # a rule of an earlier configuration
                ipr.rule("del", family=socket.AF_INET6, priority=priority, table=table,
                         src=source or "::", src_len=128 if source else 0, dst=address,
                         dst_len=128, ip_proto=proto)  # fmt: skip
        for peer in sorted(wanted - present):
            ipr.rule("add", family=socket.AF_INET6, priority=priority, src=peer, src_len=128,
                     dst=address, dst_len=128, ip_proto=proto, table=table)  # fmt: skip


class Seg6Tunnel:
    """The ``seg6`` backend (see the module docstring)."""

    name = "seg6"
    carries_gre = False
    carries_ipv4_transport = False

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._ipr: Any = None
        self._oif = 0
        self._local = ""

    def open(
        self,
        ipr: Any,
        oif: int,
        local_address: str | None,
        peers: Collection[str],
        local_ipv4: str | None = None,
    ) -> None:
        local_address = ipv6_transport_only(self.name, local_address, peers, local_ipv4)
        sock = open_route_socket(self.netns)
        try:
            sock.bind((0, 0))
            probe_seg6(ipr, oif, local_address, sock)
        finally:
            sock.close()
        self._ipr, self._oif, self._local = ipr, oif, local_address
        setup_decapsulation(ipr, oif, local_address, peers)

    def set_peers(self, peers: Collection[str]) -> None:
        setup_decapsulation(self._ipr, self._oif, self._local, peers)

    def accept_gre_keys(self, keys: Mapping[int, str]) -> None:
        if keys:
            raise DataPlaneError("the seg6 backend carries no GRE")

    def forget_gre_keys(self, keys: Collection[int]) -> None:
        """Never accepted any."""

    def route_attributes(self, family: int, oif: int, endpoint: bytes) -> bytes:
        return nla(RTA_OIF, struct.pack("=i", oif)) + seg6_encapsulation(endpoint[:16])

    def route_endpoint(self, encap_type: int, encap: bytes) -> bytes | None:
        # seg6_iptunnel_encap after its attribute header: int mode, the SRH (8), the segments.
        if encap_type != LWTUNNEL_ENCAP_SEG6 or len(encap) < 4 + 4 + 8 + 16:
            return None
        inner_type = _NLA.unpack_from(encap, 0)[1] & 0x3FFF
        if inner_type != SEG6_IPTUNNEL_SRH:
            return None
        if struct.unpack_from("=i", encap, 4)[0] != SEG6_IPTUN_MODE_ENCAP_RED:
            return None
        return encap[16:32]

    def close(self) -> None:
        """Nothing held."""
