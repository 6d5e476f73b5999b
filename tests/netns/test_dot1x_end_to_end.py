"""The flagship path with real components: FreeRADIUS (PEAP), hostapd driver=wired, an
unmodified wpa_supplicant as the mobile node, our MAG daemon watching hostapd, our LMA daemon.
The station authenticates, the MAG learns it from hostapd (and its accounting), registers it with
the LMA, and the CN reaches the MN through the tunnel. The MN ran nothing but the supplicant."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.netns.freeradius import make_raddb
from tests.netns.pmip_lab import LMA_V4, LMAA, MAG_ADDR, ROUTER_V4, PmipLab
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration]

HOSTAPD = """interface=acc0
driver=wired
ctrl_interface={ctrl}
ieee8021x=1
eapol_version=2
use_pae_group_addr=1
own_ip_addr=127.0.0.1
nas_identifier=mag1.example
auth_server_addr={radius}
auth_server_port=1812
auth_server_shared_secret=testing123
acct_server_addr=127.0.0.1
acct_server_port=1813
acct_server_shared_secret=acct-secret
radius_request_cui=1
"""
SUPPLICANT = """ctrl_interface={ctrl}
ap_scan=0
eapol_version=2
network={{
  key_mgmt=IEEE8021X
  eap=PEAP
  identity="mn1@example.org"
  anonymous_identity="anonymous@example.org"
  password="pw1"
  phase2="auth=MSCHAPV2"
  eapol_flags=0
}}
"""
MAG = """
[mag]
name = "mag1"
proxy_coa = "{pcoa}"
lma_address = "{lmaa}"
transport_device = "tr0"
access_interfaces = ["acc0"]
ipv4_router = "{router}"
access_technology = 3
database = "sqlite:///{db}"

[[mag.hostapd]]
control = "{ctrl}/acc0"
interface = "acc0"

[[mag.nas]]
name = "hostapd-mag1"
address = "127.0.0.1"
secret = "acct-secret"
interface = "acc0"
"""


def test_8021x_station_is_registered_and_reachable(tmp_path: Path) -> None:
    for tool in ("hostapd", "wpa_supplicant", "freeradius"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (.ci/run installs it)")
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True, slaac=True)  # the node configures itself from our RAs
        t.write_config()
        # The LMA's config names alice; the supplicant is mn1: give mn1 the same static profile.
        t.config_path.write_text(t.config_path.read_text().replace("alice@example.org",  # type: ignore[union-attr]
                                                                   "mn1@example.org"))  # fmt: skip
        t.start_lma()
        raddb = make_raddb(tmp_path / "radius", secret="testing123", user="mn1@example.org",
                           password="pw1", cui="cui-mn1")  # fmt: skip
        radius_log = (tmp_path / "radius.log").open("wb")
        L.spawn(t.ns["lma"], ["freeradius", "-X", "-d", str(raddb)], stdout=radius_log,
                stderr=radius_log)  # fmt: skip
        radius_log.close()
        assert wait_for(
            lambda: "Ready to process requests" in (tmp_path / "radius.log").read_text(), 20
        )

        ctrl = tmp_path / "hostapd"
        config = tmp_path / "mag.toml"
        config.write_text(MAG.format(pcoa=MAG_ADDR["mag1"], lmaa=LMAA, router=ROUTER_V4,
                                     db=tmp_path / "mag.db", ctrl=ctrl))  # fmt: skip
        mag_log = tmp_path / "mag.log"
        t.start_mag(config, log=mag_log)
        hostapd_conf = tmp_path / "hostapd.conf"
        hostapd_conf.write_text(HOSTAPD.format(ctrl=ctrl, radius=LMA_V4))
        L.spawn(t.ns["mag1"], ["hostapd", str(hostapd_conf)], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)  # fmt: skip
        assert wait_for(lambda: (ctrl / "acc0").exists(), 10)
        supplicant_conf = tmp_path / "supplicant.conf"
        supplicant_conf.write_text(SUPPLICANT.format(ctrl=tmp_path / "wpa"))
        L.spawn(t.ns["mn"], ["wpa_supplicant", "-Dwired", "-i", "mn0", "-c", str(supplicant_conf)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

        def registered() -> bool:
            reply = t.lma_control({"command": "bindings"})
            return bool(reply and reply["bindings"])

        assert wait_for(registered, 30), mag_log.read_text()[-3000:]
        binding = t.lma_control({"command": "bindings"})["bindings"][0]  # type: ignore[index]
        # The MN-ID is the authenticated inner identity (never the anonymous outer one or a MAC).
        assert binding["mn_id"] == "mn1@example.org"
        assert binding["mag"] == "mag1"
        assert wait_for(lambda: t.home_address() is not None, 20), t.node_configuration()
        address = t.home_address()
        assert address is not None
        assert wait_for(lambda: t.ping("cn", address, count=1), 15), "CN cannot reach the MN"
