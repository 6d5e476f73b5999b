"""The MAG core and MAG data plane with the real LMA daemon: routes, tunnels, pings, handover.

The MAG side runs in this test process (core + MagLinuxDataPlane + a raw MH socket inside each
MAG namespace); the LMA is the daemon. The station events are given by the test (the hostapd and
RADIUS intake arrives with the MAG daemon).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from pathlib import Path

import pytest
from pyroute2 import netns as pr_netns

from netlmm_aaa.core.actions import (
    DeauthenticateStation,
    InstallStationRoutes,
    RemoveStationRoutes,
    SendMessage,
    StationBinding,
)
from netlmm_aaa.core.clock import Now
from netlmm_aaa.core.codes import AccessTechnologyType
from netlmm_aaa.core.events import MobilityMessageReceived, StationAttached
from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.core.mobile_access_gateway import MagPolicy, MobileAccessGateway, StationState
from netlmm_aaa.dataplane.ingress_filter import NO_UPLINK
from netlmm_aaa.dataplane.mag_linux import GRE_TABLE_BASE, MagLinuxDataPlane
from netlmm_aaa.wire.mobility_header import (
    IPPROTO_MH,
    decode_mobility_header,
    encode_mobility_header,
)
from tests.conftest import require_backend
from tests.netns.pmip_lab import HNP, LMAA, MAG_ADDR, MN_V4, MN_V6, ROUTER_V4, PmipLab
from tests.netns.topology import lab

pytestmark = [pytest.mark.netns, pytest.mark.integration]

GHOST_HNP = "2001:db8:99::/64"


def _now() -> Now:
    return Now(time.monotonic(), time.time())


class MagHarness:
    def __init__(self, name: str, ns: str, mode: TunnelMode) -> None:
        self.name = name
        self.core = MobileAccessGateway(MagPolicy(
            name=name, proxy_coa=MAG_ADDR[name], lma_address=LMAA,
            access_technology=AccessTechnologyType.IEEE_802_3, gre=mode is TunnelMode.GRE,
        ))  # fmt: skip
        self.dp = MagLinuxDataPlane(mode=mode, proxy_coa=MAG_ADDR[name],
                                    lma_address=LMAA, device="tr0", ipv4_router=ROUTER_V4,
                                    netns=ns)  # fmt: skip
        self.sock = pr_netns.create_socket(ns, socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
        self.sock.bind((MAG_ADDR[name], 0))
        self.sock.setblocking(False)
        self.effects: list[object] = []

    async def run(self, actions: list[object]) -> None:
        for action in actions:
            self.effects.append(action)
            if type(action) is SendMessage:
                mh = encode_mobility_header(action.message, source=MAG_ADDR[self.name],
                                            destination=action.destination)  # fmt: skip
                self.sock.sendto(mh, (action.destination, 0))
            elif type(action) is InstallStationRoutes:
                await self.dp.install(action.station)
            elif type(action) is RemoveStationRoutes:
                await self.dp.remove(action.station)

    async def receive(self, seconds: float = 2.0) -> bool:
        """Feed what arrives within ``seconds`` to the core; True if anything came."""
        loop = asyncio.get_running_loop()
        try:
            data, peer = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 4096), seconds)
        except TimeoutError:
            return False
        message = decode_mobility_header(
            data,
            source=ipaddress.IPv6Address(peer[0]).packed,
            destination=ipaddress.IPv6Address(MAG_ADDR[self.name]).packed,
        )
        event = MobilityMessageReceived(
            message=message, source=peer[0], destination=MAG_ADDR[self.name]
        )
        await self.run(self.core.handle(event, _now()))  # type: ignore[arg-type]
        return True


@pytest.mark.parametrize("mode", [TunnelMode.IP6IP6, TunnelMode.GRE], ids=["ip6ip6", "gre"])
def test_mag_core_and_dataplane_with_the_lma(
    mode: TunnelMode, tmp_path: Path, tunnel_backends: dict[str, object]
) -> None:
    if mode is TunnelMode.GRE:
        # A backend that carries GRE: the one auto would take (ip6tnl before ebpf).
        carriers = [name for name in ("ip6tnl", "ebpf")
                    if getattr(tunnel_backends.get(name), "available", False)]  # fmt: skip
        require_backend(tunnel_backends, carriers[0] if carriers else "ebpf")
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        t.write_config(tunnel_mode=mode.value, signalling="ipv6")
        t.start_lma()
        mac = L.ip(t.ns["mn"], "link", "show", "mn0").split("link/ether ")[1].split()[0]

        async def scenario() -> None:
            mag1 = MagHarness("mag1", t.ns["mag1"], mode)
            mag2 = MagHarness("mag2", t.ns["mag2"], mode)
            await mag1.dp.start()
            await mag2.dp.start()
            try:
                await mag1.dp.prepare_access_interface("acc0")
                attach = StationAttached(mac=mac, mn_id=b"alice@example.org", interface="acc0")
                await mag1.run(mag1.core.handle(attach, _now()))  # type: ignore[arg-type]
                assert await mag1.receive()
                assert mag1.core.station_state(mac) is StationState.REGISTERED
                station = mag1.core.station(mac)
                assert station is not None
                assert station.home_network_prefixes == (HNP,)
                assert station.ipv4_home_address == MN_V4
                rules = L.ip(t.ns["mag1"], "-6", "rule", "show")
                if mode is TunnelMode.GRE:  # the station's own uplink table, with its key
                    assert station.gre_key_uplink is not None
                    table = str(GRE_TABLE_BASE)
                    uplink = L.ip(t.ns["mag1"], "-6", "route", "show", "table", table)
                    if mag1.dp.backend_name == "ebpf":  # the program named after peer and key
                        assert f">{LMAA}/{station.gre_key_uplink} " in uplink, uplink
                    else:
                        assert f"encap ip6 id {station.gre_key_uplink} " in uplink, uplink
                        assert f"dst {LMAA} " in uplink and " key " in uplink, uplink
                else:
                    table = "100"
                # Its traffic is marked with its uplink table, which a rule per family leads to.
                mark = f"fwmark {int(table):#x} iif acc0 lookup {table}"
                assert mark in rules and mark in L.ip(t.ns["mag1"], "rule", "show"), rules
                uplinks = t.uplink_marks("mag1")
                assert uplinks[f"{mac} . {HNP}"] == uplinks[f"{mac} . {MN_V4}"] == int(table)
                downlink = L.ip(t.ns["mag1"], "route", "show", f"{MN_V4}/32")
                assert "dev acc0" in downlink and "src" in downlink, downlink
                assert await asyncio.to_thread(t.ping, "cn", MN_V6), "IPv6 through MAG1"
                assert await asyncio.to_thread(t.ping, "cn", MN_V4), "IPv4 through MAG1"
                assert await asyncio.to_thread(t.ping, "mn", "2001:db8:c::2"), "uplink via MAG1"

                # The MN's cable moves to MAG2; it re-authenticates there.
                L.ip(t.ns["mag1"], "link", "set", "acc0", "netns", t.ns["mag2"])
                await mag2.dp.prepare_access_interface("acc0")
                # The Access-Accept named the MN's addresses: MAG2 prepares the downlink ahead
                # of the PBA (routes, ingress filter), not the uplink rules.
                early = StationBinding(mac=mac, mn_id=b"alice@example.org", interface="acc0",
                                       home_network_prefixes=(HNP,), ipv4_home_address=MN_V4,
                                       lma_address=LMAA)  # fmt: skip
                await mag2.dp.prepare_downlink(early)
                assert "dev acc0" in L.ip(t.ns["mag2"], "-6", "route", "show", HNP)
                assert t.uplink_marks("mag2") == {f"{mac} . {HNP}": NO_UPLINK,
                                                  f"{mac} . {MN_V4}": NO_UPLINK}  # fmt: skip
                # One prepared for a station that never registers leaves no trace once withdrawn.
                ghost = StationBinding(mac="02:00:00:00:99:99", mn_id=b"ghost@example.org",
                                       interface="acc0", home_network_prefixes=(GHOST_HNP,),
                                       ipv4_home_address="10.99.0.9", lma_address=LMAA)  # fmt: skip
                await mag2.dp.prepare_downlink(ghost)
                assert "dev acc0" in L.ip(t.ns["mag2"], "-6", "route", "show", GHOST_HNP)
                await mag2.dp.withdraw_downlink(ghost)
                assert L.ip(t.ns["mag2"], "-6", "route", "show", GHOST_HNP) == ""
                assert L.ip(t.ns["mag2"], "route", "show", "10.99.0.9/32") == ""
                assert "02:00:00:00:99:99" not in str(t.uplink_marks("mag2"))
                await mag2.run(mag2.core.handle(attach, _now()))  # type: ignore[arg-type]
                assert await mag2.receive()
                assert mag2.core.station_state(mac) is StationState.REGISTERED
                # MAG1 gets the revocation: it acknowledges, withdraws, deauthenticates.
                assert await mag1.receive()
                assert any(type(e) is DeauthenticateStation for e in mag1.effects)
                assert mag1.core.station_state(mac) is None
                assert t.uplink_marks("mag1") == {}
                assert await asyncio.to_thread(t.ping, "cn", MN_V6), "IPv6 through MAG2"
                assert await asyncio.to_thread(t.ping, "cn", MN_V4), "IPv4 through MAG2"
                # The MN kept its addresses: nothing changed on its side.
                assert MN_V6 in L.ip(t.ns["mn"], "-6", "addr", "show", "dev", "mn0")
            finally:
                for mag in (mag1, mag2):
                    mag.sock.close()
                    await mag.dp.close()

        asyncio.run(scenario())
