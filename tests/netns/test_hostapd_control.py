"""The hostapd control client against a real hostapd (driver=wired) in a namespace."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from netlmm_aaa.adapters.hostapd_control import HostapdControl
from netlmm_aaa.core.events import StationEvent, StationEventKind
from tests.netns.topology import lab, wait_for

pytestmark = pytest.mark.netns

HOSTAPD_CONF = """interface=acc0
driver=wired
ctrl_interface={ctrl}
ieee8021x=1
eapol_version=2
use_pae_group_addr=1
own_ip_addr=127.0.0.1
nas_identifier=mag1.example
auth_server_addr=127.0.0.1
auth_server_port=1812
auth_server_shared_secret=not-used-here
"""
SUPPLICANT_CONF = """ctrl_interface={ctrl}
ap_scan=0
eapol_version=2
network={{
  key_mgmt=IEEE8021X
  eap=PEAP
  identity="mn1@example.org"
  password="x"
  phase2="auth=MSCHAPV2"
  eapol_flags=0
}}
"""


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (.ci/run installs hostapd and wpasupplicant)")
    return path


def test_attach_events_requests_and_reattach_after_restart(tmp_path: Path) -> None:
    hostapd = _need("hostapd")
    supplicant = _need("wpa_supplicant")
    with lab() as L:
        mag, mn = L.ns("hmag"), L.ns("hmn")
        L.veth(mag, "acc0", mn, "mn0")
        mac = L.ip(mn, "link", "show", "mn0").split("link/ether ")[1].split()[0]
        ctrl = tmp_path / "hostapd"
        conf = tmp_path / "hostapd.conf"
        conf.write_text(HOSTAPD_CONF.format(ctrl=ctrl))

        def start_hostapd() -> subprocess.Popen[bytes]:
            proc = L.spawn(mag, [hostapd, str(conf)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
            assert wait_for(lambda: (ctrl / "acc0").exists(), 10), "hostapd did not start"
            return proc

        first = start_hostapd()
        events: list[StationEvent] = []
        resyncs: list[int] = []

        async def scenario() -> None:
            client = HostapdControl(
                str(ctrl / "acc0"), on_event=events.append,
                on_resync=lambda stations: resyncs.append(len(stations)), keepalive=0.3,
            )  # fmt: skip
            await client.start()
            try:
                assert client.attached.is_set()
                assert resyncs == [0]
                assert (await client.request("PING")).strip() == "PONG"
                assert await client.stations() == []
                assert await client.sta("02:00:00:00:00:99") is None
                # hostapd answers OK even for a station it does not know (it sends the frame).
                assert await client.deauthenticate("02:00:00:00:00:99") is True
                # A real supplicant starts EAP: hostapd reports it, with the station's MAC.
                sup_conf = tmp_path / "supplicant.conf"
                sup_conf.write_text(SUPPLICANT_CONF.format(ctrl=tmp_path / "wpa"))
                L.spawn(mn, [supplicant, "-Dwired", "-i", "mn0", "-c", str(sup_conf)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and not any(
                    e.kind is StationEventKind.AUTHENTICATION_STARTED for e in events
                ):
                    await asyncio.sleep(0.1)
                started = [e for e in events if e.kind is StationEventKind.AUTHENTICATION_STARTED]
                assert started, f"no EAP-STARTED event; got {events}"
                assert started[0].mac == mac
                # The keepalive (PING, and LEVEL on the monitor socket) keeps a healthy
                # attachment as it is: real hostapd answers LEVEL for an attached monitor.
                await asyncio.sleep(1.2)
                assert client.reattachments == 0
                assert (await client._event_request(b"LEVEL 3")) == "OK"
                # hostapd restarts: the client notices, re-attaches and resynchronises.
                first.terminate()
                first.wait(timeout=10)
                second = start_hostapd()
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and client.reattachments == 0:
                    await asyncio.sleep(0.1)
                assert client.reattachments >= 1
                assert client.attached.is_set()
                assert (await client.request("PING")).strip() == "PONG"
                assert len(resyncs) >= 2
                second.terminate()
            finally:
                await client.close()

        asyncio.run(scenario())
