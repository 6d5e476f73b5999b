"""The MAG data plane under a burst of station changes: the changes that queue while one batch
is applied go together (one nftables transaction, one netlink batch), and each caller still
gets its own station's outcome, in the kernel as well as in the exception it sees."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from netlmm_aaa.core.actions import StationBinding
from netlmm_aaa.core.lma_policy import TunnelMode
from netlmm_aaa.dataplane.mag_linux import MagLinuxDataPlane
from netlmm_aaa.dataplane.port import DataPlaneError
from tests.netns.pmip_lab import LMAA, MAG_ADDR, ROUTER_V4, PmipLab
from tests.netns.topology import lab

pytestmark = [pytest.mark.netns, pytest.mark.integration]

COUNT = 60


def _station(i: int, *, interface: str = "acc0", prefix: str | None = None) -> StationBinding:
    return StationBinding(
        mac=f"02:20:00:00:{i >> 8:02x}:{i & 0xFF:02x}", mn_id=f"mn{i}@example.org".encode(),
        interface=interface, home_network_prefixes=(prefix or f"2001:db8:{0x100 + i:x}::/64",),
        ipv4_home_address=f"10.77.{i >> 8}.{i & 0xFF}", lma_address=LMAA,
    )  # fmt: skip


def test_a_burst_of_station_changes_reports_each_stations_own_outcome(tmp_path: Path) -> None:
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        ns = t.ns["mag1"]

        def kernel() -> tuple[str, str, str, str]:
            maps = [L.exec(ns, "nft", "list", "map", "netdev", "netlmm_mag", name)
                    for name in ("stations6", "stations4")]  # fmt: skip
            return (L.ip(ns, "-6", "route", "show", "dev", "acc0"),
                    L.ip(ns, "-6", "rule", "show"), L.ip(ns, "rule", "show"), "".join(maps))  # fmt: skip

        async def scenario() -> None:
            dp = MagLinuxDataPlane(mode=TunnelMode.ROUTING, proxy_coa=MAG_ADDR["mag1"],
                                   lma_address=LMAA, device="tr0", ipv4_router=ROUTER_V4,
                                   netns=ns)  # fmt: skip
            await dp.start()
            try:
                await dp.prepare_access_interface("acc0")
                await dp.install(_station(0))
                good = [_station(i) for i in range(1, COUNT)]
                # nftables refuses its pair (whatever the kernel: the program checks the
                # length), which fails the burst's shared transaction.
                refused = _station(COUNT + 1, prefix="2001:db8:1ff::/129")
                elsewhere = _station(COUNT, interface="nosuch0")
                wanted = [*good[: COUNT // 2], refused, elsewhere, *good[COUNT // 2 :]]
                outcomes = await asyncio.gather(*(dp.install(s) for s in wanted),
                                                return_exceptions=True)  # fmt: skip
                failed = {s.mac: o for s, o in zip(wanted, outcomes, strict=True) if o is not None}
                assert set(failed) == {refused.mac, elsewhere.mac}, failed
                assert "nft" in str(failed[refused.mac]), failed
                assert "nosuch0" in str(failed[elsewhere.mac]), failed
                assert all(isinstance(o, DataPlaneError) for o in failed.values()), failed
                routes, rules6, rules4, elements = kernel()
                # Their traffic is marked with the uplink table (100), which one rule per
                # family and access link leads to.
                uplink = "fwmark 0x64 iif acc0 lookup 100"
                assert uplink in rules6 and uplink in rules4, (rules6, rules4)
                for s in [_station(0), *good]:
                    prefix = s.home_network_prefixes[0]
                    assert f"{prefix} " in routes, prefix
                    assert f"{s.mac} . {prefix} : 0x00000064" in elements, s.mac
                    assert f"{s.mac} . {s.ipv4_home_address} : 0x00000064" in elements, s.mac
                assert "2001:db8:1ff:" not in routes + elements
                assert elsewhere.mac not in elements and "2001:db8:13c:" not in routes

                # Removals in a burst, a station never installed among them: nothing remains.
                leaving = [_station(0), *good, elsewhere]
                outcomes = await asyncio.gather(*(dp.remove(s) for s in leaving),
                                                return_exceptions=True)  # fmt: skip
                assert outcomes == [None] * len(leaving), outcomes
                routes, rules6, rules4, elements = kernel()
                assert "2001:db8:1" not in routes + elements, (routes, elements)
                assert "10.77." not in elements, elements
            finally:
                await dp.close()

        asyncio.run(scenario())
