"""A MAG's data plane starting where a previous run (or a version that steered each station by
source rules) left per-station rules: those go, an operator's own rules stay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.dataplane.mag_linux import GRE_TABLE_BASE, MagLinuxDataPlane
from tests.netns.pmip_lab import LMAA, MAG_ADDR, ROUTER_V4, PmipLab
from tests.netns.topology import lab

pytestmark = [pytest.mark.netns, pytest.mark.integration]


def test_start_removes_the_stale_per_station_source_rules_only(tmp_path: Path) -> None:
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        ns = t.ns["mag1"]
        stale = [("-6", "2001:db8:77::/64", "100"), ("-4", "10.77.0.1", "100"),
                 ("-6", "2001:db8:78::/64", str(GRE_TABLE_BASE + 1))]  # fmt: skip
        for family, source, table in stale:
            L.ip(ns, family, "rule", "add", "pref", "1000", "from", source, "iif", "acc0",
                 "table", table)  # fmt: skip
        # Not ours: another table, another priority, no input interface.
        kept = [("pref", "1000", "from", "2001:db8:99::/64", "iif", "acc0", "table", "50"),
                ("pref", "900", "from", "2001:db8:98::/64", "iif", "acc0", "table", "100"),
                ("pref", "1000", "from", "2001:db8:97::/64", "table", "100")]  # fmt: skip
        for rule in kept:
            L.ip(ns, "-6", "rule", "add", *rule)
        before = L.ip(ns, "-6", "rule", "show") + L.ip(ns, "-4", "rule", "show")
        assert all(source.split("/")[0] in before for _, source, _ in stale), before

        async def start() -> None:
            dp = MagLinuxDataPlane(mode=TunnelMode.ROUTING, proxy_coa=MAG_ADDR["mag1"],
                                   lma_address=LMAA, device="tr0", ipv4_router=ROUTER_V4,
                                   netns=ns)  # fmt: skip
            await dp.start()
            await dp.close()

        asyncio.run(start())
        after = L.ip(ns, "-6", "rule", "show") + L.ip(ns, "-4", "rule", "show")
        for _, source, _ in stale:
            assert source.split("/")[0] not in after, after
        for prefix in ("2001:db8:99::/64", "2001:db8:98::/64", "2001:db8:97::/64"):
            assert prefix in after, after
