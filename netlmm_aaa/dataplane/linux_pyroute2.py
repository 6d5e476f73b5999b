"""The Linux data plane of the LMA, on pyroute2.

Forwarding modes (``TunnelMode``, RFC 4831 goal 11):

- ``ip6ip6``: IPv6-in-IPv6 and IPv4-in-IPv6 exactly as RFC 5213 / RFC 5844 put them on the wire.
  Encapsulation is a per-prefix route ``encap seg6 mode encap.red segs <Proxy-CoA>``: with one
  segment the kernel adds no routing header, so the outer header is plain IPv6 with next header
  41 (or 4), the same octets ip6tnl sends, and no tunnel device per MAG is needed.
  Decapsulation: packets to the LMAA with next header 41 / 4 are steered by ``ipproto`` rules to
  tables holding ``seg6local End.DX6`` / ``End.DX4`` routes; the local table moves behind those
  rules. (ip6tnl is not required; on kernels without ``CONFIG_IPV6_SEG6_LWTUNNEL`` start-up fails
  naming it.)
- ``routing``: plain routes to the Proxy-CoA, no tunnel (the transport must route home prefixes).
- ``gre``: GRE over IPv6 with the negotiated keys (RFC 5845) needs ``ip6gre``
  (``CONFIG_IPV6_GRE``); start-up fails naming it where the kernel lacks it, and (not yet
  programmed here) says so where the kernel has it. The keys are negotiated by the core.

All netlink work runs on one worker thread, so the event loop never blocks on it; route
operations of one batch are sent back to back. Transient ENOMEM (seg6 state is allocated with
GFP_ATOMIC and fails under bulk load) is retried. Every route we install carries our own
``rtm_protocol`` value, so reconciliation lists exactly our routes.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.dataplane.in_memory import destinations
from netlmm_aaa.dataplane.netlink_routes import (
    SEG6_IPTUN_MODE_ENCAP_RED,
    NetlinkRouteWriter,
    seg6_mode,
)
from netlmm_aaa.dataplane.port import DataPlaneError, ReconcileReport, RouteOperation

#: ``rtm_protocol`` of the routes we own (a value no routing daemon in iproute2's rt_protos uses).
ROUTE_PROTOCOL = 213
#: Tables holding the End.DX6 / End.DX4 decapsulation routes.
DECAP_TABLE_V6 = 200
DECAP_TABLE_V4 = 201
#: Rule priorities: decapsulation first, then the local table (moved from priority 0).
DECAP_RULE_PRIORITY = 100
LOCAL_RULE_PRIORITY = 500
_PROBE_TABLE = 25213
_PROBE_PREFIX = "2001:db8:ffff:ffff::/64"
_ENOMEM_RETRIES = 50
#: Batches up to this many route operations are written from the event loop itself.
_INLINE_LIMIT = 16


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


def _family(destination: str) -> int:
    return socket.AF_INET6 if ":" in destination else socket.AF_INET


def probe_seg6(ipr: Any, oif: int, address: str, sock: socket.socket) -> None:
    """Check that the kernel takes seg6 ``encap.red`` routes (and that pyroute2 sends mode 3).
    ``sock``: a bound NETLINK_ROUTE socket in the same namespace, to read the probe route back
    from its own table only (pyroute2 would dump and parse every route of the namespace: minutes
    on a host holding a million of them)."""
    try:
        ipr.route(
            "replace",
            dst=_PROBE_PREFIX,
            oif=oif,
            table=_PROBE_TABLE,
            encap={"type": "seg6", "mode": "encap.red", "segs": [address]},
        )
        mode = seg6_mode(sock, _PROBE_TABLE, _PROBE_PREFIX)
        ipr.route("del", dst=_PROBE_PREFIX, oif=oif, table=_PROBE_TABLE)
    except NetlinkError as exc:
        raise DataPlaneError(
            "the ip6ip6 forwarding mode needs seg6 lightweight tunnels "
            f"(CONFIG_IPV6_SEG6_LWTUNNEL): the kernel refused a seg6 route: {exc}"
        ) from exc
    if mode != SEG6_IPTUN_MODE_ENCAP_RED:
        raise DataPlaneError(
            f"seg6 encap.red did not stick (kernel reports mode {mode!r}, encap.red is "
            f"{SEG6_IPTUN_MODE_ENCAP_RED}); without it packets would carry a routing header"
        )


def setup_decapsulation(ipr: Any, oif: int, address: str) -> None:
    """Decapsulate IPv6-in-IPv6 and IPv4-in-IPv6 sent to ``address`` (RFC 5213 wire format):
    ``ipproto 41/4`` rules to tables with ``seg6local End.DX6/End.DX4`` routes, and the local
    table moved behind them (idempotent)."""
    for table, action, nh in (
        (DECAP_TABLE_V6, "End.DX6", {"nh6": "::"}),
        (DECAP_TABLE_V4, "End.DX4", {"nh4": "0.0.0.0"}),
    ):
        ipr.route(
            "replace",
            dst=f"{address}/128",
            oif=oif,
            table=table,
            encap={"type": "seg6local", "action": action, **nh},
        )
    rules = ipr.get_rules(family=socket.AF_INET6)
    # The kernel omits FRA_PRIORITY for priority 0 (the default local-table rule).
    have = {(r.get("priority") or 0, r.get("table")) for r in rules}
    if (LOCAL_RULE_PRIORITY, 255) not in have:
        ipr.rule("add", family=socket.AF_INET6, priority=LOCAL_RULE_PRIORITY, table=255)
    if (0, 255) in have:
        ipr.rule("del", family=socket.AF_INET6, priority=0, table=255)
    for offset, (proto, table) in enumerate(((41, DECAP_TABLE_V6), (4, DECAP_TABLE_V4))):
        if (DECAP_RULE_PRIORITY + offset, table) not in have:
            ipr.rule(
                "add",
                family=socket.AF_INET6,
                priority=DECAP_RULE_PRIORITY + offset,
                dst=address,
                dst_len=128,
                ip_proto=proto,
                table=table,
            )


class LinuxDataPlane:
    """LMA routes toward MAGs, programmed through netlink (pyroute2)."""

    def __init__(
        self,
        *,
        mode: TunnelMode,
        local_address: str,
        device: str,
        netns: str | None = None,
        table: int = 254,
    ) -> None:
        self.mode = mode
        self.local_address = local_address
        self.device = device
        self.netns = netns
        self.table = table
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netlink")
        self._ipr: Any = None
        self._writer: NetlinkRouteWriter | None = None
        self._busy = 0
        self._oif = 0
        self.enomem_retries = 0

    # ------------------------------------------------------------------ asyncio-facing API

    async def start(self) -> None:
        await self._run(self._start)

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

    async def reconcile(self, routes: Mapping[str, str]) -> ReconcileReport:
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
        self._writer = NetlinkRouteWriter.open(
            netns=self.netns,
            oif=self._oif,
            table=self.table,
            protocol=ROUTE_PROTOCOL,
            encap=self.mode is not TunnelMode.ROUTING,
        )
        if self.mode is TunnelMode.IP6IP6:
            probe_seg6(self._ipr, self._oif, self.local_address, self._writer.sock)
            setup_decapsulation(self._ipr, self._oif, self.local_address)
        elif self.mode is TunnelMode.GRE:
            self._writer.close()
            self._writer = None
            self._probe_link_kind(
                "ip6gre", "GRE over IPv6 (CONFIG_IPV6_GRE, kernel module ip6_gre)"
            )
            raise DataPlaneError(
                "the gre forwarding mode is negotiated in signalling (RFC 5845 keys), but this "
                "version programs only the ip6ip6 and routing data planes; use one of those"
            )

    def _probe_link_kind(self, kind: str, feature: str) -> None:
        name = "nlmmprobe0"
        try:
            self._ipr.link("add", ifname=name, kind=kind)
        except NetlinkError as exc:
            if exc.code == errno.EOPNOTSUPP:
                raise DataPlaneError(
                    f"the {self.mode.value} forwarding mode needs {feature}, "
                    "which this kernel does not have"
                ) from exc
            raise DataPlaneError(f"probing {kind} failed: {exc}") from exc
        self._ipr.link("del", ifname=name)

    def _apply(self, operations: list[RouteOperation]) -> None:
        # Later operations on the same destination win (a handover right after a registration
        # in one batch); the kernel then gets one message per destination.
        final: dict[str, str | None] = {}
        for op in operations:
            for destination in destinations(op.binding):
                final.pop(destination, None)
                final[destination] = op.binding.proxy_coa if op.install else None
        self._write(
            [(d, t) for d, t in final.items() if t is not None],
            [d for d, t in final.items() if t is None],
        )

    def _write(self, replace: list[tuple[str, str]], delete: list[str]) -> None:
        assert self._writer is not None
        failures = self._writer.delete(delete) if delete else []
        failures += self._writer.replace(replace) if replace else []
        self.enomem_retries = self._writer.enomem_retries
        if failures:
            shown = "; ".join(str(f) for f in failures[:5])
            raise DataPlaneError(f"{len(failures)} route operation(s) failed: {shown}")

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
