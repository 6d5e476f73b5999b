"""The Linux data plane of a MAG (RFC 5213 §6.10, RFC 5844), on pyroute2.

Once, at start-up:

- the tunnel backend the kernel offers (:mod:`netlmm_aaa.dataplane.tunnel_backend`), whose
  receiver decapsulates at our Proxy-CoA what our LMAs send, exactly as at the LMA;
- the uplink tunnel: a table (100 by default) whose default routes, IPv6 and IPv4, go to the LMA
  (IPv6-in-IPv6 / IPv4-in-IPv6 through the backend; or plain routes via the LMAA in ``routing``
  mode); a station whose LMA is another one (its realm's, its profile's) has its uplink lead to
  that LMA's own table (101, 102, ..., made when its first station registers), so each
  station's uplink goes to the LMA that anchors it;
- per access interface: the same router on every MAG (RFC 6543): MAC 00:00:5e:00:52:13 and
  link-local fe80::200:5eff:fe00:5213, plus the IPv4 default router, configured *before* the link
  comes up (an MN's first neighbour solicitation must not go unanswered).

Per registered station: the downlink routes (home prefixes, IPv4 HoA /32) on its access link,
and its (MAC, prefix) pairs in the ingress source filter
(:mod:`netlmm_aaa.dataplane.ingress_filter`), so that no station sends from another's prefix;
the filter marks what passes with the station's uplink table, and one rule per access link and
table, ``iif <link> fwmark <table> lookup <table>``, leads only registered stations' own
addresses into the tunnel (hostapd ``driver=wired`` does not block unauthorized traffic; this
does). Without the filter (``ingress_filter = false``) each station has source rules ``from
<prefix|HoA> iif <link> lookup <table>`` instead: the kernel walks rules as a list, on every
routing decision and on every rule added, so those cost more the more stations are registered.
In GRE mode each station's uplink table is its own (its uplink key), and so is its rule.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from netlmm_aaa.core.actions import StationBinding, tunnel_endpoint
from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.cpu_priority import background_executor
from netlmm_aaa.dataplane.backend_probe import open_backend
from netlmm_aaa.dataplane.ingress_filter import NO_UPLINK, IngressFilter
from netlmm_aaa.dataplane.netlink_routes import (
    ROUTE_PROTOCOL,
    NetlinkRouteWriter,
    mark_rule_message,
    open_route_socket,
    source_rule_message,
    station_route_message,
    transact,
)
from netlmm_aaa.dataplane.port import DataPlaneError
from netlmm_aaa.dataplane.tunnel_backend import (
    Backend,
    TunnelBackend,
    change_receiver_peers,
    receiver_peers,
)

#: RFC 6543: the MAC and link-local address every MAG presents on its access links.
FIXED_MAG_MAC = "00:00:5e:00:52:13"
FIXED_MAG_LINK_LOCAL = "fe80::200:5eff:fe00:5213"
UPLINK_TABLE = 100
#: GRE mode: stations' own uplink tables are numbered from here.
GRE_TABLE_BASE = 0x4E4C_0000
UPLINK_RULE_PRIORITY = 1000


class MagLinuxDataPlane:
    """Uplink tunnel, decapsulation and per-station forwarding state of one MAG."""

    def __init__(
        self,
        *,
        mode: TunnelMode,
        proxy_coa: str | None,
        lma_address: str,
        device: str,
        ipv4_router: str | None = None,
        peers: Collection[str] = (),
        backend: Backend = Backend.AUTO,
        netns: str | None = None,
        uplink_table: int = UPLINK_TABLE,
        ingress_filter: bool = True,
        ipv4_proxy_coa: str | None = None,
    ) -> None:
        self.mode = mode
        self.peers = tuple(sorted({lma_address, *peers}))
        """The LMAs' addresses: the only tunnel sources the receiver decapsulates from."""
        self.requested_backend = backend
        self.tunnel: TunnelBackend | None = None
        self._uplink: NetlinkRouteWriter | None = None
        self.proxy_coa = proxy_coa
        self.ipv4_proxy_coa = ipv4_proxy_coa
        """Our IPv4 tunnel address, toward IPv4 LMAs (RFC 5844 §4); given to the tunnel backend
        only when an LMA is IPv4, so that ``auto`` may still choose a backend with IPv6 outer
        headers only."""
        self.lma_address = lma_address
        self.device = device
        self.ipv4_router = ipv4_router
        self.netns = netns
        self.table = uplink_table
        self.ingress = IngressFilter(netns) if ingress_filter else None
        self._executor = background_executor("mag-netlink", 1)
        self._ipr: Any = None
        self._nl: socket.socket | None = None
        self._seq = 1
        self._oif = 0
        self._links: dict[str, int] = {}
        self._tables: dict[str, int] = {}
        """GRE mode: each registered station's uplink table, by MAC."""
        self._lma_tables: dict[str, int] = {lma_address: uplink_table}
        """Other modes: each LMA's uplink table (default routes toward it)."""
        self._free_tables: list[int] = []
        self._changes: list[_StationChange] = []
        """Station changes waiting for the worker, in arrival order."""
        self._drainer: asyncio.Task[None] | None = None
        self._mark_rules: set[_LinkTable] = set()
        """With the ingress filter: the (access link, uplink table) pairs whose rule
        ``iif <link> fwmark <table> lookup <table>`` is in place (both families)."""

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def set_peers(self, peers: Collection[str]) -> None:
        wanted = tuple(sorted({self.lma_address, *peers}))
        if self.tunnel is not None:
            await self._run(change_receiver_peers, self.tunnel, self.mode, self.peers, wanted)
        self.peers = wanted

    @property
    def backend_name(self) -> str:
        """The tunnel backend in use (after :meth:`start`)."""
        return self.tunnel.name if self.tunnel is not None else "none"

    async def start(self) -> None:
        await self._run(self._start)

    async def prepare_access_interface(self, interface: str) -> None:
        """Give ``interface`` the fixed MAG router identity, then bring it up."""
        await self._run(self._prepare, interface)

    def install(self, station: StationBinding) -> asyncio.Future[None]:
        return self._queue(_StationChange(station, install=True, rules=True))

    def remove(self, station: StationBinding) -> asyncio.Future[None]:
        return self._queue(_StationChange(station, install=False, rules=True))

    def prepare_downlink(self, station: StationBinding) -> asyncio.Future[None]:
        """Ahead of the PBA, for a station whose addresses the AAA profile already gave: its
        downlink routes and its ingress-filter entries, not the uplink rules. Traffic reaches
        this MAG for the station only once the LMA has moved the binding (just before it sends
        the PBA), so the first redirected packet finds its way without waiting for the PBA to
        be processed; the station's own traffic still goes nowhere until :meth:`install`."""
        return self._queue(_StationChange(station, install=True, rules=False))

    def withdraw_downlink(self, station: StationBinding) -> asyncio.Future[None]:
        """Undo :meth:`prepare_downlink` (the registration failed or got other addresses)."""
        return self._queue(_StationChange(station, install=False, rules=False))

    def _queue(self, change: _StationChange) -> asyncio.Future[None]:
        """Carry out ``change`` together with the others queued meanwhile: while the worker
        applies one batch, the changes that arrive wait for the next, so a lone station's
        change goes at once and a burst shares one nftables transaction and one netlink
        batch. Each change's own outcome (its DataPlaneError) reaches its caller through the
        returned future (call on the event loop)."""
        loop = asyncio.get_running_loop()
        change.future = future = loop.create_future()
        self._changes.append(change)
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        while self._changes:
            batch = _take_batch(self._changes)
            try:
                errors = await self._run(self._apply, batch)
            except Exception as exc:  # the worker itself failed: every change in the batch
                errors = [exc] * len(batch)
            for change, error in zip(batch, errors, strict=True):
                assert change.future is not None
                if change.future.done():  # its caller was cancelled
                    continue
                if error is None:
                    change.future.set_result(None)
                else:
                    change.future.set_exception(error)

    async def close(self) -> None:
        if self._ipr is not None:
            await self._run(self._ipr.close)
            self._ipr = None
        if self._nl is not None:
            self._nl.close()
            self._nl = None
        if self._uplink is not None:
            self._uplink.close()
            self._uplink = None
        if self.tunnel is not None:
            self.tunnel.close()
        self._executor.shutdown(wait=True)

    # ------------------------------------------------------------------ worker thread

    def _start(self) -> None:
        try:
            # groups=0: no route notifications queued for a socket that never reads them.
            self._ipr = (
                IPRoute(netns=self.netns, groups=0, flags=0) if self.netns else IPRoute(groups=0)
            )
        except OSError as exc:
            raise DataPlaneError(f"cannot open netlink (netns {self.netns!r}): {exc}") from exc
        links = self._ipr.link_lookup(ifname=self.device)
        if not links:
            raise DataPlaneError(f"transport device {self.device!r} does not exist")
        self._nl = open_route_socket(self.netns)
        self._nl.bind((0, 0))
        if self.ingress is not None:
            self.ingress.start()
        self._oif = links[0]
        self.tunnel = open_backend(
            self.requested_backend, self.mode, ipr=self._ipr, netns=self.netns, oif=self._oif,
            local_address=self.proxy_coa, peers=receiver_peers(self.mode, self.peers),
            local_ipv4=self.ipv4_proxy_coa if any(":" not in p for p in self.peers) else None,
        )  # fmt: skip
        self._uplink = NetlinkRouteWriter.open(netns=self.netns, oif=self._oif,
                                          table=self.table, protocol=ROUTE_PROTOCOL,
                                          tunnel=self.tunnel)  # fmt: skip
        self._sweep_source_rules()
        if self.mode is TunnelMode.GRE:
            return  # each station's uplink table carries its own key (see _station)
        failures = self._uplink.replace([("::/0", self.lma_address),
                                         ("0.0.0.0/0", self.lma_address)])  # fmt: skip
        if failures:
            raise DataPlaneError(f"the uplink table's default routes: {failures[0]}")

    def _sweep_source_rules(self) -> None:
        """Remove the per-station source rules a previous run left (``from <block> iif <link>
        lookup <one of our uplink tables>`` at our priority): its stations register again and
        bring back what they need, and a MAG that now marks its uplink (or was upgraded to)
        would otherwise keep them, each one more entry the kernel walks for every packet it
        routes. Only rules of exactly that shape go; an operator's other rules stay."""
        messages: list[bytes] = []
        for family in (socket.AF_INET6, socket.AF_INET):
            for rule in self._ipr.get_rules(family=family):
                table = rule.get_attr("FRA_TABLE") or rule["table"]
                ours = (self.table <= table < self.table + 256
                        or GRE_TABLE_BASE <= table < GRE_TABLE_BASE + 0x1_0000)  # fmt: skip
                source = rule.get_attr("FRA_SRC")
                iifname = rule.get_attr("FRA_IIFNAME")
                if (not ours or rule.get_attr("FRA_PRIORITY") != UPLINK_RULE_PRIORITY
                        or not source or not iifname or rule.get_attr("FRA_FWMARK")):  # fmt: skip
                    continue
                block = f"{source}/{rule['src_len']}"
                messages.append(source_rule_message(False, block, iifname, table,
                                                    UPLINK_RULE_PRIORITY,
                                                    self._seq + len(messages)))  # fmt: skip
        if messages:
            assert self._nl is not None
            seq = self._seq
            self._seq = (seq + len(messages)) & 0x7FFF_FFFF or 1
            failed = [code for code in transact(self._nl, messages, seq) if code not in _GONE_OK]
            if failed:
                raise DataPlaneError(f"removing stale source rules: {os.strerror(failed[0])}")

    def _station_table(self, station: StationBinding) -> int:
        """The uplink table of ``station``'s source rules: its LMA's, or in GRE mode one of its
        own (its uplink key is its own), allocated on install and freed on removal."""
        if self.mode is not TunnelMode.GRE:
            return self._lma_table(station.lma_address or self.lma_address)
        table = self._tables.get(station.mac)
        if table is None:
            table = self._free_tables.pop() if self._free_tables else (
                GRE_TABLE_BASE + len(self._tables))  # fmt: skip
            self._tables[station.mac] = table
        return table

    def _lma_table(self, lma: str) -> int:
        """The uplink table toward ``lma``, made (default routes into its tunnel) on first use."""
        table = self._lma_tables.get(lma)
        if table is None:
            assert self._uplink is not None
            table = self.table + len(self._lma_tables)
            failures = self._uplink.replace([("::/0", lma), ("0.0.0.0/0", lma)], table=table)
            if failures:
                raise DataPlaneError(f"the uplink table {table} toward LMA {lma}: {failures[0]}")
            self._lma_tables[lma] = table
        return table

    def _gre_uplink(self, station: StationBinding, table: int, install: bool) -> None:
        """GRE mode: the station's uplink table (default routes toward its LMA with the uplink
        key the LMA gave) and our downlink key, accepted from that LMA only."""
        assert self._uplink is not None and self.tunnel is not None
        defaults = ["::/0", "0.0.0.0/0"]
        if install:
            if station.gre_key_uplink is None or station.gre_key_downlink is None:
                raise DataPlaneError(f"station {station.mac}: GRE mode without its GRE keys")
            self.tunnel.accept_gre_keys({station.gre_key_downlink: station.lma_address})
            target = tunnel_endpoint(station.lma_address, station.gre_key_uplink)
            failures = self._uplink.replace([(d, target) for d in defaults], table=table)
        else:
            if station.gre_key_downlink is not None:
                self.tunnel.forget_gre_keys([station.gre_key_downlink])
            failures = self._uplink.delete(defaults, table=table)
            self._free_tables.append(self._tables.pop(station.mac, table))
        if failures:
            raise DataPlaneError(f"station {station.mac} uplink table {table}: {failures[0]}")

    def _index(self, interface: str) -> int:
        links = self._ipr.link_lookup(ifname=interface)
        if not links:
            raise DataPlaneError(f"access interface {interface!r} does not exist")
        return int(links[0])

    def _prepare(self, interface: str) -> None:
        index = self._index(interface)
        self._ipr.link("set", index=index, state="down")
        self._ipr.link("set", index=index, address=FIXED_MAG_MAC)
        nodad = 0x02  # IFA_F_NODAD: the address is the same on every MAG by design
        self._ignore_exists(
            lambda: self._ipr.addr(
                "add", index=index, address=FIXED_MAG_LINK_LOCAL, prefixlen=64, flags=nodad
            )
        )
        if self.ipv4_router:
            self._ignore_exists(
                lambda: self._ipr.addr("add", index=index, address=self.ipv4_router, prefixlen=32)
            )
        if self.ingress is not None:
            self.ingress.prepare(interface)
        self._ipr.link("set", index=index, state="up")

    @staticmethod
    def _ignore_exists(call: Any) -> None:
        try:
            call()
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise

    def _link_index(self, station: StationBinding, install: bool) -> int | None:
        """The access interface's index, looked up once (a lookup dumps every link) and again
        whenever an operation on the cached index failed; None when a removal finds the link
        gone (the station moved away: its routes went with it, and the rules, which match the
        interface by name, are still removed)."""
        index = self._links.get(station.interface)
        if index is None:
            links = self._ipr.link_lookup(ifname=station.interface)
            if install and not links:
                raise DataPlaneError(f"access interface {station.interface!r} does not exist")
            index = links[0] if links else None
            if index is not None:
                self._links[station.interface] = index
        return index

    def _apply(self, batch: list[_StationChange]) -> list[Exception | None]:
        """Carry out ``batch`` (no MAC twice) in order; returns each change's error."""
        errors: list[Exception | None] = [None] * len(batch)
        indexes: dict[int, int | None] = {}
        tables: dict[int, int] = {}  # the uplink table of each change with rules
        for i, change in enumerate(batch):
            try:
                indexes[i] = self._link_index(change.station, change.install)
                if change.rules:
                    tables[i] = self._station_table(change.station)
            except DataPlaneError as exc:
                errors[i] = exc
        if self.ingress is not None:
            # Before the routes: the station's first answer (its Neighbor Advertisement to the
            # downlink's solicitation) comes from its home address and must pass. The mark is
            # its uplink table, NO_UPLINK while only the downlink is prepared.
            live = list(indexes)
            marks = [(batch[i].station, tables.get(i, NO_UPLINK) if batch[i].install else None)
                     for i in live]  # fmt: skip
            for i, reason in zip(live, self.ingress.update(marks), strict=True):
                if reason is not None:
                    errors[i] = DataPlaneError(f"station {batch[i].station.mac}: {reason}")
                    del indexes[i]
        # Every station's routes (and rules) in one netlink batch, acknowledged per message: a
        # registering station's downlink waits for them, and one pyroute2 call per route is
        # slow.
        messages: list[bytes] = []
        # Per message: the changes it serves, its kind and block for an error, its rule's pair.
        what: list[tuple[tuple[int, ...], str, str, _LinkTable | None]] = []
        new_marks = self._new_mark_rules(batch, indexes, tables)
        for (interface, table), owners in new_marks.items():
            for family in (socket.AF_INET6, socket.AF_INET):
                messages.append(mark_rule_message(True, family, interface, table, table,
                                                  UPLINK_RULE_PRIORITY,
                                                  self._seq + len(messages)))  # fmt: skip
                what.append((owners, "rule", f"fwmark {table}", (interface, table)))
        for i, index in indexes.items():
            change = batch[i]
            try:
                if change.rules and change.install and self.mode is TunnelMode.GRE:
                    self._gre_uplink(change.station, tables[i], True)  # before a rule leads there
                own = self._messages(change, index, tables.get(i, self.table),
                                     self._seq + len(messages))  # fmt: skip
            except (DataPlaneError, ValueError) as exc:  # this station's, not the batch's
                errors[i] = exc
                continue
            for kind, block, message in own:
                messages.append(message)
                what.append(((i,), kind, block, None))
        seq = self._seq
        self._seq = (seq + len(messages)) & 0x7FFF_FFFF or 1
        assert self._nl is not None
        refused: set[_LinkTable | None] = set()
        for (owners, kind, block, pair), code in zip(what, transact(self._nl, messages, seq),
                                                     strict=True):  # fmt: skip
            install = batch[owners[0]].install
            # Harmless: a rule already there (install), anything already gone (removal).
            if not code or ((kind, code) in _HARMLESS_INSTALL if install else code in _GONE):
                continue
            refused.add(pair)
            for i in owners:
                if errors[i] is not None:
                    continue
                self._links.pop(batch[i].station.interface, None)  # the link may be another now
                errors[i] = DataPlaneError(
                    f"{'installing' if install else 'removing'} {kind} {block} on "
                    f"{batch[i].station.interface}: {os.strerror(code)} (errno {code})"
                )
        self._mark_rules.update(pair for pair in new_marks if pair not in refused)
        for i, table in tables.items():
            change = batch[i]
            if not change.install and self.mode is TunnelMode.GRE:
                self._mark_rules.discard((change.station.interface, table))
                try:
                    self._gre_uplink(change.station, table, False)
                except DataPlaneError as exc:
                    errors[i] = errors[i] or exc
        return errors

    def _new_mark_rules(self, batch: list[_StationChange], indexes: Collection[int],
                        tables: dict[int, int]) -> dict[_LinkTable, tuple[int, ...]]:  # fmt: skip
        """The (access link, uplink table) pairs whose fwmark rule the batch's installs need
        and which do not exist yet, each with the changes that need it."""
        if self.ingress is None:
            return {}
        wanted: dict[_LinkTable, tuple[int, ...]] = {}
        for i in indexes:
            change = batch[i]
            if not (change.install and change.rules):
                continue
            pair = (change.station.interface, tables[i])
            if pair not in self._mark_rules:
                wanted[pair] = (*wanted.get(pair, ()), i)
        return wanted

    def _messages(self, change: _StationChange, index: int | None, table: int,
                  seq: int) -> list[tuple[str, str, bytes]]:  # fmt: skip
        """The station's own netlink messages, numbered from ``seq``: its downlink routes;
        without the ingress filter its source rules ``from <block> iif <link> lookup <table>``
        (route before rule on install, rule first on removal); with it, in GRE mode, the
        removal of its own table's fwmark rule."""
        station = change.station
        blocks = list(station.home_network_prefixes)
        if station.ipv4_home_address:
            blocks.append(f"{station.ipv4_home_address}/32")
        source_rules = change.rules and self.ingress is None
        out: list[tuple[str, str, bytes]] = []
        if (
            change.rules
            and not change.install
            and self.ingress is not None
            and (self.mode is TunnelMode.GRE)
        ):
            for family in (socket.AF_INET6, socket.AF_INET):
                out.append(("rule", f"fwmark {table}",
                            mark_rule_message(False, family, station.interface, table, table,
                                              UPLINK_RULE_PRIORITY, seq + len(out))))  # fmt: skip
        for block in blocks:
            prefsrc = self.ipv4_router if ":" not in block else None
            route = (change.install, block, index or 0, ROUTE_PROTOCOL)
            rule = (change.install, block, station.interface, table, UPLINK_RULE_PRIORITY)
            for kind in ("route", "rule") if change.install else ("rule", "route"):
                number = seq + len(out)
                if kind == "rule":
                    if source_rules:
                        out.append((kind, block, source_rule_message(*rule, number)))
                elif change.install or index is not None:
                    out.append((kind, block, station_route_message(*route, number, prefsrc)))
        return out


#: An access link and an uplink table: the pair one fwmark rule (each family) joins.
_LinkTable = tuple[str, int]
_HARMLESS_INSTALL = {("rule", errno.EEXIST)}
_GONE = {errno.ENOENT, errno.ESRCH}
_GONE_OK = {0, *_GONE}


@dataclass
class _StationChange:
    """One station's install or removal (``rules``: with its uplink source rules)."""

    station: StationBinding
    install: bool
    rules: bool
    future: asyncio.Future[None] | None = None


def _take_batch(changes: list[_StationChange], limit: int = 256) -> list[_StationChange]:
    """The oldest queued changes (removed from ``changes``) up to the first that names a MAC
    already in the batch, at most ``limit``: within a batch the nftables and netlink steps each
    run for every station in turn, which keeps one station's changes in order only if it has
    one change there."""
    macs: set[str] = set()
    count = 0
    for change in changes[:limit]:
        if change.station.mac in macs:
            break
        macs.add(change.station.mac)
        count += 1
    batch = changes[:count]
    del changes[:count]
    return batch
