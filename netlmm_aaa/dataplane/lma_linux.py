"""The Linux data plane of the LMA: one route per home prefix / IPv4 HoA toward the serving MAG.

Forwarding modes (``TunnelMode``, RFC 4831 goal 11):

- ``ip6ip6``: IPv6-in-IPv6 and IPv4-in-IPv6 exactly as RFC 5213 / RFC 5844 put them on the wire,
  carried by the tunnel backend the kernel offers (``backend``: ``ebpf``, ``seg6``, or ``auto``
  to probe; :mod:`netlmm_aaa.dataplane.tunnel_backend`), with one receiver on the transport
  device that decapsulates tunnels from the configured MAGs only.
- ``routing``: plain routes to the Proxy-CoA, no tunnel (the transport must route home prefixes).
- ``gre``: GRE in IPv6 with the keys negotiated in signalling (RFC 5845): each binding's route
  carries the MAG's downlink key, and the receiver accepts a binding's uplink key only from its
  serving MAG (backends that carry GRE: ``ebpf``).

All netlink work runs on one worker thread, so the event loop never blocks on it; route
operations of one batch are sent back to back. Transient ENOMEM (seg6 state is allocated with
GFP_ATOMIC and fails under bulk load) is retried. Every route we install carries our own
``rtm_protocol`` value, so reconciliation lists exactly our routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pyroute2 import IPRoute

from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.cpu_priority import background_executor
from netlmm_aaa.dataplane.backend_probe import open_backend
from netlmm_aaa.dataplane.netlink_routes import (
    ROUTE_PROTOCOL,
    NetlinkRouteWriter,
)
from netlmm_aaa.dataplane.port import (
    DataPlaneError,
    ReconcileReport,
    RouteOperation,
    RoutesRefused,
    destinations,
    endpoint_of,
)
from netlmm_aaa.dataplane.tunnel_backend import (
    Backend,
    TunnelBackend,
    change_receiver_peers,
    receiver_peers,
)

#: Batches up to this many route operations are written from the event loop itself.
_INLINE_LIMIT = 16


class LmaLinuxDataPlane:
    """LMA routes toward MAGs, programmed through netlink (pyroute2)."""

    def __init__(
        self,
        *,
        mode: TunnelMode,
        local_address: str | None,
        device: str,
        peers: Collection[str] = (),
        local_ipv4: str | None = None,
        backend: Backend = Backend.AUTO,
        netns: str | None = None,
        table: int = 254,
    ) -> None:
        self.mode = mode
        self.peers = tuple(dict.fromkeys(peers))
        """The MAGs' tunnel addresses: the only sources the receiver decapsulates from."""
        self.requested_backend = backend
        self.tunnel: TunnelBackend | None = None
        self.local_address = local_address
        self.local_ipv4 = local_ipv4
        """Our IPv4 tunnel address, toward MAGs that signal over IPv4 (RFC 5844 §4); given to
        the tunnel backend only when a peer is IPv4, so that ``auto`` may still choose a
        backend with IPv6 outer headers only."""
        self.device = device
        self.netns = netns
        self.table = table
        self._executor = background_executor("netlink", 1)
        self._ipr: Any = None
        self._writer: NetlinkRouteWriter | None = None
        self._busy = 0
        self._oif = 0
        self.enomem_retries = 0

    @property
    def backend_name(self) -> str:
        """The tunnel backend in use (after :meth:`start`)."""
        return self.tunnel.name if self.tunnel is not None else "none"

    # ------------------------------------------------------------------ asyncio-facing API

    async def start(self) -> None:
        await self._run(self._start)

    async def set_peers(self, peers: Collection[str]) -> None:
        wanted = tuple(dict.fromkeys(peers))
        if self.tunnel is not None:
            await self._run(change_receiver_peers, self.tunnel, self.mode, self.peers, wanted)
        self.peers = wanted

    async def apply(self, operations: Sequence[RouteOperation]) -> None:
        if not operations or self.apply_now(operations):
            return
        self._busy += 1
        try:
            await self._run(self._apply, list(operations))
        finally:
            self._busy -= 1

    def apply_now(self, operations: Sequence[RouteOperation]) -> bool:
        if len(operations) > _INLINE_LIMIT or self._busy:
            return False
        # A handful of routes costs tens of microseconds of netlink: done in place, it spares
        # the thread hand-off that would dominate a single registration's latency.
        self._apply(list(operations))
        return True

    async def reconcile(
        self, routes: Mapping[str, str], uplink_keys: Mapping[int, str] | None = None
    ) -> ReconcileReport:
        if uplink_keys:
            assert self.tunnel is not None
            await self._run(self.tunnel.accept_gre_keys, uplink_keys)
        return await self._run(self._reconcile, routes)  # type: ignore[no-any-return]

    async def routes(self) -> dict[str, str]:
        """Our routes in the kernel: destination -> tunnel endpoint / gateway."""
        return await self._run(self._our_routes)  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self._ipr is not None:
            await self._run(self._ipr.close)
            self._ipr = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.tunnel is not None:
            self.tunnel.close()
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    # ------------------------------------------------------------------ worker thread

    def _start(self) -> None:
        try:
            # groups=0: no route notifications queued for a socket that never reads them.
            self._ipr = (
                IPRoute(netns=self.netns, groups=0, flags=0) if self.netns else IPRoute(groups=0)
            )
        except (OSError, FileNotFoundError) as exc:
            raise DataPlaneError(f"cannot open netlink (netns {self.netns!r}): {exc}") from exc
        links = self._ipr.link_lookup(ifname=self.device)
        if not links:
            raise DataPlaneError(f"transport device {self.device!r} does not exist")
        self._oif = links[0]
        self.tunnel = open_backend(
            self.requested_backend, self.mode, ipr=self._ipr, netns=self.netns, oif=self._oif,
            local_address=self.local_address, peers=receiver_peers(self.mode, self.peers),
            local_ipv4=self.local_ipv4 if any(":" not in p for p in self.peers) else None,
        )  # fmt: skip
        self._writer = NetlinkRouteWriter.open(netns=self.netns, oif=self._oif,
                                          table=self.table, protocol=ROUTE_PROTOCOL,
                                          tunnel=self.tunnel)  # fmt: skip

    def _apply(self, operations: list[RouteOperation]) -> None:
        # Later operations on the same destination win (a handover right after a registration
        # in one batch); the kernel then gets one message per destination.
        final: dict[str, str | None] = {}
        keys: dict[int, str | None] = {}
        for op in operations:
            for destination in destinations(op.binding):
                final.pop(destination, None)
                final[destination] = endpoint_of(op.binding) if op.install else None
            if op.binding.gre_key_uplink is not None:
                keys.pop(op.binding.gre_key_uplink, None)
                keys[op.binding.gre_key_uplink] = op.binding.proxy_coa if op.install else None
        assert self.tunnel is not None
        # The MAG may send with its uplink key as soon as it has the PBA: accepted first.
        self.tunnel.accept_gre_keys({k: p for k, p in keys.items() if p is not None})
        self._write(
            [(d, t) for d, t in final.items() if t is not None],
            [d for d, t in final.items() if t is None],
        )
        self.tunnel.forget_gre_keys([k for k, p in keys.items() if p is None])

    def _write(self, replace: list[tuple[str, str]], delete: list[str]) -> None:
        assert self._writer is not None
        failures = self._writer.delete(delete) if delete else []
        failures += self._writer.replace(replace) if replace else []
        self.enomem_retries = self._writer.enomem_retries
        if failures:
            shown = "; ".join(str(f) for f in failures[:5])
            raise RoutesRefused(f"{len(failures)} route operation(s) failed: {shown}",
                                frozenset(f.destination for f in failures))  # fmt: skip

    def _our_routes(self) -> dict[str, str]:
        assert self._writer is not None
        return self._writer.dump()

    def _reconcile(self, wanted: Mapping[str, str]) -> ReconcileReport:
        have = self._our_routes()
        replace = [(d, t) for d, t in wanted.items() if have.get(d) != t]
        stale = [d for d in have if d not in wanted]
        added = sum(1 for d, _ in replace if d not in have)
        self._write(replace, stale)
        return ReconcileReport(
            added=added,
            replaced=len(replace) - added,
            removed=len(stale),
            kept=len(wanted) - len(replace),
        )
