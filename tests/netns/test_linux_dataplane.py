"""The LMA data plane against a real kernel in a network namespace: the backend contract
(install, replace, remove, reconcile, restart) for every tunnel backend this kernel has, and the
route writer's batching."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace

import pytest

from netlmm_aaa.core.actions import BindingSnapshot
from netlmm_aaa.core.events import Transport
from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.dataplane.port import routes_of
from netlmm_aaa.dataplane.lma_linux import LmaLinuxDataPlane
from netlmm_aaa.dataplane.netlink_routes import (
    ROUTE_PROTOCOL,
    NetlinkRouteWriter,
    open_route_socket,
    station_route_message,
    transact,
)
from netlmm_aaa.dataplane.port import RouteOperation
from netlmm_aaa.dataplane.backend_probe import make_backend
from netlmm_aaa.dataplane.tunnel_backend import Backend, PlainRoutes, TunnelBackend
from netlmm_aaa.dataplane.tunnel_ebpf import EbpfTunnel, route_name
from netlmm_aaa.dataplane.tunnel_seg6 import SEG6_IPTUN_MODE_ENCAP_RED, Seg6Tunnel, seg6_mode
from tests.conftest import require_backend
from tests.netns.topology import lab

#: (forwarding mode, backend) pairs of the contract; the ids name the backend.
CONTRACT = [
    pytest.param(TunnelMode.IP6IP6, Backend.IP6TNL, id="ip6tnl"),
    pytest.param(TunnelMode.IP6IP6, Backend.EBPF, id="ebpf"),
    pytest.param(TunnelMode.IP6IP6, Backend.SEG6, id="seg6"),
    pytest.param(TunnelMode.ROUTING, Backend.AUTO, id="routing"),
]

pytestmark = pytest.mark.netns

LMAA = "2001:db8:ff::1"


def _binding(mn: str, prefix: str, proxy_coa: str, ipv4: str | None = None) -> BindingSnapshot:
    return BindingSnapshot(
        mn_id=mn.encode(),
        home_network_prefixes=(prefix,),
        ipv4_home_address=ipv4,
        mag="mag",
        proxy_coa=proxy_coa,
        signalling_address=proxy_coa,
        transport=Transport.IPV6,
        link_layer_identifier=b"",
        access_technology=4,
        lifetime=3600,
        registered_utc=0.0,
        refreshed_utc=0.0,
        last_handover_utc=None,
        last_sequence=1,
        last_timestamp=None,
    )


def _setup(lab_):  # type: ignore[no-untyped-def]
    ns = lab_.ns("lma")
    peer = lab_.ns("mag")
    lab_.veth(ns, "tr0", peer, "tr0")
    lab_.ip(ns, "-6", "addr", "add", f"{LMAA}/64", "dev", "tr0", "nodad")
    return ns


def _route_text(lab_, ns: str, destination: str) -> str:  # type: ignore[no-untyped-def]
    family = "-6" if ":" in destination else "-4"
    return " ".join(lab_.ip(ns, family, "route", "show", destination).split())


@pytest.mark.parametrize(("mode", "backend"), CONTRACT)
def test_install_replace_remove_reconcile_and_restart(
    mode: TunnelMode, backend: Backend, tunnel_backends: dict[str, object]
) -> None:
    if mode is TunnelMode.IP6IP6:
        require_backend(tunnel_backends, backend.value)

    async def run(ns: str, lab_) -> None:  # type: ignore[no-untyped-def]
        dp = LmaLinuxDataPlane(mode=mode, local_address=LMAA, device="tr0", netns=ns,
                            peers=("2001:db8:ff::11", "2001:db8:ff::12"), backend=backend)  # fmt: skip
        await dp.start()
        try:
            assert dp.backend_name == (backend.value if mode is TunnelMode.IP6IP6 else "routing")
            alice = _binding("alice", "2001:db8:1:1::/64", "2001:db8:ff::11", "203.0.113.10")
            await dp.apply([RouteOperation(alice, True)])
            routes = await dp.routes()
            assert routes == {
                "2001:db8:1:1::/64": "2001:db8:ff::11",
                "203.0.113.10/32": "2001:db8:ff::11",
            }
            for destination in routes:
                text = _route_text(lab_, ns, destination)
                if backend is Backend.SEG6:
                    assert "encap seg6 mode encap.red segs 1 [ 2001:db8:ff::11 ]" in text
                elif backend is Backend.IP6TNL:
                    assert "encap ip6 id 0 src 2001:db8:ff::1 dst 2001:db8:ff::11" in text, text
                    assert "dev nlmm6tnl0" in text
                elif backend is Backend.EBPF:
                    assert f"encap bpf xmit {route_name(LMAA, '2001:db8:ff::11')}" in text
                else:
                    assert "via" in text and "2001:db8:ff::11" in text, text
                assert f"proto {ROUTE_PROTOCOL}" in text
            if backend is Backend.SEG6:
                rules = lab_.ip(ns, "-6", "rule", "show")
                assert "from 2001:db8:ff::11 to 2001:db8:ff::1 ipproto ipv6" in rules, rules
                assert "End.DX6" in lab_.ip(ns, "-6", "route", "show", "table", "200")
            if backend is Backend.IP6TNL:
                nft = lab_.exec(ns, "nft", "list", "table", "ip6", "netlmm_tunnel")
                assert "2001:db8:ff::11" in nft and "2001:db8:ff::12" in nft, nft
            if backend is Backend.EBPF:
                filters = lab_.exec(ns, "tc", "filter", "show", "dev", "tr0", "ingress")
                assert "nlmm_decap" in filters and "direct-action" in filters, filters
            # Handover: the same call with the other MAG replaces the route.
            moved = _binding("alice", "2001:db8:1:1::/64", "2001:db8:ff::12", "203.0.113.10")
            await dp.apply([RouteOperation(moved, True)])
            assert set((await dp.routes()).values()) == {"2001:db8:ff::12"}
            # Reconcile: a stale route goes, a missing one comes, a wrong one is fixed.
            lab_.ip(ns, "-6", "route", "add", "2001:db8:dead::/64", "via", "2001:db8:ff::99",
                    "dev", "tr0", "proto", str(ROUTE_PROTOCOL))  # fmt: skip
            bob = _binding("bob", "2001:db8:1:2::/64", "2001:db8:ff::11")
            wrong = _binding("alice", "2001:db8:1:1::/64", "2001:db8:ff::11", "203.0.113.10")
            report = await dp.reconcile(routes_of([wrong, bob]))
            assert (report.added, report.replaced, report.removed) == (1, 2, 1)
            assert await dp.routes() == {
                "2001:db8:1:1::/64": "2001:db8:ff::11",
                "203.0.113.10/32": "2001:db8:ff::11",
                "2001:db8:1:2::/64": "2001:db8:ff::11",
            }
            again = await dp.reconcile(routes_of([wrong, bob]))
            assert (again.added, again.replaced, again.removed, again.kept) == (0, 0, 0, 3)
        finally:
            await dp.close()
        # A restarted daemon (a new data plane, new programs) recognises every route as right.
        restarted = LmaLinuxDataPlane(mode=mode, local_address=LMAA, device="tr0", netns=ns,
                                   peers=("2001:db8:ff::11",), backend=backend)  # fmt: skip
        await restarted.start()
        try:
            after = await restarted.reconcile(routes_of([wrong, bob]))
            assert (after.added, after.replaced, after.removed, after.kept) == (0, 0, 0, 3)
            # Removal is idempotent.
            await restarted.apply([RouteOperation(bob, False), RouteOperation(bob, False)])
            assert "2001:db8:1:2::/64" not in await restarted.routes()
        finally:
            await restarted.close()

    with lab() as lab_:
        ns = _setup(lab_)
        asyncio.run(run(ns, lab_))


def test_ebpf_routes_of_another_program_version_or_address_are_rewritten(
    tunnel_backends: dict[str, object],
) -> None:
    """A route whose program name is not what this daemon would write (another program
    version, another local address) reads as pointing nowhere, so reconciliation replaces it
    with the current program."""
    require_backend(tunnel_backends, "ebpf")

    async def run(ns: str, lab_) -> None:  # type: ignore[no-untyped-def]
        oif = int(lab_.ip(ns, "-o", "link", "show", "tr0").split(":")[0])
        other = EbpfTunnel()
        other.local = "2001:db8:ff::7"  # a former address of this LMA
        writer = NetlinkRouteWriter.open(netns=ns, oif=oif, table=254,
                                    protocol=ROUTE_PROTOCOL, tunnel=other)  # fmt: skip
        try:
            assert writer.replace([("2001:db8:1:1::/64", "2001:db8:ff::11")]) == []
        finally:
            writer.close()
            other.close()
        dp = LmaLinuxDataPlane(mode=TunnelMode.IP6IP6, local_address=LMAA, device="tr0",
                            netns=ns, peers=("2001:db8:ff::11",), backend=Backend.EBPF)  # fmt: skip
        await dp.start()
        try:
            assert await dp.routes() == {"2001:db8:1:1::/64": ""}
            report = await dp.reconcile({"2001:db8:1:1::/64": "2001:db8:ff::11"})
            assert (report.added, report.replaced, report.kept) == (0, 1, 0)
            text = _route_text(lab_, ns, "2001:db8:1:1::/64")
            assert route_name(LMAA, "2001:db8:ff::11") in text, text
        finally:
            await dp.close()

    with lab() as lab_:
        ns = _setup(lab_)
        asyncio.run(run(ns, lab_))


def test_dumps_read_only_our_table() -> None:
    """The reconciliation dump asks the kernel for one table and protocol (strict dump
    checking): routes of other tables or protocols never reach the parser."""
    with lab() as lab_:
        ns = _setup(lab_)
        lines = [f"route add 2001:db8:77:{i:x}::/64 via 2001:db8:ff::99 dev tr0 proto 213"
                 f" table {100 + i % 2}" for i in range(400)]  # fmt: skip
        lines += ["route add 2001:db8:88::/64 via 2001:db8:ff::99 dev tr0 proto 99 table 100",
                  "route add 2001:db8:99::/64 via 2001:db8:ff::98 dev tr0 proto 213 table 100"]  # fmt: skip
        subprocess.run(["ip", "-n", ns, "-6", "-batch", "-"], input="\n".join(lines) + "\n",
                       text=True, check=True)  # fmt: skip
        oif = int(lab_.ip(ns, "-o", "link", "show", "tr0").split(":")[0])
        writer = NetlinkRouteWriter(
            open_route_socket(ns), oif=oif, table=100, protocol=ROUTE_PROTOCOL,
            tunnel=PlainRoutes(),
        )
        try:
            routes = writer.dump()
            assert len(routes) == 201  # 200 of table 100 + the extra one; not proto 99
            assert routes["2001:db8:99::/64"] == "2001:db8:ff::98"
            assert "2001:db8:88::/64" not in routes and "2001:db8:77:1::/64" not in routes
        finally:
            writer.close()


def test_seg6_modes_are_read_back(tunnel_backends: dict[str, object]) -> None:
    """The seg6 start-up probe reads the mode the kernel stored (encap.red, not encap with a
    routing header) from its own table only."""
    require_backend(tunnel_backends, "seg6")
    with lab() as lab_:
        ns = _setup(lab_)
        lines = ["route add 2001:db8:aa::/64 encap seg6 mode encap segs 2001:db8:ff::97 dev tr0"
                 " table 300",
                 "route add 2001:db8:bb::/64 encap seg6 mode encap.red segs 2001:db8:ff::97"
                 " dev tr0 table 300",
                 "route add 2001:db8:99::/64 via 2001:db8:ff::98 dev tr0 table 100"]  # fmt: skip
        subprocess.run(["ip", "-n", ns, "-6", "-batch", "-"], input="\n".join(lines) + "\n",
                       text=True, check=True)  # fmt: skip
        sock = open_route_socket(ns)
        sock.bind((0, 0))
        try:
            assert seg6_mode(sock, 300, "2001:db8:bb::/64") == SEG6_IPTUN_MODE_ENCAP_RED
            assert seg6_mode(sock, 300, "2001:db8:aa::/64") == 1  # plain encap
            assert seg6_mode(sock, 300, "2001:db8:cc::/64") is None  # absent
            assert seg6_mode(sock, 100, "2001:db8:99::/64") is None  # not seg6
        finally:
            sock.close()


@pytest.mark.parametrize("backend", ["ip6tnl", "ebpf", "seg6"])
def test_bulk_installs_survive_enomem_and_every_ack_is_matched(
    backend: str, tunnel_backends: dict[str, object]
) -> None:
    """Thousands of tunnel routes in a few batches (seg6 state is allocated atomically and the
    kernel refuses many with a transient ENOMEM, retried until installed); replacing them all
    again (failures reported as they come, the batch closed by its last request's ACK) reports
    no failure, and the dump reads every endpoint back."""
    require_backend(tunnel_backends, backend)
    with lab() as lab_:
        ns = _setup(lab_)
        oif = int(lab_.ip(ns, "-o", "link", "show", "tr0").split(":")[0])
        tunnel: TunnelBackend = make_backend(Backend(backend), ns)
        from pyroute2 import IPRoute

        with IPRoute(netns=ns, groups=0, flags=0) as ipr:
            tunnel.open(ipr, oif, LMAA, ("2001:db8:ff::11",))
        writer = NetlinkRouteWriter(
            open_route_socket(ns), oif=oif, table=100, protocol=ROUTE_PROTOCOL, tunnel=tunnel
        )
        try:
            wanted = {f"2001:db8:1:{i:x}::/64": "2001:db8:ff::11" for i in range(1, 20_001)}
            wanted.update({f"10.{i >> 8}.{i & 0xFF}.1/32": "2001:db8:ff::12" for i in range(2_000)})
            assert writer.replace(list(wanted.items())) == []
            assert writer.dump() == wanted
            moved = {d: "2001:db8:ff::13" for d in wanted}
            assert writer.replace(list(moved.items())) == []
            assert writer.dump() == moved
            assert writer.delete(list(moved)[:1000]) == []
            assert len(writer.dump()) == len(moved) - 1000
        finally:
            writer.close()
            tunnel.close()


def test_a_batch_reports_each_failure_at_its_own_request() -> None:
    """Only a batch's last request asks for an ACK: failures in the middle (no such device,
    no such route) are still matched to their requests, the rest are done, and a batch that
    fails at its end or has one request works the same."""
    with lab() as lab_:
        ns = _setup(lab_)
        oif = int(lab_.ip(ns, "-o", "link", "show", "tr0").split(":")[0])
        sock = open_route_socket(ns)
        sock.bind((0, 0))
        try:
            plan = [
                (True, "2001:db8:7:1::/64", oif),
                (True, "2001:db8:7:2::/64", 99_999),  # ENODEV
                (True, "2001:db8:7:3::/64", oif),
                (False, "2001:db8:7:9::/64", oif),  # ESRCH: never installed
                (True, "2001:db8:7:5::/64", oif),
                (True, "2001:db8:7:6::/64", 99_999),  # the last one fails too
            ]
            messages = [station_route_message(install, dst, dev, ROUTE_PROTOCOL, 500 + i)
                        for i, (install, dst, dev) in enumerate(plan)]  # fmt: skip
            errors = transact(sock, messages, 500)
            assert errors == [0, 19, 0, 3, 0, 19]  # ENODEV 19, ESRCH 3
            routes = lab_.ip(ns, "-6", "route", "show", "proto", str(ROUTE_PROTOCOL))
            assert [f"2001:db8:7:{n}::/64" in routes for n in (1, 2, 3, 5, 6)] == [
                True, False, True, True, False]  # fmt: skip
            one = [station_route_message(False, "2001:db8:7:1::/64", oif, ROUTE_PROTOCOL, 900)]
            assert transact(sock, one, 900) == [0]
            assert transact(sock, one, 900) == [3]
            assert transact(sock, [], 902) == []
        finally:
            sock.close()


@pytest.mark.parametrize("backend", [Backend.IP6TNL, Backend.EBPF], ids=["ip6tnl", "ebpf"])
def test_gre_routes_carry_the_downlink_key_and_keys_reconcile(
    backend: Backend, tunnel_backends: dict[str, object]
) -> None:
    """GRE mode (RFC 5845): a binding's routes carry its MAG's downlink key (in the kernel's
    route, read back by the dump), a new key replaces the route, reconciliation after a restart
    keeps routes whose key is right and fixes the others."""
    require_backend(tunnel_backends, backend.value)

    async def run(ns: str, lab_) -> None:  # type: ignore[no-untyped-def]
        def keyed(downlink: int, uplink: int, mag: str = "2001:db8:ff::11") -> BindingSnapshot:
            return replace(_binding("alice", "2001:db8:1:1::/64", mag, "203.0.113.10"),
                           gre_key_downlink=downlink, gre_key_uplink=uplink)  # fmt: skip

        dp = LmaLinuxDataPlane(mode=TunnelMode.GRE, local_address=LMAA, device="tr0", netns=ns,
                            backend=backend)  # fmt: skip
        await dp.start()
        try:
            assert dp.backend_name == backend.value
            await dp.apply([RouteOperation(keyed(77, 9001), True)])
            assert await dp.routes() == {
                "2001:db8:1:1::/64": "2001:db8:ff::11 key 77",
                "203.0.113.10/32": "2001:db8:ff::11 key 77",
            }
            text = _route_text(lab_, ns, "2001:db8:1:1::/64")
            if backend is Backend.EBPF:
                assert f"encap bpf xmit {route_name(LMAA, '2001:db8:ff::11', 77)}" in text, text
            else:
                assert f"encap ip6 id 77 src {LMAA} dst 2001:db8:ff::11" in text, text
            # Handover: the new MAG's key.
            await dp.apply([RouteOperation(keyed(500, 9001, "2001:db8:ff::12"), True)])
            assert set((await dp.routes()).values()) == {"2001:db8:ff::12 key 500"}
        finally:
            await dp.close()
        restarted = LmaLinuxDataPlane(mode=TunnelMode.GRE, local_address=LMAA, device="tr0",
                                   netns=ns, backend=backend)  # fmt: skip
        await restarted.start()
        try:
            wanted = routes_of([keyed(500, 9001, "2001:db8:ff::12")])
            report = await restarted.reconcile(wanted, {9001: "2001:db8:ff::12"})
            assert (report.added, report.replaced, report.kept) == (0, 0, 2)
            wanted = routes_of([keyed(501, 9001, "2001:db8:ff::12")])
            report = await restarted.reconcile(wanted, {9001: "2001:db8:ff::12"})
            assert (report.replaced, report.kept) == (2, 0)
            assert set((await restarted.routes()).values()) == {"2001:db8:ff::12 key 501"}
        finally:
            await restarted.close()

    with lab() as lab_:
        ns = _setup(lab_)
        asyncio.run(run(ns, lab_))


def test_gre_mode_refuses_a_backend_that_cannot_carry_it() -> None:
    with lab() as lab_:
        ns = _setup(lab_)

        async def run() -> str:
            dp = LmaLinuxDataPlane(mode=TunnelMode.GRE, local_address=LMAA, device="tr0", netns=ns,
                                backend=Backend.SEG6)  # fmt: skip
            try:
                await dp.start()
                return "started"
            except Exception as exc:
                return str(exc)
            finally:
                await dp.close()

        assert "the seg6 backend cannot carry GRE" in asyncio.run(run())


def test_missing_device_is_a_clear_error() -> None:
    with lab() as lab_:
        ns = _setup(lab_)

        async def run() -> None:
            dp = LmaLinuxDataPlane(
                mode=TunnelMode.IP6IP6, local_address=LMAA, device="nosuch0", netns=ns
            )
            try:
                with pytest.raises(Exception, match="nosuch0"):
                    await dp.start()
            finally:
                await dp.close()

        asyncio.run(run())
