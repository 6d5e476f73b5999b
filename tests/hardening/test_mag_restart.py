"""``kill -9`` of a MAG, and its restart (security-tests.md F5), with our LMA and MAG daemons and
a protocol-faithful fake hostapd (tests/hardening/test_hostapd_monitor.py).

While the MAG is dead, one station leaves and another arrives (events nobody hears). On restart
the MAG announces its new Restart Counter (RFC 5847 unsolicited Heartbeat response), the LMA
releases what it held for it, and the MAG registers exactly the stations hostapd lists: the
departed one has no binding left, the new one has one, the one that stayed has its prefix back.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.hardening.test_hostapd_monitor import FakeHostapd
from tests.netns.pmip_lab import MN_V6, PmipLab
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.hardening]

BOB, CAROL = "02:00:00:f5:00:02", "02:00:00:f5:00:03"


def remove_control_sockets(pid: int) -> None:
    """What a MAG killed with -9 left behind: the directory of its hostapd control client's
    sockets (named ``<role>-<pid>-<n>``, netlmm_aaa/adapters/hostapd_control.py)."""
    for socket in Path(tempfile.gettempdir()).glob(f"netlmm-hostapd-*/*-{pid}-*"):
        shutil.rmtree(socket.parent, ignore_errors=True)


def test_a_killed_mag_comes_back_with_exactly_the_stations_hostapd_has(tmp_path: Path) -> None:
    hostapd = FakeHostapd(tmp_path / "acc0")
    killed: list[int] = []
    try:
        with lab() as L:
            t = PmipLab(L, tmp_path)
            t.build(mag_dataplane=True, patch_panel=True)
            t.write_config()
            t.start_lma()
            # Alice is the mobile node itself (its real MAC): her traffic is checked too.
            alice = L.ip(t.ns["mn"], "link", "show", "mn0").split("link/ether ")[1].split()[0]
            config = t.write_mag_config(keys="ipv4 = false", tables=(
                f'[[mag.hostapd]]\ncontrol = "{tmp_path / "acc0"}"\ninterface = "acc0"\n'))
            log = tmp_path / "mag.log"

            def start_mag():  # type: ignore[no-untyped-def]
                return t.start_mag(config, log=log)

            def active() -> dict[str, list[str]]:
                reply = t.lma_control({"command": "bindings"})
                return {str(b["mn_id"]): b["home_network_prefixes"]  # type: ignore[misc]
                        for b in (reply or {}).get("bindings", [])  # type: ignore[union-attr]
                        if b["state"] == "active" and b["mag"] == "mag1"}  # fmt: skip

            hostapd.stations = {alice: "alice@example.org", BOB: "bob@example.org"}
            mag = start_mag()
            assert wait_for(lambda: set(active()) == {"alice@example.org", "bob@example.org"},
                            15), log.read_text()[-2000:]  # fmt: skip
            alice_prefix = active()["alice@example.org"]
            assert wait_for(lambda: t.ping("cn", MN_V6, count=1), 10)
            killed.append(mag.pid)
            mag.kill()  # kill -9
            mag.wait(timeout=10)
            del hostapd.stations[BOB]  # left while nobody listened
            hostapd.stations[CAROL] = "carol@example.org"  # arrived meanwhile
            mag = start_mag()
            ready = time.monotonic()
            assert wait_for(lambda: set(active()) == {"alice@example.org", "carol@example.org"},
                            15), (active(), log.read_text()[-2000:])  # fmt: skip
            assert active()["alice@example.org"] == alice_prefix
            # Not only state: the node's traffic flows again within 5 s of the MAG being back.
            assert wait_for(lambda: t.ping("cn", MN_V6, count=1), 5)
            assert time.monotonic() - ready < 5
            mag.terminate()
            mag.wait(timeout=15)
    finally:
        hostapd.close()
        for pid in killed:
            remove_control_sockets(pid)
