"""A station moving between two NASes (access interfaces) of one MAG, with the real daemons and
kernel forwarding (issue 22, item 5).

MAG1 has two access interfaces, ``acc0`` (NAS ``ap-a``) and ``acc1`` (NAS ``ap-b``), each a port
of its own bridge in a patch-panel namespace; the mobile node's cable moves from the first
bridge to the second. Asserted: the MAG's kernel route to the node's home prefix follows it to
``acc1``, the correspondent reaches the node over the new link, the LMA sees no new PBU (the
binding does not move between MAGs), the move is audited, and the old NAS's late Stop is
refused and moves nothing; the new session's own Stop de-registers the node.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from testbed.load import accounting_request
from tests.netns.pmip_lab import HNP, MN_V6, PmipLab
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.hardening]

NASES = """
[[mag.nas]]
name = "ap-a"
address = "127.0.0.1"
secret = "s3cret"
interface = "acc0"

[[mag.nas]]
name = "ap-b"
address = "127.0.0.2"
secret = "s3cret"
interface = "acc1"
"""

USER = "alice@example.org"


def _pbus_at_lma(t: PmipLab) -> int:
    text = t.scrape("lma")
    return sum(int(float(v)) for v in re.findall(r"^netlmm_pbu_total\{[^}]*\} (\S+)$", text, re.M))


def test_a_station_moving_between_two_nases_of_one_mag_follows_and_the_late_stop_is_refused(
    tmp_path: Path,
) -> None:
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True, patch_panel=True)
        sw = t.ns["sw"]
        L.ip(sw, "link", "add", "br3", "type", "bridge", "stp_state", "0", "group_fwd_mask", "8")
        L.ip(sw, "link", "set", "br3", "up")
        L.veth(t.ns["mag1"], "acc1", sw, "port3")
        L.ip(sw, "link", "set", "port3", "master", "br3")
        t.write_config()
        t.start_lma()
        db = tmp_path / "mag1.db"
        config = t.write_mag_config(access=("acc0", "acc1"), tables=NASES)
        log = tmp_path / "mag.log"
        mag = t.start_mag(config, log=log)
        mac = L.ip(t.ns["mn"], "link", "show", "mn0").split("link/ether ")[1].split()[0]

        def nas_says(source: str, packet: bytes) -> None:
            assert t.nas_says(packet, source=source)[0] == 5  # Accounting-Response: recorded

        def route_device() -> str | None:
            shown = L.ip(t.ns["mag1"], "-6", "route", "show", HNP)
            found = re.search(r"\bdev (\S+)", shown)
            return found.group(1) if found else None

        def binding() -> dict[str, object]:
            reply = t.lma_control({"command": "bindings"})
            assert reply is not None
            chosen = [b for b in reply["bindings"] if b["mn_id"] == USER]  # type: ignore[union-attr]
            return chosen[0] if chosen else {}  # type: ignore[no-any-return]

        def station_rows() -> list[tuple[str, str | None]]:
            with sqlite3.connect(db) as conn:
                rows = conn.execute("SELECT event, reason FROM station_events WHERE mac = ?"
                                    " ORDER BY id", (mac,)).fetchall()  # fmt: skip
            return [(str(k), r) for k, r in rows]

        nas_says("127.0.0.1", accounting_request(mac, USER, "A-1"))
        assert wait_for(lambda: binding().get("state") == "active", 10)
        assert wait_for(lambda: route_device() == "acc0", 10), route_device()
        assert wait_for(lambda: t.ping("cn", MN_V6, count=1), 15), "not reachable on acc0"
        before, pbus = binding(), _pbus_at_lma(t)
        assert pbus >= 1

        # The node roams: its cable leaves ap-a's port for ap-b's, and ap-b starts a session.
        L.ip(sw, "link", "set", "cable", "nomaster")
        L.ip(sw, "link", "set", "cable", "master", "br3")
        nas_says("127.0.0.2", accounting_request(mac, USER, "B-1"))
        assert wait_for(lambda: route_device() == "acc1", 10), route_device()
        assert wait_for(lambda: t.ping("cn", MN_V6, count=1), 15), "not reachable on acc1"
        assert wait_for(lambda: any(e == "moved" for e, _ in station_rows()), 10), station_rows()
        after = binding()
        assert (after["mag"], after["home_network_prefixes"], after["state"]) == (
            before["mag"], before["home_network_prefixes"], "active")  # fmt: skip
        assert _pbus_at_lma(t) == pbus, "a move inside one MAG sent a PBU"

        # ap-a's Stop for the old session arrives late: refused, nothing moves.
        nas_says("127.0.0.1", accounting_request(mac, USER, "A-1", status=2, identifier=1))
        assert wait_for(lambda: any(r == "stop_not_of_session" for _, r in station_rows()), 10), (
            station_rows()
        )
        assert route_device() == "acc1"
        assert binding().get("state") == "active"
        assert t.ping("cn", MN_V6, count=1)

        # The session's own Stop, from ap-b: de-registered, the route is gone.
        nas_says("127.0.0.2", accounting_request(mac, USER, "B-1", status=2, identifier=2))
        assert wait_for(lambda: binding().get("state") != "active", 10)
        assert wait_for(lambda: route_device() is None, 10), route_device()
        mag.terminate()
        mag.wait(timeout=15)
        assert mag.returncode == 0, log.read_text()[-3000:]
