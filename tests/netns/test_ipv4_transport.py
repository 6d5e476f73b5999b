"""The MAG and LMA daemons over an IPv4-only transport network (RFC 5844 §4; issue 23, item 7).

The transport link carries IPv4 addresses only (its IPv6 addresses are removed, link-local
stays); the MAG is configured with its IPv4 Proxy-CoA and the LMA's IPv4 address, the LMA with
its IPv4 address and the MAG known by IPv4 only (neither daemon has an IPv6 address toward the
other). A station's accounting Start makes the MAG register it over UDP 5436; the CN reaches the
node's home prefix and IPv4 home address and the node answers, through IPv4 tunnels
(protocol 41 / 4); the station's Stop de-registers it the same way. A capture of the transport
bridge is the judge: the signalling and the data are IPv4 between the two IPv4 addresses, and
no IPv6 packet but link-local housekeeping crosses the link.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from netlmm_aaa.wire.capture import read_frames
from testbed.load import accounting_request
from tests.netns.pmip_lab import (
    CN_V4,
    CN_V6,
    HNP,
    LMA_V4,
    MAG_V4,
    MN_V4,
    MN_V6,
    PmipLab,
)
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration]


def _transport_packets(capture: Path) -> dict[str, list[tuple[str, str, int]]]:
    """The frames of the transport bridge by kind: ``udp5436`` and ``tunnel`` (IPv4 packets:
    source, destination and UDP destination port or protocol), ``ipv6`` (IPv6 packets that are
    not link-local: source, destination, next header)."""
    seen: dict[str, list[tuple[str, str, int]]] = {"udp5436": [], "tunnel": [], "ipv6": []}
    with capture.open("rb") as stream:
        for frame in read_frames(stream):
            data = frame.data
            kind = data[12:14]
            if kind == b"\x08\x00":
                header = data[14:34]
                src, dst = socket.inet_ntoa(header[12:16]), socket.inet_ntoa(header[16:20])
                protocol = header[9]
                if protocol == 17 and int.from_bytes(data[36:38], "big") == 5436:
                    seen["udp5436"].append((src, dst, 5436))
                elif protocol in (4, 41, 47):
                    seen["tunnel"].append((src, dst, protocol))
            elif kind == b"\x86\xdd":
                src = socket.inet_ntop(socket.AF_INET6, data[22:38])
                dst = socket.inet_ntop(socket.AF_INET6, data[38:54])
                if not (src.startswith("fe80:") and dst.startswith("ff02:")):
                    seen["ipv6"].append((src, dst, data[20]))
    return seen


def test_daemons_over_an_ipv4_only_transport(tmp_path: Path) -> None:
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed (.ci/run installs it)")
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        for role in ("lma", "mag1", "mag2"):
            L.ip(t.ns[role], "-6", "addr", "flush", "dev", "tr0", "scope", "global")
        t.write_config(signalling="ipv4")  # the MAGs known by IPv4 only, no IPv6 LMAA
        t.start_lma()
        lma_log = (tmp_path / "lma.log").read_text()
        assert "tunnel backend: ebpf" in lma_log, lma_log[-2000:]  # the one with IPv4 headers
        capture = tmp_path / "transport.pcap"
        dumper = L.capture(t.ns["tn"], "br0", capture)
        config = t.write_mag_config(keys="dhcpv4 = false", signalling="ipv4")
        mag = t.start_mag(config)
        mac = t.mac()
        # The NAS's accounting Start (1) and, later, Stop (2) for alice, answered (code 5).
        assert t.nas_says(accounting_request(mac, "alice@example.org", "S-v4"))[0] == 5

        def bound() -> str:
            answer = t.lma_control({"command": "bindings"}) or {}
            return str(answer.get("bindings", ""))

        mag_log = tmp_path / "mag1.log"
        assert wait_for(lambda: "alice@example.org" in bound(), 15), mag_log.read_text()[-2000:]
        # The binding's tunnel ends at the MAG's IPv4 address (the PBU's IPv4 source).
        assert t.route_peer("lma", HNP) == MAG_V4["mag1"]
        assert t.route_peer("lma", f"{MN_V4}/32") == MAG_V4["mag1"]
        for destination in (MN_V6, MN_V4):
            assert wait_for(lambda d=destination: t.ping("cn", d, count=1), 15), destination
        assert t.ping("mn", CN_V6, count=2) and t.ping("mn", CN_V4, count=2)
        assert t.nas_says(accounting_request(mac, "alice@example.org", "S-v4", status=2))[0] == 5
        assert wait_for(lambda: "alice@example.org" not in bound(), 15), bound()
        assert t.route_peer("lma", HNP) is None
        time.sleep(0.3)
        dumper.terminate()
        dumper.wait(timeout=10)
        mag.terminate()
        mag.wait(timeout=15)
        seen = _transport_packets(capture)
        mag_v4 = MAG_V4["mag1"]
        # Signalling: PBUs (registration, de-registration) to the LMA's port 5436 and PBAs back.
        signalling = {(s, d) for s, d, _ in seen["udp5436"]}
        assert signalling == {(mag_v4, LMA_V4), (LMA_V4, mag_v4)}, seen["udp5436"]
        assert sum(1 for s, _, _ in seen["udp5436"] if s == mag_v4) >= 2, seen["udp5436"]
        # Data: IPv6 and IPv4 of the node, each way, in IPv4 between the two addresses.
        tunnels = set(seen["tunnel"])
        for protocol in (41, 4):
            assert {(LMA_V4, mag_v4, protocol), (mag_v4, LMA_V4, protocol)} <= tunnels, tunnels
        assert not seen["ipv6"], seen["ipv6"][:5]
        # The MAG's own record: a registration and a de-registration, both answered with
        # status 0.
        rows = subprocess.run(
            ["sqlite3", str(tmp_path / "mag1.db"), "SELECT lifetime > 0, status FROM "
             "signaling WHERE message = 'PBU' AND mn_id = 'alice@example.org' ORDER BY id"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert rows == ["1|0", "0|0"], rows
