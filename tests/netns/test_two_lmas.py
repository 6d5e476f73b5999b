"""Two LMAs, two realms, one MAG (issue 23, item 5; RFC 6572 Home-LMA by realm).

Staff (``alice@example.org``) are anchored at LMA1, guests (``bob@guest.example``) at LMA2
(``[[mag.lma_selection]]``). Both stations sit on MAG1 (alice on ``acc0``, bob on ``acc1``),
registered by accounting. Each LMA pings its own node; a capture of the transport bridge is the
judge: every packet from alice's home prefix leaves MAG1 in a tunnel to LMA1, every packet from
bob's in a tunnel to LMA2, and each LMA's downlink reaches its node through its own tunnel. Both
LMAs hear MAG1's restart announcement.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from netlmm_aaa.wire.capture import read_frames
from testbed.load import accounting_request
from tests.netns.pmip_lab import HNP, LMAA, MAG_ADDR, MN_V6, REPO, PmipLab
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration]

TABLES = """
[[mag.lma_selection]]
realm = "guest.example"
lma_address = "{lma2}"

[[mag.nas]]
name = "ap-staff"
address = "127.0.0.1"
secret = "s3cret"
interface = "acc0"

[[mag.nas]]
name = "ap-guest"
address = "127.0.0.2"
secret = "s3cret"
interface = "acc1"
"""

LMA2 = "2001:db8:ff::2"
BOB_HNP = "2001:db8:2:2::/64"
BOB_V6 = "2001:db8:2:2::100"
ROUTER_LL = "fe80::200:5eff:fe00:5213"
LMA2_CONFIG = """
[lma]
name = "lma2"
address = "{lma2}"
transport_device = "tr0"
database = "sqlite:///{db}"
control_socket = "{sock}"

[lma.pools]
prefix = "2001:db8:2000::/48"

[lma.timers]
heartbeat_interval = 0

[[lma.mag]]
name = "mag1"
addresses = ["{mag1}"]

[[lma.mobile_node]]
mn_id = "bob@guest.example"
home_network_prefix = "{bob_hnp}"
"""


def _tunnelled(capture: Path) -> Counter[tuple[str, str, str]]:
    """(outer source, outer destination, the inner packet's source prefix) of every
    IPv6-in-IPv6 packet on the transport bridge."""
    seen: Counter[tuple[str, str, str]] = Counter()
    with capture.open("rb") as stream:
        for frame in read_frames(stream):
            data = frame.data
            if data[12:14] != b"\x86\xdd" or data[14 + 6] != 41:
                continue
            outer, inner = data[14:54], data[54:94]
            src = str(ipaddress.IPv6Address(outer[8:24]))
            dst = str(ipaddress.IPv6Address(outer[24:40]))
            inner_src = ipaddress.IPv6Address(inner[8:24])
            net = next((n for n in (HNP, BOB_HNP) if inner_src in ipaddress.IPv6Network(n)), "-")
            seen[(src, dst, net)] += 1
    return seen


def test_each_station_goes_through_its_own_lma(tmp_path: Path) -> None:
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed (.ci/run installs it)")
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        tn, mag1 = t.ns["tn"], t.ns["mag1"]
        lma2 = L.ns("lma2")
        L.veth(lma2, "tr0", tn, "plma2")
        L.ip(tn, "link", "set", "plma2", "master", "br0")
        L.ip(lma2, "-6", "addr", "add", f"{LMA2}/64", "dev", "tr0", "nodad")
        L.sysctl(lma2, "ipv6/conf/all/forwarding", "1")
        bob = L.ns("bob")
        L.veth(bob, "mn0", mag1, "acc1")
        L.ip(bob, "-6", "addr", "add", f"{BOB_V6}/64", "dev", "mn0", "nodad")
        L.ip(bob, "-6", "route", "add", "default", "via", ROUTER_LL, "dev", "mn0")
        # LMA1 knows the guest prefix is not its own: its default route is the transport.
        t.write_config()
        t.start_lma()
        config2 = tmp_path / "lma2.toml"
        config2.write_text(LMA2_CONFIG.format(lma2=LMA2, db=tmp_path / "lma2.db",
                                              sock=tmp_path / "lma2.sock", mag1=MAG_ADDR["mag1"],
                                              bob_hnp=BOB_HNP))  # fmt: skip
        log2 = tmp_path / "lma2.log"
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with log2.open("ab") as out:
            L.spawn(lma2, [sys.executable, "-m", "netlmm_aaa", "lma", "--config", str(config2)],
                    stdout=out, stderr=out, env=env)  # fmt: skip
        assert wait_for(lambda: "ready" in log2.read_text(), 60), log2.read_text()[-2000:]
        capture = tmp_path / "transport.pcap"
        dumper = L.capture(tn, "br0", capture, "ip6")
        config = t.write_mag_config(keys="ipv4 = false", access=("acc0", "acc1"),
                                    tables=TABLES.format(lma2=LMA2))  # fmt: skip
        log = tmp_path / "mag.log"
        mag = t.start_mag(config, log=log)
        stations = {
            ("127.0.0.1", "alice@example.org", t.ns["mn"]),
            ("127.0.0.2", "bob@guest.example", bob),
        }
        for source, user, ns in stations:
            mac = L.ip(ns, "link", "show", "mn0").split("link/ether ")[1].split()[0]
            answer = t.nas_says(accounting_request(mac, user, f"TL-{user}"), source=source)
            assert answer[0] == 5
        # Each LMA reaches its own node, through its own tunnel, and the answers come back.
        assert wait_for(lambda: t.ping("lma", MN_V6, count=1), 15), log.read_text()[-2000:]
        assert wait_for(lambda: L.exec(lma2, "ping", "-6", "-c", "1", "-W", "1", BOB_V6,
                                       check=False).count(" 0% packet loss") == 1, 15), (
            log2.read_text()[-2000:])  # fmt: skip
        time.sleep(0.5)
        dumper.terminate()
        dumper.wait(timeout=10)
        seen = _tunnelled(capture)
        mag1_addr = MAG_ADDR["mag1"]
        # Uplink: from each node's prefix, in a tunnel from MAG1 to its own LMA only.
        assert seen[(mag1_addr, LMAA, HNP)] >= 1 and seen[(mag1_addr, LMA2, BOB_HNP)] >= 1, seen
        assert seen[(mag1_addr, LMA2, HNP)] == 0 and seen[(mag1_addr, LMAA, BOB_HNP)] == 0, seen
        # Downlink: each LMA tunnels to MAG1 (the echo requests, inner source the LMA itself).
        assert seen[(LMAA, mag1_addr, "-")] >= 1 and seen[(LMA2, mag1_addr, "-")] >= 1, seen
        # Both LMAs heard MAG1's restart announcement at its start.
        announced = subprocess.run(
            ["sqlite3", str(tmp_path / "mag1.db"),
             "SELECT peer FROM audit_events WHERE kind = 'restart_announced' ORDER BY peer"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert announced == sorted([LMAA, LMA2])
        mag.terminate()
        mag.wait(timeout=15)
