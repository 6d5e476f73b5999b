"""What each daemon needs from its data plane, as Protocols (:class:`LmaDataPlane`,
:class:`MagDataPlane`), and the routes a binding stands for."""

from __future__ import annotations

from collections.abc import Awaitable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from netlmm_aaa.core.actions import BindingSnapshot, StationBinding, tunnel_endpoint


@dataclass(frozen=True, slots=True)
class RouteOperation:
    """Install (replace) or remove the routes of one binding."""

    binding: BindingSnapshot
    """The binding whose prefixes / IPv4 HoA are concerned."""
    install: bool
    """True: point them at ``binding.proxy_coa``; False: withdraw them."""


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What reconciliation changed in the kernel."""

    added: int
    """Routes that were missing and were installed."""
    replaced: int
    """Routes that pointed elsewhere and were corrected."""
    removed: int
    """Routes of ours with no binding behind them, deleted."""
    kept: int
    """Routes that were already right."""


class DataPlaneError(Exception):
    """The data plane cannot do what was asked (the message names the kernel feature or call)."""


class RoutesRefused(DataPlaneError):
    """The kernel refused some routes of a batch (the others are in): ``destinations``."""

    def __init__(self, message: str, destinations: frozenset[str]) -> None:
        super().__init__(message)
        self.destinations = destinations


class LmaDataPlane(Protocol):
    """Programs the LMA side: one route per home prefix / IPv4 HoA toward the serving MAG."""

    @property
    def backend_name(self) -> str:
        """The tunnel backend in use once started (``ebpf``, ``seg6``, ``routing``...)."""

    async def start(self) -> None:
        """Check kernel features and set up decapsulation; raise DataPlaneError if impossible."""

    async def apply(self, operations: Sequence[RouteOperation]) -> None:
        """Carry out route operations in order, as one batch where possible."""

    def apply_now(self, operations: Sequence[RouteOperation]) -> bool:
        """Carry out a few route operations at once, on the caller's thread, if that is cheap
        (tens of microseconds) and nothing else is in progress; False: use :meth:`apply`."""

    async def set_peers(self, peers: Collection[str]) -> None:
        """Decapsulate from exactly these MAG tunnel addresses from now on (a reload that adds
        MAGs); DataPlaneError when the backend cannot (e.g. a first IPv4 peer)."""

    async def reconcile(
        self, routes: Mapping[str, str], uplink_keys: Mapping[int, str] | None = None
    ) -> ReconcileReport:
        """Make the kernel's routes of ours exactly ``routes`` (destination -> serving MAG's
        tunnel endpoint; :func:`~netlmm_aaa.dataplane.in_memory.routes_of` builds it from
        bindings, the LMA core's ``active_routes`` from its binding cache), and in GRE mode
        accept exactly the ``uplink_keys`` (key -> the MAG that may use it)."""

    async def close(self) -> None:
        """Release resources (routes stay: they are the bindings' forwarding state)."""


class MagDataPlane(Protocol):
    """Programs the MAG side: per station, the downlink toward its access link and its uplink
    into the tunnel toward its LMA; one decapsulating receiver for the LMAs we serve with."""

    @property
    def backend_name(self) -> str:
        """The tunnel backend in use once started."""

    async def start(self) -> None:
        """Check kernel features and set up decapsulation; raise DataPlaneError if impossible."""

    async def set_peers(self, peers: Collection[str]) -> None:
        """Decapsulate from exactly these LMAs (with the configured one) from now on (a reload
        that adds LMAs); DataPlaneError when the backend cannot (e.g. a first IPv4 LMA)."""

    async def prepare_access_interface(self, interface: str) -> None:
        """Make ``interface`` an access link (forwarding, no address of the node's prefixes)."""

    # The station operations return an awaitable rather than being coroutines, so that an
    # implementation can hand back a plain future: a MAG registering thousands of stations a
    # second then creates no task per station.

    def install(self, station: StationBinding) -> Awaitable[None]:
        """Downlink and uplink of a registered station (replacing what was there)."""

    def remove(self, station: StationBinding) -> Awaitable[None]:
        """Undo :meth:`install`."""

    def prepare_downlink(self, station: StationBinding) -> Awaitable[None]:
        """The downlink only, ahead of the station's registration."""

    def withdraw_downlink(self, station: StationBinding) -> Awaitable[None]:
        """Undo :meth:`prepare_downlink` (or the part of it given)."""

    async def close(self) -> None:
        """Release resources."""


def endpoint_of(binding: BindingSnapshot) -> str:
    """Where a binding's routes lead: its serving MAG's tunnel address, with the downlink GRE
    key in GRE mode."""
    return tunnel_endpoint(binding.proxy_coa, binding.gre_key_downlink)


def routes_of(bindings: Iterable[BindingSnapshot]) -> dict[str, str]:
    """The routes ``bindings`` need: destination -> :func:`endpoint_of`."""
    return {d: endpoint_of(b) for b in bindings for d in destinations(b)}


def destinations(binding: BindingSnapshot) -> list[str]:
    """The route destinations of a binding: its prefixes and its IPv4 HoA as a /32."""
    out = list(binding.home_network_prefixes)
    if binding.ipv4_home_address is not None:
        out.append(f"{binding.ipv4_home_address}/32")
    return out
