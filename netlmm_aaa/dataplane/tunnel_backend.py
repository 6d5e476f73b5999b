"""How a binding's route reaches its peer: the tunnel backend behind both data planes.

One model for every kernel (RFC 5213 §6.10, RFC 5844): per binding a route toward the peer
(LMA: home prefix and IPv4 HoA toward the serving MAG; MAG: the uplink table's default routes
toward the LMA) and one decapsulating receiver per node that accepts tunnels only from
configured peers. A backend is the kernel mechanism that does it:

- ``ip6tnl``: flow-based ip6tnl / ip6gre devices, ``encap ip6`` routes, an nftables peer filter
  (:mod:`.tunnel_ip6tnl`);
- ``ebpf``: LWT_XMIT programs on the routes, a tc ingress program as receiver
  (:mod:`.tunnel_ebpf`);
- ``seg6``: ``encap seg6 mode encap.red`` routes, End.DX6/End.DX4 as receiver
  (:mod:`.tunnel_seg6`);
- ``routing``: plain routes via the peer, no tunnel (the ``routing`` forwarding mode).

All put the same octets on the wire (next header 41 / 4, or 47 with RFC 5845 keys). Over an IPv4
transport network (RFC 5844 §4: a peer, and our tunnel address toward it, are IPv4) only
``ebpf`` (an IPv4 outer header) and ``routing`` (IPv4 destinations only: Linux has no IPv6 route
via an IPv4 next hop) can carry traffic; ``ip6tnl`` and ``seg6`` put IPv6 outer headers only.

The route writer (:class:`~.netlink_routes.NetlinkRouteWriter`) asks the backend for each route's
attributes and to read a dumped route's endpoint back; :mod:`.backend_probe` says which backends
the running kernel offers and picks one.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.dataplane.netlink_routes import RTA_GATEWAY, RTA_OIF, RTA_VIA, nla
from netlmm_aaa.dataplane.port import DataPlaneError


class Backend(Enum):
    """The ``backend`` configuration key: which kernel mechanism carries ``ip6ip6`` tunnels."""

    #: probe the running kernel and take the first that works, in the order below
    AUTO = "auto"
    #: flow-based ip6tnl / ip6gre devices (CONFIG_IPV6_TUNNEL, CONFIG_IPV6_GRE)
    IP6TNL = "ip6tnl"
    #: eBPF LWT encapsulation + tc decapsulation (CONFIG_LWTUNNEL_BPF, CONFIG_NET_CLS_BPF)
    EBPF = "ebpf"
    #: seg6 encap.red + End.DX6/End.DX4 (CONFIG_IPV6_SEG6_LWTUNNEL)
    SEG6 = "seg6"


#: What ``auto`` tries, in order.
AUTO_ORDER = (Backend.IP6TNL, Backend.EBPF, Backend.SEG6)


@dataclass(frozen=True, slots=True)
class BackendProbe:
    """Whether the running kernel can carry tunnels with one backend, and why (not)."""

    backend: str
    available: bool
    reason: str
    ipv4_transport: bool = False
    """Whether it carried tunnels with IPv4 outer headers (RFC 5844 §4) here too."""


class TunnelBackend(Protocol):
    """The kernel mechanism of one node's tunnels (see the module docstring)."""

    name: str
    """``ebpf``, ``seg6`` or ``routing``: logged, exported in /metrics, reported by the demo."""
    carries_gre: bool
    """Whether routes may name GRE keys (endpoints of 20 octets) and keys may be accepted."""
    carries_ipv4_transport: bool
    """Whether tunnels may have IPv4 endpoints (RFC 5844 §4): peers, routes of 4 (or 8) octets."""

    def open(
        self,
        ipr: Any,
        oif: int,
        local_address: str | None,
        peers: Collection[str],
        local_ipv4: str | None = None,
    ) -> None:
        """Set up the receiver on transport device ``oif`` for tunnels to ``local_address``
        (IPv6) and ``local_ipv4`` from ``peers`` (addresses of either family), and anything
        routes need. Raises DataPlaneError naming what the kernel lacks. ``ipr``: a pyroute2
        IPRoute in the node's namespace."""

    def set_peers(self, peers: Collection[str]) -> None:
        """Accept tunnels from exactly these peers from now on."""

    def accept_gre_keys(self, keys: Mapping[int, str]) -> None:
        """GRE: accept packets with these keys, each from the one peer it names (RFC 5845)."""

    def forget_gre_keys(self, keys: Collection[int]) -> None:
        """GRE: no longer accept these keys."""

    def route_attributes(self, family: int, oif: int, endpoint: bytes) -> bytes:
        """The netlink attributes of a route toward ``endpoint`` on ``oif`` (16 octets of
        address, and 4 of GRE key in network order when the route carries one)."""

    def route_endpoint(self, encap_type: int, encap: bytes) -> bytes | None:
        """The endpoint of a dumped route with this ``RTA_ENCAP_TYPE`` / ``RTA_ENCAP`` payload,
        or None when it is not one this backend (in its current form) would have written."""

    def close(self) -> None:
        """Release file descriptors (routes and the receiver stay: they are forwarding state)."""


def receiver_peers(mode: TunnelMode, peers: Collection[str]) -> tuple[str, ...]:
    """The tunnel sources a receiver decapsulates from: ``peers``, except in GRE mode, where
    only GRE with a key we handed out is taken (no peer's plain IP-in-IPv6)."""
    return () if mode is TunnelMode.GRE else tuple(peers)


def change_receiver_peers(
    tunnel: TunnelBackend, mode: TunnelMode, before: Collection[str], after: Collection[str]
) -> None:
    """Decapsulate from ``after`` instead of ``before`` (a reload that adds peers); when the
    backend refuses, from ``before`` again, then re-raise: a refused change leaves the
    receiver as it was."""
    try:
        tunnel.set_peers(receiver_peers(mode, after))
    except Exception:
        tunnel.set_peers(receiver_peers(mode, before))
        raise


def ipv6_transport_only(
    backend: str, local_address: str | None, peers: Collection[str], local_ipv4: str | None
) -> str:
    """``local_address``, for a backend that puts IPv6 outer headers only; DataPlaneError when
    asked for an IPv4 transport (RFC 5844 §4)."""
    ipv4_peers = sorted(p for p in peers if ":" not in p)
    if local_address is None or local_ipv4 is not None or ipv4_peers:
        wanted = ", ".join(ipv4_peers) or local_ipv4 or "an IPv4 tunnel address only"
        raise DataPlaneError(
            f"the {backend} backend puts IPv6 outer headers only; an IPv4 transport "
            f"({wanted}) needs the ebpf backend"
        )
    return local_address


class PlainRoutes:
    """The ``routing`` forwarding mode: routes via the peer, no tunnel, no receiver."""

    name = "routing"
    carries_gre = False
    carries_ipv4_transport = True

    def open(
        self,
        ipr: Any,
        oif: int,
        local_address: str | None,
        peers: Collection[str],
        local_ipv4: str | None = None,
    ) -> None:
        """Nothing to set up."""

    def set_peers(self, peers: Collection[str]) -> None:
        """No receiver: nothing to filter."""

    def accept_gre_keys(self, keys: Mapping[int, str]) -> None:
        """No tunnel, no keys."""

    def forget_gre_keys(self, keys: Collection[int]) -> None:
        """No tunnel, no keys."""

    def route_attributes(self, family: int, oif: int, endpoint: bytes) -> bytes:
        if len(endpoint) == 4:  # an IPv4 peer (RFC 5844 §4)
            if family == socket.AF_INET6:
                raise DataPlaneError(
                    "the routing forwarding mode cannot route an IPv6 home prefix via an IPv4 "
                    "peer (Linux has no IPv6 route via an IPv4 next hop): use ip6ip6"
                )
            return nla(RTA_GATEWAY, endpoint)
        gateway = endpoint[:16]
        if family == socket.AF_INET6:
            return nla(RTA_GATEWAY, gateway)
        # An IPv4 destination via an IPv6 next hop (RFC 5549 style, Linux 5.2+).
        return nla(RTA_OIF, struct.pack("=i", oif)) + nla(
            RTA_VIA, struct.pack("=H", socket.AF_INET6) + gateway
        )

    def route_endpoint(self, encap_type: int, encap: bytes) -> bytes | None:
        return None

    def close(self) -> None:
        """Nothing held."""
