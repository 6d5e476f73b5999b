"""Both daemons for real: the MAG (WLAN-controller path: RADIUS accounting from radclient) and
the LMA, with kernel routes in namespaces; the CN reaches the MN through the MAG the accounting
named; a Stop ends it; a Start for a PSK session or with a wrong secret moves nothing."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.netns.pmip_lab import MN_V6, PmipLab
from tests.metrics_text import sample
from tests.netns.topology import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration]


def _radclient(t: PmipLab, secret: str, attributes: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", t.ns["mag1"], "radclient", "-r", "1", "-t", "3",
         "127.0.0.1:1813", "acct", secret],
        input=attributes, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_accounting_start_registers_the_station_through_both_daemons(tmp_path: Path) -> None:
    if shutil.which("radclient") is None:
        pytest.skip("radclient not installed (Debian freeradius-utils; .ci/run installs it)")
    from tests.netns.topology import lab

    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        t.write_config()
        t.start_lma()
        mac = L.ip(t.ns["mn"], "link", "show", "mn0").split("link/ether ")[1].split()[0]
        config = t.write_mag_config(keys='mtu = 1460\naccess_technology = 3\n'
                                         'metrics_listen = "127.0.0.1:9813"')  # fmt: skip
        log = tmp_path / "mag.log"
        mag = t.start_mag(config, log=log, timeout=20)

        # A PSK (Acct-Authentic Local) session and a forged Start move nothing.
        psk = _radclient(t, "s3cret", f'Acct-Status-Type = Start\nAcct-Authentic = Local\n'
                         f'Calling-Station-Id = "{mac}"\nUser-Name = "eve@example.org"\n'
                         'Acct-Session-Id = "PSK1"\n')  # fmt: skip
        assert psk.returncode == 0  # acknowledged (stored), but no binding
        forged = _radclient(t, "guessed", f'Acct-Status-Type = Start\nAcct-Authentic = RADIUS\n'
                            f'Calling-Station-Id = "{mac}"\nUser-Name = "alice@example.org"\n'
                            'Acct-Session-Id = "F1"\n')  # fmt: skip
        assert forged.returncode != 0  # never answered
        listed = t.lma_control({"command": "bindings"})
        assert listed is not None
        assert listed["bindings"] == []

        # The real Start (802.1X via RADIUS, CUI present): the MN is registered at MAG1.
        start = _radclient(t, "s3cret", f'Acct-Status-Type = Start\nAcct-Authentic = RADIUS\n'
                           f'Calling-Station-Id = "{mac}"\nUser-Name = "alice@example.org"\n'
                           f'Acct-Session-Id = "S1"\nEvent-Timestamp = {int(time.time())}\n')  # fmt: skip
        assert start.returncode == 0, start.stderr
        assert wait_for(lambda: len(t.lma_control({"command": "bindings"})["bindings"]) == 1, 10)  # type: ignore[index]
        binding = t.lma_control({"command": "bindings"})["bindings"][0]  # type: ignore[index]
        assert (binding["mn_id"], binding["mag"]) == ("alice@example.org", "mag1")
        assert wait_for(lambda: t.ping("cn", MN_V6, count=1), 10), "CN cannot reach the MN"
        # /metrics of both daemons agree with what happened.
        mag_metrics, lma_metrics = t.scrape("mag1"), t.scrape("lma")
        at_mag, at_lma = {"daemon": "mag", "node": "mag1"}, {"daemon": "lma", "node": "lma1"}
        assert sample(mag_metrics, "netlmm_ready", **at_mag) == 1
        assert sample(mag_metrics, "netlmm_bindings", **at_mag) == 1
        assert sample(mag_metrics, "netlmm_pbu_total", **at_mag, role="mag", status="0") == 1
        assert sample(mag_metrics, "netlmm_accounting_requests_total", outcome="accepted") == 2
        assert sample(mag_metrics, "netlmm_accounting_requests_total", outcome="rejected") == 1
        assert sample(mag_metrics, "netlmm_registration_latency_seconds_count", **at_mag) == 1
        assert sample(lma_metrics, "netlmm_bindings", **at_lma) == 1
        assert sample(lma_metrics, "netlmm_pbu_total", **at_lma, role="lma", status="0") == 1
        assert t.uplink_marks("mag1")[f"{mac} . 2001:db8:1:1::/64"] == 100
        assert "fwmark 0x64 iif acc0 lookup 100" in L.ip(t.ns["mag1"], "-6", "rule")

        # Stop: de-registration, routes and rules withdrawn at the MAG.
        stop = _radclient(t, "s3cret", f'Acct-Status-Type = Stop\nAcct-Authentic = RADIUS\n'
                          f'Calling-Station-Id = "{mac}"\nUser-Name = "alice@example.org"\n'
                          f'Acct-Session-Id = "S1"\nEvent-Timestamp = {int(time.time())}\n')  # fmt: skip
        assert stop.returncode == 0
        assert wait_for(lambda: t.uplink_marks("mag1") == {}, 10)
        assert "2001:db8:1:1::/64" not in L.ip(t.ns["mag1"], "-6", "route")
        assert wait_for(
            lambda: (
                t.lma_control({"command": "bindings"})["bindings"][0]["state"] == "deregistered"
            ),  # type: ignore[index]
            10,
        )
        mag.terminate()
        mag.wait(timeout=15)
        assert mag.returncode == 0, log.read_text()[-3000:]
