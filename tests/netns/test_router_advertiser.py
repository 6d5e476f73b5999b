"""Real kernels (the MNs') configure themselves from our Router Advertisements (SLAAC): each
station gets its own prefix only, the MN's own Router Solicitation is heard and answered, and a
withdrawal removes the default route."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from pyroute2 import netns as pr_netns

from netlmm_aaa.adapters.router_advertiser import RouterAdvertiser, RouterSolicitations
from netlmm_aaa.dataplane.mag_linux import FIXED_MAG_LINK_LOCAL, FIXED_MAG_MAC
from tests.netns.topology import lab, wait_for

pytestmark = pytest.mark.netns


def test_each_station_takes_only_its_own_prefix_and_its_solicitation_is_answered(
    tmp_path: Path,
) -> None:
    with lab() as L:
        mag, sw = L.ns("ramag"), L.ns("rasw")
        mns = {"a": L.ns("ramna"), "b": L.ns("ramnb")}
        L.ip(sw, "link", "add", "br0", "type", "bridge")
        L.ip(sw, "link", "set", "br0", "up")
        L.veth(mag, "acc0", sw, "pmag")
        L.ip(sw, "link", "set", "pmag", "master", "br0")
        L.ip(mag, "link", "set", "acc0", "down")
        L.ip(mag, "link", "set", "acc0", "address", FIXED_MAG_MAC)
        L.ip(mag, "-6", "addr", "add", f"{FIXED_MAG_LINK_LOCAL}/64", "dev", "acc0", "nodad")
        L.ip(mag, "link", "set", "acc0", "up")
        L.sysctl(mag, "ipv6/conf/all/forwarding", "1")  # a router: in ff02::2, hears RSs
        prefixes = {"a": "2001:db8:1:a::/64", "b": "2001:db8:1:b::/64"}
        macs = {}
        for name, ns in mns.items():
            L.veth(ns, "mn0", sw, f"p{name}")
            L.ip(sw, "link", "set", f"p{name}", "master", "br0")
            L.ip(ns, "link", "set", "mn0", "down")
            L.sysctl(ns, "ipv6/conf/mn0/accept_ra", "1")
            L.sysctl(ns, "ipv6/conf/mn0/autoconf", "1")
            macs[name] = L.ip(ns, "link", "show", "mn0").split("link/ether ")[1].split()[0]
        sender = pr_netns.create_socket(mag, socket.AF_PACKET, socket.SOCK_RAW, 0)
        advertiser = RouterAdvertiser(sock=sender, mtu=1460, dns_servers=["2001:db8::53"])
        listener_sock = pr_netns.create_socket(mag, socket.AF_INET6, socket.SOCK_RAW,
                                               socket.IPPROTO_ICMPV6)  # fmt: skip
        index = int(L.exec(mag, "cat", "/sys/class/net/acc0/ifindex"))
        heard: list[tuple[str, str | None]] = []

        def solicited(interface: str, mac: str | None) -> None:
            heard.append((interface, mac))
            for name, station in macs.items():
                if mac == station:  # as the MAG core decides: only the station that asked
                    advertiser.advertise(interface, station, [prefixes[name]])

        def state(name: str) -> tuple[str, str]:
            return (L.ip(mns[name], "-6", "addr", "show", "dev", "mn0"),
                    L.ip(mns[name], "-6", "route", "show", "default"))  # fmt: skip

        async def scenario() -> None:
            listener = RouterSolicitations(["acc0"], solicited, sock=listener_sock,
                                           name_of=lambda i: "acc0" if i == index else "?")  # fmt: skip
            listener.start()
            try:
                # Station a's link comes up: its kernel solicits, we answer it alone.
                L.ip(mns["a"], "link", "set", "mn0", "up")
                for _ in range(200):
                    await asyncio.sleep(0.05)
                    if "2001:db8:1:a:" in state("a")[0]:
                        break
                # Then station b's: answered with its own prefix only.
                L.ip(mns["b"], "link", "set", "mn0", "up")
                for _ in range(200):
                    await asyncio.sleep(0.05)
                    if "2001:db8:1:b:" in state("b")[0]:
                        break
            finally:
                listener.close()

        try:
            asyncio.run(scenario())
            assert {("acc0", macs["a"]), ("acc0", macs["b"])} <= set(heard), heard
            assert "2001:db8:1:a:" in state("a")[0] and FIXED_MAG_LINK_LOCAL in state("a")[1]
            assert "2001:db8:1:b:" in state("b")[0], state("b")
            # Neither station took the other's prefix (each RA went to one MAC).
            assert "2001:db8:1:b:" not in state("a")[0] and "2001:db8:1:a:" not in state("b")[0]
            # The MTU option sets the link's IPv6 MTU (room for the 40-octet tunnel header).
            assert L.exec(mns["a"], "cat", "/proc/sys/net/ipv6/conf/mn0/mtu").strip() == "1460"
            # Withdrawal: router lifetime 0 removes the MAG as default router, the prefix is
            # deprecated (preferred lifetime 0).
            advertiser.advertise("acc0", macs["a"], [prefixes["a"]], withdraw=True)
            assert wait_for(lambda: FIXED_MAG_LINK_LOCAL not in state("a")[1], 5)
            assert wait_for(lambda: "deprecated" in state("a")[0], 5), state("a")
            advertiser.advertise("acc0", macs["b"], [prefixes["b"]])  # b's refresh: a unmoved
            assert FIXED_MAG_LINK_LOCAL in state("b")[1]
        finally:
            advertiser.close()
