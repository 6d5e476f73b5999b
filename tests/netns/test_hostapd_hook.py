"""hostapd_hooks/netlmm-hostapd-action with real components: hostapd (driver=wired) and
``hostapd_cli -a`` forward station events to the MAG's hook socket (the MAG does not ATTACH);
the MAG confirms the station with STA on the control interface, and the LMA binds it. Forged
hook datagrams (unknown station, unknown interface, a disconnect of a served station) move
nothing and are audited."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.netns.freeradius import make_raddb
from tests.netns.pmip_lab import LMA_V4, LMAA, MAG_ADDR, REPO, ROUTER_V4, PmipLab
from tests.netns.test_dot1x_end_to_end import HOSTAPD, SUPPLICANT
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration, pytest.mark.hardening]  # H3

ACTION = REPO / "hostapd_hooks" / "netlmm-hostapd-action"
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
hook_socket = "{hook}"

[[mag.hostapd]]
control = "{ctrl}/acc0"
interface = "acc0"
events = "hook"
"""


def _send(t: PmipLab, hook: Path, line: str) -> None:
    code = (
        "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM);"
        "s.sendto(sys.argv[2].encode(), sys.argv[1])"
    )
    subprocess.run(["ip", "netns", "exec", t.ns["mag1"], sys.executable, "-c", code, str(hook),
                    line], check=True, timeout=10)  # fmt: skip


def _audits(db: Path, kind: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT details FROM audit_events WHERE kind = ?",
                                           (kind,))]  # fmt: skip


def test_action_hook_drives_the_mag(tmp_path: Path) -> None:
    for tool in ("hostapd", "hostapd_cli", "wpa_supplicant", "freeradius"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (.ci/run installs it)")
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        t.write_config()
        t.config_path.write_text(t.config_path.read_text().replace("alice@example.org",  # type: ignore[union-attr]
                                                                   "mn1@example.org"))  # fmt: skip
        t.start_lma()
        raddb = make_raddb(tmp_path / "radius", secret="testing123", user="mn1@example.org",
                           password="pw1", cui="cui-mn1")  # fmt: skip
        with (tmp_path / "radius.log").open("wb") as radius_log:
            L.spawn(t.ns["lma"], ["freeradius", "-X", "-d", str(raddb)], stdout=radius_log,
                    stderr=radius_log)  # fmt: skip
        assert wait_for(
            lambda: "Ready to process requests" in (tmp_path / "radius.log").read_text(), 20
        )
        ctrl = tmp_path / "hostapd"
        hook = Path("/run") / f"netlmm-test-{uuid.uuid4().hex[:8]}.sock"
        db = tmp_path / "mag.db"
        config = tmp_path / "mag.toml"
        config.write_text(MAG.format(pcoa=MAG_ADDR["mag1"], lmaa=LMAA, router=ROUTER_V4, db=db,
                                     ctrl=ctrl, hook=hook))  # fmt: skip
        mag_log = tmp_path / "mag.log"
        with mag_log.open("ab") as out:
            L.spawn(t.ns["mag1"], [sys.executable, "-m", "netlmm_aaa", "mag", "--config",
                                   str(config)], stdout=out, stderr=out,
                    env=dict(os.environ, PYTHONPATH=str(REPO)))  # fmt: skip
        try:
            assert wait_for(lambda: "ready" in mag_log.read_text(), 20), mag_log.read_text()[-2000:]
            assert hook.exists() and (hook.stat().st_mode & 0o777) == 0o660
            hostapd_conf = tmp_path / "hostapd.conf"
            hostapd_conf.write_text(HOSTAPD.format(ctrl=ctrl, radius=LMA_V4))
            L.spawn(t.ns["mag1"], ["hostapd", str(hostapd_conf)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)  # fmt: skip
            assert wait_for(lambda: (ctrl / "acc0").exists(), 10)
            # hostapd_cli's own socket in the test's directory (-s): stopped, it leaves it.
            (tmp_path / "cli").mkdir()
            with (tmp_path / "hook.log").open("wb") as hook_log:
                L.spawn(t.ns["mag1"], ["hostapd_cli", "-p", str(ctrl), "-s", str(tmp_path / "cli"),
                                       "-i", "acc0", "-a",
                                       str(ACTION)], stdout=hook_log, stderr=hook_log,
                        env=dict(os.environ, NETLMM_MAG_HOOK_SOCKET=str(hook)))  # fmt: skip
            # Forgeries first: nothing for them, each audited.
            _send(t, hook, "acc0 AP-STA-CONNECTED 02:de:ad:00:00:01")  # no such station
            _send(t, hook, "eth9 AP-STA-CONNECTED 02:de:ad:00:00:02")  # not a hook interface
            _send(t, hook, "acc0 AP-STA-CONNECTED not-a-mac")
            assert wait_for(lambda: len(_audits(db, "hook_event_rejected")) == 2, 10)
            with sqlite3.connect(db) as conn:
                assert conn.execute(
                    "SELECT reason FROM station_events WHERE mac = '02:de:ad:00:00:01'"
                ).fetchall() == [("not_authorized",)]
            supplicant_conf = tmp_path / "supplicant.conf"
            supplicant_conf.write_text(SUPPLICANT.format(ctrl=tmp_path / "wpa"))
            L.spawn(t.ns["mn"], ["wpa_supplicant", "-Dwired", "-i", "mn0", "-c",
                                 str(supplicant_conf)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)  # fmt: skip

            def bindings() -> list[dict[str, object]]:
                reply = t.lma_control({"command": "bindings"})
                return reply["bindings"] if reply else []  # type: ignore[no-any-return]

            assert wait_for(lambda: bool(bindings()), 30), (
                mag_log.read_text()[-3000:] + (tmp_path / "hook.log").read_text()[-2000:]
            )
            assert [p.name[:9] for p in (tmp_path / "cli").iterdir()] == ["wpa_ctrl_"]
            binding = bindings()[0]
            assert (binding["mn_id"], binding["mag"]) == ("mn1@example.org", "mag1")
            mac = L.ip(t.ns["mn"], "link", "show", "mn0").split("link/ether ")[1].split()[0]
            # A forged disconnect of the station hostapd still serves changes nothing.
            _send(t, hook, f"acc0 AP-STA-DISCONNECTED {mac}")
            assert wait_for(
                lambda: any("still reports" in d for d in _audits(db, "hook_event_rejected")), 10
            )
            assert bindings()[0]["state"] == "active"
        finally:
            if hook.exists():
                hook.unlink()
