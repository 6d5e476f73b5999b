"""Handover with real components: the MN's cable moves from MAG1's port to MAG2's, the MN
re-authenticates (EAPOL-Start, as a reassociation amounts to), MAG2 registers it, the LMA moves
the binding and revokes MAG1, which deauthenticates the station; the MN keeps the addresses it
configured itself (SLAAC from the MAGs' Router Advertisements, IPv4 by a stock DHCP client), read
from the node before and after, the CN reaches it through MAG2, and the MN never sent a mobility
message."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from netlmm_aaa.dataplane.ingress_filter import NO_UPLINK
from testbed.pmip import HNP
from tests.netns.freeradius import make_raddb
from tests.netns.pmip_lab import LMA_V4, LMAA, MAG_ADDR, MN_V4, ROUTER_V4, PmipLab
from tests.netns.test_dot1x_end_to_end import HOSTAPD, MAG, SUPPLICANT
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration]

PROFILE = f"""
PMIP6-Home-HN-Prefix := {HNP}
PMIP6-Home-IPv4-HoA := {MN_V4}/32
PMIP6-Home-LMA-IPv6-Address := {LMAA}
"""
RELAY = f"""
[mag.radius_relay]
server = "{LMA_V4}"
server_secret = "testing123"
profile_ttl = 3
"""
def test_8021x_handover_keeps_the_address(tmp_path: Path) -> None:
    for tool in ("hostapd", "wpa_supplicant", "wpa_cli", "freeradius", "tcpdump", "udhcpc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (.ci/run installs it)")
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True, patch_panel=True, slaac=True)
        t.write_config()
        t.config_path.write_text(t.config_path.read_text().replace("alice@example.org",  # type: ignore[union-attr]
                                                                   "mn1@example.org"))  # fmt: skip
        t.start_lma()
        # The node's RFC 6572 profile comes in the Access-Accept, which each MAG's relay reads.
        raddb = make_raddb(tmp_path / "radius", secret="testing123", user="mn1@example.org",
                           password="pw1", cui="cui-mn1", reply=PROFILE)  # fmt: skip
        with (tmp_path / "radius.log").open("wb") as log:
            L.spawn(t.ns["lma"], ["freeradius", "-X", "-d", str(raddb)], stdout=log, stderr=log)
        assert wait_for(lambda: "Ready to process" in (tmp_path / "radius.log").read_text(), 20)
        for mag in ("mag1", "mag2"):
            ctrl = tmp_path / f"hostapd-{mag}"
            config = tmp_path / f"{mag}.toml"
            config.write_text(MAG.format(pcoa=MAG_ADDR[mag], lmaa=LMAA, router=ROUTER_V4,
                                         db=tmp_path / f"{mag}.db", ctrl=ctrl)
                              .replace('name = "mag1"', f'name = "{mag}"') + RELAY)  # fmt: skip
            t.start_mag(config, mag=mag)
            conf = tmp_path / f"hostapd-{mag}.conf"
            # hostapd authenticates through its MAG's relay (same secret as its accounting).
            hostapd_text = HOSTAPD.format(ctrl=ctrl, radius="127.0.0.1").replace(
                "auth_server_shared_secret=testing123", "auth_server_shared_secret=acct-secret"
            )
            conf.write_text(hostapd_text.replace("mag1.example", f"{mag}.example"))
            L.spawn(t.ns[mag], ["hostapd", str(conf)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)  # fmt: skip
            assert wait_for(lambda ctrl=ctrl: (ctrl / "acc0").exists(), 10)
        # Everything the MN sends on its link, to prove it sent no mobility message.
        mn_capture = tmp_path / "mn.pcap"
        L.capture(t.ns["mn"], "mn0", mn_capture)
        supplicant_conf = tmp_path / "supplicant.conf"
        wpa_ctrl = tmp_path / "wpa"
        supplicant_conf.write_text(SUPPLICANT.format(ctrl=wpa_ctrl))
        L.spawn(t.ns["mn"], ["wpa_supplicant", "-Dwired", "-i", "mn0", "-c", str(supplicant_conf)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

        def serving() -> str | None:
            reply = t.lma_control({"command": "bindings"})
            bindings = reply["bindings"] if reply else []
            return bindings[0]["mag"] if bindings and bindings[0]["state"] == "active" else None

        assert wait_for(lambda: serving() == "mag1", 30), (tmp_path / "mag1.log").read_text()[
            -2000:
        ]
        assert wait_for(lambda: t.home_address() is not None, 20), t.node_configuration()
        address = t.home_address()
        assert address is not None
        assert wait_for(lambda: t.ping("cn", address, count=1), 15), "CN -> MN at MAG1"
        # IPv4: the MAG's DHCPv4 server hands the MN its home address (from the PBA), which the
        # stock client configures.
        lease = f"ip={MN_V4} subnet=255.255.255.0 router={ROUTER_V4} serverid={ROUTER_V4}"
        assert lease in t.dhcp(tmp_path), t.node_configuration()
        assert t.ping("cn", MN_V4, count=1)
        before = t.node_configuration()
        assert f"{MN_V4}/24" in before["ipv4"] and len(before["default_routes"]) == 2, before
        mac = t.mac()

        def station_at(mag: str) -> bool:
            """hostapd at ``mag`` holds the station (its control interface answers STA)."""
            said = L.exec(t.ns[mag], "hostapd_cli", "-p", str(tmp_path / f"hostapd-{mag}"),
                          "-i", "acc0", "sta", mac, check=False)  # fmt: skip
            return mac in said.lower()

        assert station_at("mag1")

        # Handover: the cable moves; the MN re-authenticates (EAPOL-Start) at MAG2.
        t.move_cable("br2")
        time.sleep(0.3)
        L.exec(t.ns["mn"], "wpa_cli", "-p", str(wpa_ctrl), "-i", "mn0", "reauthenticate")
        assert wait_for(lambda: serving() == "mag2", 30), (tmp_path / "mag2.log").read_text()[
            -2000:
        ]
        assert wait_for(lambda: t.ping("cn", address, count=1), 15), "CN -> MN at MAG2"
        # The old MAG withdrew the station (revocation -> deauthentication) and its rules.
        assert wait_for(lambda: not any(HNP in pair for pair in t.uplink_marks("mag1")), 10)
        assert wait_for(lambda: not station_at("mag1"), 10), "MAG1's hostapd still holds it"
        # The MN's addresses and default routers are exactly what they were, read from the node.
        assert t.node_configuration() == before
        assert t.ping("cn", MN_V4, count=1)
        # Its DHCP client renews: same IPv4 address, same server address, now from MAG2 (the
        # only MAG on the link).
        assert lease in t.dhcp(tmp_path)
        assert t.node_configuration() == before
        with contextlib.closing(sqlite3.connect(tmp_path / "mag2.db")) as db:
            acks = db.execute(
                "SELECT COUNT(*) FROM audit_events WHERE kind = 'dhcp_ack'"
            ).fetchone()[0]
        assert acks >= 1
        # Both MAGs registered the node with the profile of its Access-Accept (the second one
        # from the resumed TLS session), read by their RADIUS relays.
        for mag in ("mag1", "mag2"):
            with contextlib.closing(sqlite3.connect(tmp_path / f"{mag}.db")) as db:
                rows = db.execute(
                    "SELECT json_extract(details, '$.prefix'), json_extract(details, '$.ipv4')"
                    " FROM audit_events WHERE kind = 'aaa_profile'"
                ).fetchall()
            assert (HNP, MN_V4) in rows, mag
        # A PAP Access-Request from the NAS's address is no 802.1X: MAG1's relay refuses it.
        pap = subprocess.run(
            ["ip", "netns", "exec", t.ns["mag1"], "radclient", "-r", "1", "-t", "2",
             "127.0.0.1:1812", "auth", "acct-secret"],
            input='User-Name = "mn1@example.org"\nUser-Password = "pw1"\n'
                  'Calling-Station-Id = "02-00-00-00-99-98"\nMessage-Authenticator = 0x00\n',
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert "Access-Accept" not in pap.stdout, pap.stdout + pap.stderr
        # An Access-Accept for a station that never attaches (a PEAP exchange by eapol_test
        # from the NAS's address through MAG1's relay): MAG1 readies the downlink the profile
        # names, without the uplink rule, and withdraws it once the profile's time is up.
        conf = tmp_path / "ghost.conf"
        conf.write_text(SUPPLICANT.format(ctrl=tmp_path / "ghost-ctrl"))
        ghost = subprocess.run(
            ["ip", "netns", "exec", t.ns["mag1"], "eapol_test", "-c", str(conf),
             "-a", "127.0.0.1", "-p", "1812", "-s", "acct-secret", "-M", "02:00:00:00:99:99",
             "-t", "10"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "SUCCESS" in ghost.stdout, ghost.stdout[-3000:] + ghost.stderr
        assert wait_for(lambda: "dev acc0" in L.ip(t.ns["mag1"], "-6", "route", "show", HNP), 5)
        # Its downlink only: its traffic passes the ingress filter unmarked, with no uplink.
        mark = t.uplink_marks("mag1").get(f"02:00:00:00:99:99 . {HNP}", NO_UPLINK)
        assert mark == NO_UPLINK, mark
        assert wait_for(lambda: L.ip(t.ns["mag1"], "-6", "route", "show", HNP) == "", 10)
        assert serving() == "mag2"
        # The MN sent no mobility header and nothing to UDP 5436.
        if shutil.which("tshark"):
            time.sleep(0.5)
            command = ["tshark", "-r", str(mn_capture), "-Y", "mipv6 || udp.port == 5436",
                       "-T", "fields", "-e", "frame.number"]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True).stdout
            everything = subprocess.run(["tshark", "-r", str(mn_capture)], capture_output=True,
                                        text=True).stdout  # fmt: skip
            assert "EAPOL" in everything  # the capture saw the MN's traffic
            assert out.strip() == ""
