"""Source-address validation at the MAG's access link, with real kernel forwarding (W7, and
hostapd ``driver=wired`` forwarding frames of unauthorized stations).

Alice is registered (accounting Start for her MAC); Mallory is another host on the same access
link (a second port of MAG1's bridge), never authorized. Mallory sends from Alice's home
address (IPv6 and IPv4): the MAG's ingress filter drops it, the CN receives nothing from her,
while Alice's own datagrams reach the CN.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest
from pyroute2 import netns as pr_netns

from testbed.load import accounting_request
from tests.netns.pmip_lab import CN_V4, CN_V6, MN_V4, MN_V6, ROUTER_V4, PmipLab
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.hardening]

ROUTER_LL = "fe80::200:5eff:fe00:5213"


def _sender(ns: str, family: int, source: str) -> socket.socket:
    sock = pr_netns.create_socket(ns, family, socket.SOCK_DGRAM, 0)
    sock.bind((source, 0))
    return sock


def test_a_station_cannot_send_from_another_stations_addresses(tmp_path: Path) -> None:
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True, patch_panel=True)
        t.write_config()
        t.start_lma()
        evil = L.ns("evil")
        L.veth(evil, "evil0", t.ns["sw"], "port9")
        L.ip(t.ns["sw"], "link", "set", "port9", "master", "br1")
        # Mallory configures Alice's addresses as her own.
        L.ip(evil, "-6", "addr", "add", f"{MN_V6}/64", "dev", "evil0", "nodad")
        L.ip(evil, "addr", "add", f"{MN_V4}/24", "dev", "evil0")
        L.ip(evil, "-6", "route", "add", "default", "via", ROUTER_LL, "dev", "evil0")
        L.ip(evil, "route", "add", "default", "via", ROUTER_V4, "dev", "evil0", "onlink")
        config = t.write_mag_config()
        mag = t.start_mag(config, log=tmp_path / "mag.log")
        # Generous: the first answer waits for the MAG's store writer, a process that takes
        # many seconds to start under software emulation (the stock-kernel lane runs this).
        start = accounting_request(t.mac(), "alice@example.org", "W7")
        assert t.nas_says(start, timeout=60)[0] == 5
        assert wait_for(lambda: t.ping("cn", MN_V6, count=1), 15), "Alice is not reachable"

        sinks = {}
        for family, address in ((socket.AF_INET6, CN_V6), (socket.AF_INET, CN_V4)):
            sink = pr_netns.create_socket(t.ns["cn"], family, socket.SOCK_DGRAM, 0)
            sink.bind((address, 7777))
            sink.settimeout(0.2)
            sinks[family] = sink

        def received(family: int) -> set[bytes]:
            out = set()
            while True:
                try:
                    out.add(sinks[family].recv(64))
                except TimeoutError:
                    return out

        def dropped() -> int:
            listing = L.exec(t.ns["mag1"], "nft", "list", "table", "netdev", "netlmm_mag")
            return sum(int(n) for n in re.findall(r"counter packets (\d+)", listing))

        before = dropped()
        for family, source, cn in ((socket.AF_INET6, MN_V6, CN_V6), (socket.AF_INET, MN_V4, CN_V4)):
            thief = _sender(evil, family, source)
            alice = _sender(t.ns["mn"], family, source)
            for i in range(5):
                thief.sendto(b"mallory-%d" % i, (cn, 7777))
                alice.sendto(b"alice-%d" % i, (cn, 7777))
                time.sleep(0.05)
            got = received(family)
            assert {b"alice-%d" % i for i in range(5)} <= got, (family, got)
            assert not any(g.startswith(b"mallory") for g in got), (family, got)
            thief.close()
            alice.close()
        assert dropped() >= before + 10
        for sink in sinks.values():
            sink.close()
        mag.terminate()
        mag.wait(timeout=15)
