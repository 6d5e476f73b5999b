"""The access link as the mobile node's kernel sees it, with the real MAG daemon (issue 23, item
1): the node configures itself from our RAs (SLAAC), its Router Solicitation is answered at once,
it keeps its default router while idle past the router lifetime (refreshes), and it is told to
stop using the prefix and router when it leaves."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from testbed.load import accounting_request
from tests.netns.pmip_lab import HNP, PmipLab
from tests.netns.topology import Lab, lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration]

ROUTER_LL = "fe80::200:5eff:fe00:5213"


def _start(L: Lab, t: PmipLab, tmp: Path, lifetime: int) -> str:
    """LMA and MAG up, the node registered by an accounting Start; the node's MAC."""
    t.write_config()
    t.start_lma()
    config = t.write_mag_config(keys=f'router_lifetime = {lifetime}\n'
                                     'ra_dns = ["2001:db8:c::53"]')  # fmt: skip
    t.start_mag(config, log=tmp / "mag.log")
    mac = t.mac()
    assert t.nas_says(accounting_request(mac, "alice@example.org", "AL-1"))[0] == 5
    return mac


def _home_address(t: PmipLab) -> str | None:
    for address in t.node_configuration()["ipv6"]:
        if address.startswith(HNP.split("::")[0] + ":"):
            return address.split("/")[0]
    return None


def _router_expiry(L: Lab, t: PmipLab) -> int | None:
    """Seconds the node's default route via our router has left (None: no such route)."""
    shown = L.ip(t.ns["mn"], "-6", "route", "show", "default")
    found = re.search(rf"default via {ROUTER_LL} .*expires (\d+)sec", shown)
    return int(found.group(1)) if found else None


def test_the_node_configures_itself_and_its_solicitation_is_answered(tmp_path: Path) -> None:
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True, slaac=True)
        _start(L, t, tmp_path, lifetime=1800)  # refreshes every 600 s: not within this test
        assert wait_for(lambda: _home_address(t) is not None, 20), t.node_configuration()
        address = _home_address(t)
        assert address is not None
        assert wait_for(lambda: t.ping("cn", address, count=1), 15), "not reachable"
        assert _router_expiry(L, t) is not None
        # The node forgets everything (its link goes down and up): its kernel solicits, and
        # the MAG answers at once, long before the next periodic RA.
        L.ip(t.ns["mn"], "link", "set", "mn0", "down")
        assert _home_address(t) is None
        L.ip(t.ns["mn"], "link", "set", "mn0", "up")
        began = time.monotonic()
        assert wait_for(lambda: _home_address(t) == address and _router_expiry(L, t), 10), (
            t.node_configuration()
        )
        assert time.monotonic() - began < 10
        assert wait_for(lambda: t.ping("cn", address, count=1), 15)
        # The node leaves (accounting Stop): zero lifetimes, no default router, prefix
        # deprecated.
        stop = accounting_request(t.mac(), "alice@example.org", "AL-1", status=2, identifier=7)
        assert t.nas_says(stop)[0] == 5
        assert wait_for(lambda: _router_expiry(L, t) is None, 10), t.node_configuration()
        assert wait_for(lambda: t.node_configuration()["ipv6_deprecated"] == [f"{address}/64"],
                        10), t.node_configuration()  # fmt: skip
        assert not t.ping("cn", address, count=1)


def test_an_idle_node_keeps_its_default_router_past_the_router_lifetime(tmp_path: Path) -> None:
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True, slaac=True)
        _start(L, t, tmp_path, lifetime=6)  # an RA every 2 s
        assert wait_for(lambda: _home_address(t) is not None and _router_expiry(L, t), 20), (
            t.node_configuration()
        )
        first = t.node_configuration()
        # The node sends nothing and is sent nothing but RAs, for twice the router lifetime.
        seen = []
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            seen.append(_router_expiry(L, t))
            time.sleep(0.5)
        assert None not in seen, seen  # never without its default router
        assert max(seen) <= 6  # the lifetime is ours (6 s), refreshed, never run out
        assert t.node_configuration() == first
        address = _home_address(t)
        assert address is not None and t.ping("cn", address, count=1)
