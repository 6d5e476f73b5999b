"""A real kernel (the MN's) configures its address from our Router Advertisement (SLAAC)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pyroute2 import IPRoute
from pyroute2 import netns as pr_netns

from netlmm_aaa.adapters.router_advertiser import RouterAdvertiser
from netlmm_aaa.dataplane.mag_linux import FIXED_MAG_LINK_LOCAL, FIXED_MAG_MAC
from tests.netns.topology import lab, wait_for

pytestmark = pytest.mark.netns


def test_mn_takes_its_address_and_router_from_our_ra(tmp_path: Path) -> None:
    with lab() as L:
        mag, mn = L.ns("ramag"), L.ns("ramn")
        L.veth(mag, "acc0", mn, "mn0")
        L.ip(mag, "link", "set", "acc0", "down")
        L.ip(mag, "link", "set", "acc0", "address", FIXED_MAG_MAC)
        L.ip(mag, "-6", "addr", "add", f"{FIXED_MAG_LINK_LOCAL}/64", "dev", "acc0", "nodad")
        L.ip(mag, "link", "set", "acc0", "up")
        L.sysctl(mn, "ipv6/conf/mn0/accept_ra", "1")
        L.sysctl(mn, "ipv6/conf/mn0/autoconf", "1")
        with IPRoute(netns=mag, groups=0, flags=0) as ipr:
            index = ipr.link_lookup(ifname="acc0")[0]
        sock = pr_netns.create_socket(mag, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        advertiser = RouterAdvertiser(sock=sock, index_of=lambda name: index, mtu=1460)
        try:

            def mn_state() -> tuple[str, str]:
                return (L.ip(mn, "-6", "addr", "show", "dev", "mn0"),
                        L.ip(mn, "-6", "route", "show", "default"))  # fmt: skip

            def configured() -> bool:
                advertiser.advertise("acc0", ["2001:db8:1:1::/64"])
                addresses, routes = mn_state()
                return "2001:db8:1:1:" in addresses and FIXED_MAG_LINK_LOCAL in routes

            assert wait_for(configured, timeout=15, interval=0.5), mn_state()
            # The MTU option sets the link's IPv6 MTU (room for the 40-octet tunnel header).
            assert L.exec(mn, "cat", "/proc/sys/net/ipv6/conf/mn0/mtu").strip() == "1460"
            # Withdrawal: router lifetime 0 removes the MAG as default router.
            advertiser.advertise("acc0", ["2001:db8:1:1::/64"], lifetime=0)
            assert wait_for(lambda: FIXED_MAG_LINK_LOCAL not in mn_state()[1], timeout=5)
        finally:
            advertiser.close()
