"""kill -9 of the real MAG daemon with accounting its upstream has not taken yet (issue 22, item
6): the records a NAS was answered for are spooled in the store with the answer, survive the
crash, and reach the upstream (real FreeRADIUS, its detail file) exactly once when it comes
back, after the MAG's restart."""

from __future__ import annotations

import re
import shutil
import socket
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from pyroute2 import netns as pr_netns

from testbed.freeradius import accounting_server
from testbed.load import accounting_request
from testbed.pmip import WLC_NAS
from tests.netns.pmip_lab import PmipLab
from tests.netns.topology import lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.integration, pytest.mark.hardening]

UPSTREAM = """
[mag.accounting_upstream]
address = "127.0.0.1"
port = {upstream}
secret = "billing-secret"
"""

UPSTREAM_PORT = 18120 + 7  # FreeRADIUS: auth here, accounting one above (inside mag1's netns)


def _upstream_records(radacct: Path) -> Counter[tuple[str, str]]:
    """(Acct-Session-Id, Acct-Status-Type) of every record in FreeRADIUS's detail files."""
    seen: Counter[tuple[str, str]] = Counter()
    for path in radacct.rglob("detail-*"):
        for block in path.read_text().split("\n\n"):
            session = re.search(r'Acct-Session-Id = "([^"]*)"', block)
            status = re.search(r"Acct-Status-Type = (\S+)", block)
            if session and status and session.group(1).startswith("UP-"):
                seen[(session.group(1), status.group(1))] += 1
    return seen


def test_a_killed_mag_forwards_every_answered_record_once_when_the_upstream_returns(
    tmp_path: Path,
) -> None:
    for tool in ("freeradius", "radclient"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian freeradius / freeradius-utils)")
    with lab() as L:
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        t.write_config()
        t.start_lma()
        db = tmp_path / "mag1.db"
        config = t.write_mag_config(tables=UPSTREAM.format(upstream=UPSTREAM_PORT + 1) + WLC_NAS)
        log = tmp_path / "mag.log"
        procs = []

        def start_mag() -> None:
            procs.append(t.start_mag(config, log=log))

        def spooled() -> int:
            with sqlite3.connect(db) as conn:
                return int(conn.execute("SELECT COUNT(*) FROM upstream_spool").fetchone()[0])

        start_mag()
        now = int(time.time())
        records = [
            accounting_request("02:00:00:1d:00:01", "ua@example.org", "UP-1", stamp=now),
            accounting_request("02:00:00:1d:00:02", "ub@example.org", "UP-2", stamp=now),
            accounting_request("02:00:00:1d:00:01", "ua@example.org", "UP-1", status=3,
                               stamp=now + 1, identifier=1),  # fmt: skip
            accounting_request("02:00:00:1d:00:02", "ub@example.org", "UP-2", status=2,
                               stamp=now + 2, identifier=2),  # fmt: skip
            accounting_request("02:00:00:1d:00:03", "uc@example.org", "UP-3", stamp=now + 2,
                               identifier=3),  # fmt: skip
        ]
        nas = pr_netns.create_socket(t.ns["mag1"], socket.AF_INET, socket.SOCK_DGRAM, 0)
        try:
            nas.bind(("127.0.0.1", 0))
            nas.settimeout(5)
            for packet in [*records, records[0]]:  # and the NAS retransmits the first
                nas.sendto(packet, ("127.0.0.1", 1813))
                assert nas.recv(4096)[0] == 5  # answered: committed, spool entry included
        finally:
            nas.close()
        assert spooled() == len(records)
        time.sleep(0.5)  # the forwarder is sending to a closed port and waiting on its back-off
        procs[-1].kill()
        procs[-1].wait(timeout=15)
        assert spooled() == len(records)

        root = Path(tempfile.mkdtemp(prefix="netlmm-fr-", dir=tmp_path))
        with accounting_server(root, UPSTREAM_PORT, "billing-secret", netns=t.ns["mag1"]) as radacct:
            start_mag()
            expected = Counter({("UP-1", "Start"): 1, ("UP-2", "Start"): 1,
                                ("UP-1", "Interim-Update"): 1, ("UP-2", "Stop"): 1,
                                ("UP-3", "Start"): 1})  # fmt: skip
            assert wait_for(lambda: _upstream_records(radacct) == expected, 20), (
                _upstream_records(radacct), log.read_text()[-2000:])  # fmt: skip
            assert wait_for(lambda: spooled() == 0, 10), spooled()
            time.sleep(2)  # nothing forwarded twice later either
            assert _upstream_records(radacct) == expected
        procs[-1].terminate()
        procs[-1].wait(timeout=15)
        assert procs[-1].returncode == 0, log.read_text()[-3000:]
