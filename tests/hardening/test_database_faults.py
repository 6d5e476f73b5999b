"""Database faults against the real MAG (security-tests.md D1): PostgreSQL stopped while
accounting Starts arrive.

The policy under test (README, "Failure behaviour"): an Accounting-Response goes out only once
the record is committed, so while the database is down the NAS gets no answer and retransmits;
mobility keeps working (the stations register with the LMA meanwhile; their records wait in
memory, in order); when the database is back every record is committed exactly once and every
copy the NAS sent is answered.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from pyroute2 import netns as pr_netns

from testbed.postgresql import (
    PostgresqlUnavailable,
    check_available,
    create_database,
    private_server,
    start_server,
    stop_server,
)
from tests.hardening.test_radius_input import start
from tests.netns.pmip_lab import PmipLab
from tests.netns.topology import lab

pytestmark = [pytest.mark.netns, pytest.mark.postgresql, pytest.mark.hardening]

#: Seconds the database stays down (the suite's full size is 30: NETLMM_HARDENING_FULL=1).
DOWN = 30.0 if os.environ.get("NETLMM_HARDENING_FULL") else 6.0


def _answers(sock: socket.socket, wait: float) -> list[bytes]:
    out: list[bytes] = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            out.append(sock.recv(4096))
        except TimeoutError:
            break
    return out


def test_database_down_nothing_acknowledged_is_lost_or_duplicated(tmp_path: Path) -> None:
    try:
        check_available()
    except PostgresqlUnavailable as exc:
        pytest.skip(str(exc))
    import psycopg

    with private_server() as base, lab() as L:
        url = create_database(base, "d1")
        t = PmipLab(L, tmp_path)
        t.build(mag_dataplane=True)
        t.write_config()
        t.start_lma()
        config = t.write_mag_config(database=url)
        log = tmp_path / "mag.log"
        mag = t.start_mag(config, log=log)
        sock = pr_netns.create_socket(t.ns["mag1"], socket.AF_INET, socket.SOCK_DGRAM, 0)
        sock.bind(("127.0.0.1", 0))
        nas = ("127.0.0.1", 1813)

        def bindings() -> set[str]:
            reply = t.lma_control({"command": "bindings"})
            return {b["mn_id"] for b in reply["bindings"]} if reply else set()  # type: ignore[union-attr, index]

        stamp = int(time.time())
        sock.sendto(start("02:00:00:d1:00:01", "ivan@example.org", "D1-A", stamp=stamp), nas)
        assert len(_answers(sock, 3)) == 1
        stop_server(url)
        try:
            # While the database is down: Starts (and hostapd-style retransmissions) get no
            # answer, but the stations are registered all the same.
            sent = 0
            for i in range(5):
                for copy in range(2):
                    sock.sendto(start(f"02:00:00:d1:01:0{i}", f"user{i}@example.org", f"D1-{i}",
                                      stamp=stamp, delay=copy * 3, ident=20 + 2 * i + copy), nas)  # fmt: skip
                    sent += 1
            assert _answers(sock, DOWN) == []
            assert {f"user{i}@example.org" for i in range(5)} <= bindings()
            assert mag.poll() is None
        finally:
            start_server(url)
        answers = _answers(sock, 15)
        assert len(answers) == sent, log.read_text()[-2000:]
        assert all(a[0] == 5 for a in answers)
        sock.close()
        host = url.split("host=")[1].split("&")[0]
        with psycopg.connect(host=host, port=55432, user="postgres",
                             dbname=url.split("@/")[1].split("?")[0]) as conn:  # fmt: skip
            rows = conn.execute(
                "SELECT session_id, outcome, COUNT(*) FROM accounting_records"
                " WHERE session_id LIKE 'D1-%%' GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall()
        accepted = {s: n for s, o, n in rows if o == "accepted"}
        assert accepted == {"D1-A": 1, **{f"D1-{i}": 1 for i in range(5)}}, rows
        mag.terminate()
        mag.wait(timeout=20)
        assert mag.returncode == 0, log.read_text()[-3000:]
