"""The README's main job: ``netlmm-aaa demo --json`` runs a real handover and cleans up."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys

import pytest

from netlmm_aaa.dataplane.backend_probe import auto_choice
from tests.conftest import REPO
from tests.netns.pmip_lab import HNP, MN_V4, ROUTER_V4
from tests.netns.topology import require_netns

pytestmark = [pytest.mark.netns, pytest.mark.integration]


def test_demo_reports_an_unchanged_address_and_cleans_up(
    tunnel_backends: dict[str, object],
) -> None:
    require_netns()
    before = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    result = subprocess.run(
        [sys.executable, "-m", "netlmm_aaa", "demo", "--json"],
        capture_output=True, text=True, timeout=240, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    if result.returncode == 2 and "missing programs" in result.stderr:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["address_unchanged"] is True
    # Read from the node, which configured them itself (SLAAC, DHCPv4): its address in the
    # home prefix, its IPv4 home address, default routes via the shared RFC 6543 router.
    [v6] = summary["mn_address_before"]
    assert ipaddress.IPv6Interface(v6) in ipaddress.IPv6Network(HNP)
    assert summary["mn_address_after"] == [v6]
    assert summary["mn_ipv4_before"] == summary["mn_ipv4_after"]
    assert [a.split("/")[0] for a in summary["mn_ipv4_after"]] == [MN_V4]
    assert summary["mn_default_routes_after"] == [
        f"default via {ROUTER_V4} dev mn0", "default via fe80::200:5eff:fe00:5213 dev mn0"]  # fmt: skip
    assert summary["mn_mobility_messages"] == 0
    assert summary["serving_mag_after"] == "mag2"
    steps = summary["handover_ms"]
    assert steps["total"] is not None, (summary, result.stderr[-3000:])
    assert 0 < steps["total"] < 5000
    assert steps["event_to_route_switched"] is not None
    assert 0 <= summary["downlink_lost"] < summary["downlink_sent"]
    # Every daemon runs the backend auto picks here, and the downlink crossed the transport
    # in IPv6-in-IPv6 from the LMA to the new MAG (the demo's own capture).
    chosen = auto_choice(tunnel_backends.values())  # type: ignore[arg-type]
    plane = summary["data_plane"]
    for node in ("lma", "mag1", "mag2"):
        assert plane[node] == {"backend": chosen, "mode": "ip6ip6"}, plane
    tunnelled = plane["lma_to_serving_mag_packets_by_next_header"].get("41", 0)
    assert tunnelled >= 100, plane  # the probe runs 0.5 s at 1 packet/ms after the move
    after = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert after == before  # every namespace it made is gone
