"""kill -9 of the LMA in the middle of a registration storm, with nothing flushed (issue 23,
item 4; security-tests.md F4 without help).

The MAG daemon registers the mobile node (a real namespace, reachable from the CN) and 300
synthetic stations by accounting; the LMA is killed while the storm's PBUs are being answered.
Its restart is unclean (it may have answered PBUs whose bindings were not committed), so it
increments its restart counter and announces it; the MAG re-registers every station it serves
through it. Measured from the moment the new LMA is ready: every station is bound again, each
that had a prefix with that same prefix, and the node's traffic flows, within 5 s. A clean
restart (SIGTERM) afterwards keeps the counter and announces nothing.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from pathlib import Path

import pytest

from testbed.load import accounting_request, exchange_all, load_lab, station_mac
from tests.netns.pmip_lab import MN_V6
from tests.netns.topology import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.hardening]

STATIONS = 300
NAS = ("127.0.0.1", 1813)


def _prefixes(ll) -> dict[str, tuple[str, ...]]:  # type: ignore[no-untyped-def]
    return {
        str(b["mn_id"]): tuple(b["home_network_prefixes"])  # type: ignore[arg-type]
        for b in ll.bindings()
        if b["state"] == "active"
    }


def test_every_station_is_bound_again_within_5_s_of_an_lma_killed_mid_storm(
    tmp_path: Path,
) -> None:
    with load_lab(tmp_path) as ll, contextlib.closing(ll.accounting("mag1")) as sock:
        t = ll.pmip
        mn_mac = ll.lab.ip(t.ns["mn"], "link", "show", "mn0").split("link/ether ")[1].split()[0]
        exchange_all(sock, [accounting_request(mn_mac, "alice@example.org", "CR-MN")], NAS)
        assert wait_for(lambda: t.ping("cn", MN_V6, count=1), 15), "the MN is not reachable"
        starts = [accounting_request(station_mac(i), f"crash{i}@example.org", f"CR-{i}",
                                     identifier=i % 256) for i in range(STATIONS)]  # fmt: skip
        # The storm runs in a thread; the LMA dies once about a third of it is bound.
        storm = threading.Thread(target=exchange_all, args=(sock, starts, NAS),
                                 kwargs={"window": 32, "timeout": 60}, daemon=True)  # fmt: skip
        storm.start()
        assert wait_for(lambda: ll.binding_count() >= STATIONS // 3, 30)
        t.kill_lma()  # SIGKILL: nothing flushed beyond what was committed
        killed_at = time.monotonic()
        storm.join(60)
        assert not storm.is_alive(), "the MAG did not answer every accounting Start"
        # Down long enough that the PBUs in flight back off past the 5 s (1, 2, 4, 8 s ...):
        # only the restart announcement brings them back in time.
        time.sleep(max(0.0, 6.0 - (time.monotonic() - killed_at)))
        before = _mag_prefixes(ll)
        assert t.config_path is not None  # heartbeats on: the restart is announced
        config = t.config_path.read_text()
        t.config_path.write_text(config.replace("heartbeat_interval = 0", "heartbeat_interval = 30"))
        t.start_lma()
        ready = time.monotonic()
        wanted = {f"crash{i}@example.org" for i in range(STATIONS)} | {"alice@example.org"}

        def all_bound() -> bool:
            bound = _prefixes(ll)
            return wanted <= set(bound) and all(
                bound[mn] == p for mn, p in before.items() if mn in bound and p
            )

        assert wait_for(all_bound, 5, interval=0.1), (
            len(wanted - set(_prefixes(ll))), (tmp_path / "lma.log").read_text()[-2000:]
        )
        assert wait_for(lambda: t.ping("cn", MN_V6, count=1), 5 - (time.monotonic() - ready))
        took = time.monotonic() - ready
        log = (tmp_path / "lma.log").read_text()
        counters = re.findall(r"restart counter (\d+) \((\w[\w ]*)\)", log)
        assert counters[-1][1] == "announced", counters  # the killed run's successor
        restarted = ll.rows("mag1", "SELECT COUNT(*) FROM audit_events WHERE kind = 'lma_restarted'")
        assert restarted[0][0] == 1, restarted  # the MAG heard it and re-registered
        print(f"{len(wanted)} stations bound again and traffic flowing {took:.2f} s after the "
              "killed LMA was ready")
        # A clean stop and start: the counter stays, nothing is announced, nothing moves.
        assert t.lma_proc is not None
        t.lma_proc.terminate()
        t.lma_proc.wait(timeout=30)
        t.start_lma()
        again = re.findall(r"restart counter (\d+) \((\w[\w ]*)\)",
                           (tmp_path / "lma.log").read_text())  # fmt: skip
        assert again[-1] == (counters[-1][0], "clean restart"), again
        time.sleep(1)
        assert ll.rows("mag1", "SELECT COUNT(*) FROM audit_events WHERE kind = 'lma_restarted'"
                       )[0][0] == 1  # fmt: skip  # nothing announced, nothing re-registered
        assert wanted <= set(_prefixes(ll))
        assert t.ping("cn", MN_V6, count=1)


def _mag_prefixes(ll) -> dict[str, tuple[str, ...]]:  # type: ignore[no-untyped-def]
    """What the MAG holds for each station (its registered prefixes), from its audit trail."""
    rows = ll.rows("mag1", "SELECT mn_id, prefixes FROM station_events WHERE event = 'registered'"
                   " ORDER BY id")  # fmt: skip
    return {str(mn_id): tuple(p for p in str(prefixes or "").split(",") if p)
            for mn_id, prefixes in rows}  # fmt: skip
