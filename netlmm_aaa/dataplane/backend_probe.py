"""Which tunnel backend the running kernel offers, and the choice a daemon makes.

A daemon opens its backend on its own transport device: an explicit ``backend`` that the kernel
lacks fails start-up naming the missing feature; ``auto`` tries :data:`AUTO_ORDER` and keeps the
first that opens, logging why the others did not. ``netlmm-aaa dataplane probe`` runs the same
opening, plus one route, for every backend in a scratch network namespace, so what it prints is
what a daemon on this kernel would find.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Collection
from typing import Any

from pyroute2 import IPRoute
from pyroute2 import netns as pr_netns

from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.dataplane.netlink_routes import (
    ROUTE_PROTOCOL,
    NetlinkRouteWriter,
)
from netlmm_aaa.dataplane.port import DataPlaneError
from netlmm_aaa.dataplane.tunnel_backend import (
    AUTO_ORDER,
    Backend,
    BackendProbe,
    PlainRoutes,
    TunnelBackend,
)
from netlmm_aaa.dataplane.tunnel_ebpf import EbpfTunnel
from netlmm_aaa.dataplane.tunnel_ip6tnl import Ip6tnlTunnel
from netlmm_aaa.dataplane.tunnel_seg6 import Seg6Tunnel

log = logging.getLogger(__name__)

_PROBE_LOCAL = "2001:db8:ffff::1"
_PROBE_PEER = "2001:db8:ffff::2"
_PROBE_LOCAL4 = "192.0.2.254"
_PROBE_PEER4 = "192.0.2.253"


def make_backend(backend: Backend, netns: str | None, gre: bool = False) -> TunnelBackend:
    """A new, unopened backend of kind ``backend`` (not ``auto``), for GRE or not."""
    if backend is Backend.IP6TNL:
        return Ip6tnlTunnel(netns, gre)
    if backend is Backend.EBPF:
        return EbpfTunnel()
    if backend is Backend.SEG6:
        return Seg6Tunnel(netns)
    raise ValueError(f"not a concrete backend: {backend.value}")


def open_backend(
    requested: Backend,
    mode: TunnelMode,
    *,
    ipr: Any,
    netns: str | None,
    oif: int,
    local_address: str | None,
    peers: Collection[str],
    local_ipv4: str | None = None,
) -> TunnelBackend:
    """The opened backend for forwarding ``mode`` (see the module docstring); with
    ``local_ipv4`` (an IPv4 transport, RFC 5844 §4) only one that carries it."""
    if mode is TunnelMode.ROUTING:
        return PlainRoutes()
    candidates = AUTO_ORDER if requested is Backend.AUTO else (requested,)
    refusals: list[str] = []
    for candidate in candidates:
        backend = make_backend(candidate, netns, mode is TunnelMode.GRE)
        if mode is TunnelMode.GRE and not backend.carries_gre:
            refusal = f"the {candidate.value} backend cannot carry GRE (RFC 5845)"
            if requested is not Backend.AUTO:
                raise DataPlaneError(f'{refusal}; use backend = "ebpf" or "auto"')
            refusals.append(refusal)
            continue
        try:
            backend.open(ipr, oif, local_address, peers, local_ipv4)
        except DataPlaneError as exc:
            backend.close()
            if requested is not Backend.AUTO:
                raise
            refusals.append(f"{candidate.value}: {exc}")
            log.info("tunnel backend %s unavailable: %s", candidate.value, exc)
            continue
        if requested is Backend.AUTO:
            log.warning("tunnel backend: %s (chosen by auto; %s)", backend.name,
                        "; ".join(refusals) or "first in order")  # fmt: skip
        else:
            log.warning("tunnel backend: %s (configured)", backend.name)
        return backend
    raise DataPlaneError("no tunnel backend works on this kernel: " + "; ".join(refusals))


def _probe_one(backend: Backend, ipr: Any, netns: str, oif: int) -> BackendProbe:
    tunnel = make_backend(backend, netns, gre=False)
    try:
        tunnel.open(ipr, oif, _PROBE_LOCAL, (_PROBE_PEER,))
        wanted = {"2001:db8:fffe::/64": _PROBE_PEER}
        routes, failures = _probe_routes(tunnel, netns, oif, wanted)
    except DataPlaneError as exc:
        return BackendProbe(backend.value, False, str(exc).split("\n", 1)[0])
    finally:
        tunnel.close()
    if failures:
        return BackendProbe(backend.value, False, f"a binding route failed: {failures[0]}")
    if routes != wanted:
        return BackendProbe(backend.value, False, f"a binding route did not read back: {routes}")
    return BackendProbe(backend.value, True, "receiver and binding route work",
                        _probe_ipv4_transport(backend, ipr, netns, oif))  # fmt: skip


def _probe_routes(
    tunnel: TunnelBackend, netns: str, oif: int, wanted: dict[str, str]
) -> tuple[dict[str, str], list[Any]]:
    """Install ``wanted`` in the main table, read our routes back, remove them."""
    writer = NetlinkRouteWriter.open(netns=netns, oif=oif, table=254, protocol=ROUTE_PROTOCOL,
                                     tunnel=tunnel)  # fmt: skip
    try:
        failures = writer.replace(list(wanted.items()))
        routes = writer.dump()
        writer.delete(list(wanted))
    finally:
        writer.close()
    return routes, failures


def _probe_ipv4_transport(backend: Backend, ipr: Any, netns: str, oif: int) -> bool:
    """Whether ``backend`` carries IPv4-outer tunnels here: a receiver for an IPv4 peer and
    routes of both families toward it, read back."""
    tunnel = make_backend(backend, netns, gre=False)
    if not tunnel.carries_ipv4_transport:
        return False
    try:
        tunnel.open(ipr, oif, _PROBE_LOCAL, (_PROBE_PEER4,), _PROBE_LOCAL4)
        wanted = {"2001:db8:fffd::/64": _PROBE_PEER4, "198.18.0.0/24": _PROBE_PEER4}
        routes, failures = _probe_routes(tunnel, netns, oif, wanted)
    except DataPlaneError as exc:
        log.info("%s: no IPv4 transport: %s", backend.value, exc)
        return False
    finally:
        tunnel.close()
    return not failures and routes == wanted


def probe_backends() -> list[BackendProbe]:
    """Every backend, tried in a scratch network namespace (needs root)."""
    name = f"nlmm-probe-{os.getpid()}"
    pr_netns.create(name)
    try:
        with IPRoute(netns=name, groups=0, flags=0) as ipr:
            ipr.link("add", ifname="probe0", kind="veth", peer="probe1")
            oif = ipr.link_lookup(ifname="probe0")[0]
            for index in (oif, ipr.link_lookup(ifname="probe1")[0]):
                ipr.link("set", index=index, state="up")
            ipr.addr("add", index=oif, address=_PROBE_LOCAL, prefixlen=64, flags=0x02)
            ipr.addr("add", index=oif, address=_PROBE_LOCAL4, prefixlen=24)
            found = [_probe_one(b, ipr, name, oif) for b in AUTO_ORDER]
        found.append(BackendProbe("routing", True, "plain routes (the routing forwarding mode)"))
        return found
    finally:
        with contextlib.suppress(OSError):
            pr_netns.remove(name)


def auto_choice(probes: Collection[BackendProbe]) -> str | None:
    """What ``auto`` would choose given ``probes``."""
    order = [b.value for b in AUTO_ORDER]
    usable = [p.backend for p in probes if p.available and p.backend in order]
    return min(usable, key=order.index) if usable else None
