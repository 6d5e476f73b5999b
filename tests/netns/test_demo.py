"""The README's main job: ``netlmm-aaa demo --json`` runs a real handover and cleans up."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.netns.topology import require_netns

pytestmark = [pytest.mark.netns, pytest.mark.integration]


def test_demo_reports_an_unchanged_address_and_cleans_up() -> None:
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
    assert summary["mn_mobility_messages"] == 0
    assert summary["serving_mag_after"] == "mag2"
    steps = summary["handover_ms"]
    assert steps["total"] is not None, (summary, result.stderr[-3000:])
    assert 0 < steps["total"] < 5000
    assert steps["event_to_route_switched"] is not None
    assert 0 <= summary["downlink_lost"] < summary["downlink_sent"]
    after = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert after == before  # every namespace it made is gone
