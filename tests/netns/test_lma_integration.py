"""The LMA daemon with real kernel routes in network namespaces.

CN pings the MN's home addresses through the LMA -> MAG tunnel; after a PBU from MAG2 the route
moves and pings flow again; tshark checks the encapsulation on the transport; kill -9 of the LMA
and a restart restore the binding and reconcile the kernel routes; a PBU over IPv4/UDP 5436 is
accepted; the work the LMA defers after a PBA (revocation, store records) keeps its order.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netlmm_aaa.core.messages import (
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    ProxyBindingAcknowledgement,
    find_option,
)
from netlmm_aaa.core.options import (
    HomeNetworkPrefixOption,
    IPv4HomeAddressReplyOption,
    IPv4HomeAddressRequestOption,
    MobileNodeIdentifierOption,
)
from netlmm_aaa.wire.mobility_header import decode_mobility_header, encode_mobility_header
from tests.lma_support import ZERO_HNP, pbu
from tests.netns.pmip_lab import (
    CN_V4,
    HNP,
    LMA_V4,
    LMAA,
    MAG_ADDR,
    MN_V4,
    MN_V6,
    REPO,
    PmipLab,
)
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration]

ALICE = b"alice@example.org"


def _now_pbu(sequence: int, hi: int, lifetime: int = 900, mn: bytes = ALICE):  # type: ignore[no-untyped-def]
    return pbu(
        sequence, lifetime, mn_id=mn, hnps=(ZERO_HNP,), hi=hi, timestamp=time.time(),
        extra=(IPv4HomeAddressRequestOption(),),
    )  # fmt: skip


def _routes(t: PmipLab) -> str:
    text = t.lab.ip(t.ns["lma"], "-6", "route", "show") + t.lab.ip(t.ns["lma"], "route", "show")
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def _cli(t: PmipLab, *args: str) -> subprocess.CompletedProcess[str]:
    assert t.config_path is not None
    return subprocess.run(
        ["ip", "netns", "exec", t.ns["lma"], sys.executable, "-m", "netlmm_aaa", "lma",
         "--config", str(t.config_path), *args],
        capture_output=True, text=True, timeout=30, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_registration_handover_restart_and_ipv4_transport(tmp_path: Path) -> None:
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build()
        t.attach("mag1")
        t.write_config()
        t.start_lma()
        mag1 = t.mag_socket("mag1")
        mag2 = t.mag_socket("mag2")
        try:
            # ---- registration at MAG1
            t.send(mag1, "mag1", _now_pbu(1, hi=1))
            reply = t.receive(mag1, "mag1", ProxyBindingAcknowledgement)
            assert reply.status == 0, reply
            assert find_option(reply, HomeNetworkPrefixOption).network.compressed == HNP  # type: ignore[union-attr]
            hoa = find_option(reply, IPv4HomeAddressReplyOption)
            assert hoa is not None
            assert str(hoa.ipv4_address) == MN_V4
            assert t.route_peer("lma", HNP) == MAG_ADDR["mag1"]
            assert t.route_peer("lma", f"{MN_V4}/32") == MAG_ADDR["mag1"]

            # ---- CN reaches the MN through LMA -> MAG1; check the encapsulation with tshark
            capture = tmp_path / "transport.pcap"
            dumper = L.capture(t.ns["tn"], "br0", capture, "ip6")
            assert t.ping("cn", MN_V6), "IPv6 ping CN -> MN through MAG1 failed"
            assert t.ping("cn", MN_V4), "IPv4 ping CN -> MN through MAG1 failed"
            time.sleep(0.3)
            dumper.terminate()
            dumper.wait(timeout=10)
            if shutil.which("tshark"):
                fields = subprocess.run(
                    ["tshark", "-r", str(capture), "-Y", "icmpv6.type == 128 || icmp.type == 8",
                     "-T", "fields", "-e", "ipv6.nxt", "-e", "ipv6.src", "-e", "ipv6.dst",
                     "-e", "ipv6.routing.type"],
                    capture_output=True, text=True, check=True,
                ).stdout.split("\n")  # fmt: skip
                rows = [line.split("\t") for line in fields if line]
                assert rows, "no echo requests captured on the transport"
                # Outer header: LMAA -> Proxy-CoA of MAG1, next header 41 (IPv6) or 4 (IPv4),
                # and no routing header: plain IPv6-in-IPv6 as RFC 5213 / ip6tnl.
                outer = {(r[0].split(",")[0], r[1].split(",")[0], r[2].split(",")[0]) for r in rows}
                assert outer == {("41", LMAA, MAG_ADDR["mag1"]), ("4", LMAA, MAG_ADDR["mag1"])}
                assert all(len(r) < 4 or not r[3] for r in rows)

            # ---- handover to MAG2 (HI=3): the route moves, MAG1 gets a revocation
            t.move_mn("mag1", "mag2")
            t.send(mag2, "mag2", _now_pbu(1, hi=3))
            reply2 = t.receive(mag2, "mag2", ProxyBindingAcknowledgement)
            assert reply2.status == 0, reply2
            assert t.route_peer("lma", HNP) == MAG_ADDR["mag2"]
            bri = t.receive(mag1, "mag1", BindingRevocationIndication)
            assert find_option(bri, MobileNodeIdentifierOption) == MobileNodeIdentifierOption(ALICE)
            t.send(mag1, "mag1", BindingRevocationAcknowledgement(0, bri.sequence, 0x8000,  # type: ignore[union-attr]
                                                                  (MobileNodeIdentifierOption(ALICE),)))  # fmt: skip
            assert t.ping("cn", MN_V6), "IPv6 ping after the handover failed"
            assert t.ping("cn", MN_V4), "IPv4 ping after the handover failed"

            # ---- the LMA lists the binding
            listed = _cli(t, "bindings", "--format", "json")
            assert listed.returncode == 0, listed.stderr
            [binding] = [json.loads(line) for line in listed.stdout.splitlines()]
            assert (binding["mn_id"], binding["mag"], binding["home_network_prefixes"]) == (
                "alice@example.org", "mag2", [HNP])  # fmt: skip
            t.lma_control({"command": "flush"})

            # ---- kill -9, break the kernel state, restart: binding back, routes reconciled
            t.kill_lma()
            L.ip(t.ns["lma"], "route", "del", f"{MN_V4}/32")
            L.ip(t.ns["lma"], "-6", "route", "add", "2001:db8:dead::/64", "via", MAG_ADDR["mag1"],
                 "dev", "tr0", "proto", "213")  # fmt: skip
            t.start_lma()
            status = t.lma_control({"command": "status"})
            assert status is not None
            assert status["bindings"] == 1
            assert status["restart_counter"] == 2
            assert t.route_peer("lma", f"{MN_V4}/32") == MAG_ADDR["mag2"]
            assert "2001:db8:dead::" not in _routes(t)
            assert t.ping("cn", MN_V4), "IPv4 ping after the LMA restart failed"
            # The restarted LMA still knows the binding's history: a replay is refused.
            t.send(mag2, "mag2", pbu(1, 900, mn_id=ALICE, hi=3, timestamp=time.time() - 100))
            assert t.receive(mag2, "mag2", ProxyBindingAcknowledgement).status == 156

            # ---- a PBU over IPv4 / UDP 5436 (RFC 5844)
            udp = t.mag_udp_socket("mag1")
            try:
                message = _now_pbu(5, hi=1, mn=b"bob@example.org")
                udp.sendto(encode_mobility_header(message), (LMA_V4, 5436))
                data, peer = udp.recvfrom(4096)
                assert peer == (LMA_V4, 5436)
                assert data[4:6] == b"\x00\x00"  # MH checksum 0 over UDP
                answer = decode_mobility_header(data)
                assert isinstance(answer, ProxyBindingAcknowledgement)
                assert answer.status == 0
            finally:
                udp.close()
            assert wait_for(lambda: "bob@example.org" in _cli(t, "bindings").stdout)

            # ---- operator revocation
            revoked = _cli(t, "revoke", "bob@example.org")
            assert revoked.returncode == 0, revoked.stderr
            missing = _cli(t, "revoke", "nobody@example.org")
            assert missing.returncode == 1
            assert "no binding" in missing.stderr
            assert CN_V4  # (CN addresses are used by the pings above)
        finally:
            mag1.close()
            mag2.close()


def test_deferred_followups_keep_the_order_of_events(tmp_path: Path) -> None:
    """The LMA answers a handover's PBU at once and sends the revocation and the store records a
    moment later; an event arriving in that moment (here the new MAG's de-registration, sent
    without waiting) must find them already out: the old MAG gets its BRI, and the store ends
    with the de-registered binding, its changes in the order they happened."""
    import sqlite3

    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build()
        t.attach("mag1")
        t.write_config()
        t.start_lma()
        mag1 = t.mag_socket("mag1")
        mag2 = t.mag_socket("mag2")
        try:
            t.send(mag1, "mag1", _now_pbu(1, hi=1))
            assert t.receive(mag1, "mag1", ProxyBindingAcknowledgement).status == 0
            t.move_mn("mag1", "mag2")
            t.send(mag2, "mag2", _now_pbu(1, hi=3))
            assert t.receive(mag2, "mag2", ProxyBindingAcknowledgement).status == 0
            t.send(mag2, "mag2", _now_pbu(2, hi=3, lifetime=0))
            assert t.receive(mag2, "mag2", ProxyBindingAcknowledgement).status == 0
            bri = t.receive(mag1, "mag1", BindingRevocationIndication)
            assert find_option(bri, MobileNodeIdentifierOption) == MobileNodeIdentifierOption(ALICE)
            assert t.lma_control({"command": "flush"}) is not None
            with sqlite3.connect(tmp_path / "lma.db") as db:
                row = db.execute("SELECT mag, deregistered FROM lma_bindings WHERE mn_id = ?",
                                 (ALICE.decode(),)).fetchone()  # fmt: skip
                changes = db.execute(
                    "SELECT change, mag, at FROM binding_changes WHERE mn_id = ? ORDER BY id",
                    (ALICE.decode(),)).fetchall()  # fmt: skip
                moves = db.execute("SELECT from_mag, to_mag, at FROM handovers WHERE mn_id = ?",
                                   (ALICE.decode(),)).fetchall()  # fmt: skip
            assert row == ("mag2", 1)
            assert [c[:2] for c in changes] == [("created", "mag1"), ("deregistered", "mag2")]
            assert [m[:2] for m in moves] == [("mag1", "mag2")]
            assert changes[0][2] <= moves[0][2] <= changes[1][2]
        finally:
            mag1.close()
            mag2.close()


def test_a_pba_with_status_0_leaves_only_with_its_routes_in_the_kernel(tmp_path: Path) -> None:
    """Issue 23 (3): the LMA's signalling address sits on a second link, so that its transport
    device (where the binding routes go) can be taken down under it: the kernel then refuses
    every route ("Nexthop device is not up"). A handover PBU is answered with 128, the binding
    stays at the old MAG, a new node gets 128 and no binding, both audited; once the device is
    back, the same handover succeeds and its route is in the kernel."""
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        lma = t.ns["lma"]
        L.veth(lma, "sig0", t.ns["tn"], "psig")
        L.ip(t.ns["tn"], "link", "set", "psig", "master", "br0")
        L.ip(lma, "-6", "addr", "del", f"{LMAA}/64", "dev", "tr0")
        L.ip(lma, "-6", "addr", "add", f"{LMAA}/64", "dev", "sig0", "nodad")
        t.write_config()
        t.start_lma()
        mag1, mag2 = t.mag_socket("mag1"), t.mag_socket("mag2")

        def binding(mn: bytes) -> dict[str, object]:
            reply = t.lma_control({"command": "bindings"})
            assert reply is not None
            found = [b for b in reply["bindings"] if b["mn_id"] == mn.decode()]  # type: ignore[union-attr]
            return found[0] if found else {}  # type: ignore[no-any-return]

        try:
            t.send(mag1, "mag1", _now_pbu(1, hi=1))
            assert t.receive(mag1, "mag1", ProxyBindingAcknowledgement).status == 0
            assert binding(ALICE)["mag"] == "mag1"
            assert wait_for(lambda: "2001:db8:1:1::/64" in _routes(t), 5), _routes(t)
            L.ip(lma, "link", "set", "tr0", "down")
            t.send(mag2, "mag2", _now_pbu(1, hi=3))
            refused = t.receive(mag2, "mag2", ProxyBindingAcknowledgement)
            assert refused.status == 128
            after = binding(ALICE)
            assert (after["mag"], after["state"]) == ("mag1", "active")
            t.send(mag2, "mag2", _now_pbu(2, hi=1, mn=b"bob@example.org"))
            assert t.receive(mag2, "mag2", ProxyBindingAcknowledgement).status == 128
            assert binding(b"bob@example.org") == {}
            L.ip(lma, "link", "set", "tr0", "up")
            t.send(mag2, "mag2", _now_pbu(3, hi=3))
            assert t.receive(mag2, "mag2", ProxyBindingAcknowledgement).status == 0
            assert binding(ALICE)["mag"] == "mag2"
            assert wait_for(lambda: "2001:db8:1:1::/64" in _routes(t), 5), _routes(t)
            time.sleep(0.5)  # the store commits the audit rows
            failed = subprocess.run(
                ["sqlite3", str(tmp_path / "lma.db"),
                 "SELECT mn_id FROM audit_events WHERE kind = 'binding_routes_failed'"],
                capture_output=True, text=True, check=True,
            ).stdout.split()  # fmt: skip
            assert sorted(failed) == ["alice@example.org", "bob@example.org"]
        finally:
            mag1.close()
            mag2.close()
