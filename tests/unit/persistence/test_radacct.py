"""``radacct``: accounting datagrams (built to RFC 2866, decoded by the MAG's codec) through the
store's writer become one rlm_sql-style row per session, on SQLite and PostgreSQL; the staple
queries of daloRADIUS and openwisp-radius run on it unchanged."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.store import SqlStore
from netlmm_aaa.services.accounting import accounting_audit
from netlmm_aaa.wire.radius_accounting import decode_accounting_request
from tests.databases import database_url, postgresql_server  # noqa: F401
from tests.unit.wire.test_radius_accounting import build

T0 = 1_780_000_000  # 2026-05-28 20:26:40 UTC
SECRET = b"s3cret"


def _u32(value: int) -> bytes:
    return struct.pack("!I", value)


def _request(status: int, user: str, session: str, at: int, **extra: Any) -> list[tuple[int, bytes]]:
    attributes = [
        (40, _u32(status)), (1, user.encode()), (44, session.encode()), (45, _u32(1)),
        (31, extra.pop("mac", b"02-00-00-00-00-01")), (30, b"AA-BB-CC-00-00-01:Corp"),
        (4, bytes([192, 0, 2, 7])), (61, _u32(19)), (55, _u32(at)),
    ]  # fmt: skip
    numbers = {"session_time": 46, "in_octets": 42, "out_octets": 43, "in_packets": 47,
               "out_packets": 48, "in_giga": 52, "out_giga": 53, "cause": 49, "delay": 41}  # fmt: skip
    for key, value in extra.items():
        if key == "framed_ip":
            attributes.append((8, bytes(int(x) for x in value.split("."))))
        else:
            attributes.append((numbers[key], _u32(value)))
    return attributes


def _feed(url: str, node: str, packets: list[tuple[str, Any]]) -> None:
    """Each (NAS, attributes) as the MAG records it: decoded, audited, written by the store (a
    ready RecordAudit as it is)."""
    engine = make_engine(url)
    store = SqlStore(engine, node)
    records = []
    for nas, attributes in packets:
        if isinstance(attributes, RecordAudit):
            records.append(attributes)
            continue
        request = decode_accounting_request(build(attributes, secret=SECRET), SECRET)
        records.append(accounting_audit(AuditKind.ACCOUNTING, nas, request, T0 + 10_000, "192.0.2.99"))
    store.submit(audit=records).result(30)
    store.close()
    engine.dispose()


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = [tuple(r) for r in connection.execute(text(sql))]
    engine.dispose()
    return rows


def _utc(value: Any) -> float:
    if isinstance(value, str):  # SQLite: naive UTC text
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def test_sessions_opened_updated_and_closed(database_url: str) -> None:  # noqa: F811
    _feed(database_url, "mag1", [
        ("wlc", _request(1, "alice@example.org", "S1", T0)),
        ("wlc", _request(1, "bob@example.org", "S2", T0 + 5, mac=b"02-00-00-00-00-02")),
        # The MAG registers bob: his home prefix and IPv4 home address go into his session.
        ("", RecordAudit(kind=AuditKind.STATION_REGISTERED, utc=T0 + 5.1, peer="mag1",
                         mn_id=b"bob@example.org",
                         fields={"mac": "02:00:00:00:00:02", "prefixes": ["2001:db8:1:2::/64"],
                                 "ipv4": "203.0.113.12"})),
        ("wlc", _request(3, "alice@example.org", "S1", T0 + 600, session_time=600,
                         in_octets=1000, out_octets=5000, in_packets=10, out_packets=20,
                         framed_ip="203.0.113.10")),
        ("ap2", _request(1, "carol@guest.example", "S3", T0 + 7, mac=b"02-00-00-00-00-03")),
        # dave's Start was lost: his first record is an Interim-Update, 300 s into the session.
        ("wlc", _request(3, "dave@example.org", "S4", T0 + 900, session_time=300,
                         in_octets=7, out_octets=9, mac=b"02-00-00-00-00-04")),
        ("wlc", _request(2, "alice@example.org", "S1", T0 + 1200, session_time=1200,
                         in_octets=500, in_giga=1, out_octets=6000, cause=1, delay=2)),
        # NAS ap2 restarts: its sessions are over.
        ("ap2", [(40, _u32(7)), (4, bytes([192, 0, 2, 8])), (55, _u32(T0 + 1300))]),
    ])  # fmt: skip
    rows = _rows(database_url, "SELECT username, realm, acctstarttime, acctupdatetime, "
                 "acctstoptime, acctsessiontime, acctinputoctets, acctoutputoctets, "
                 "acctterminatecause, nasipaddress, nasporttype, acctauthentic, "
                 "callingstationid, framedipaddress, node, nasname, acctinputpackets "
                 "FROM radacct ORDER BY username")  # fmt: skip
    by_user = {r[0]: r for r in rows}
    assert sorted(by_user) == ["alice@example.org", "bob@example.org", "carol@guest.example",
                               "dave@example.org"]  # fmt: skip
    alice = by_user["alice@example.org"]
    assert alice[1] == "example.org"
    assert _utc(alice[2]) == T0 and _utc(alice[3]) == T0 + 600
    assert _utc(alice[4]) == T0 + 1200 - 2  # Acct-Delay-Time taken off
    assert alice[5:9] == (1200, (1 << 32) + 500, 6000, "User-Request")
    assert str(alice[9]) == "192.0.2.7" and alice[10:13] == ("Wireless-802.11", "RADIUS",
                                                              "02:00:00:00:00:01")  # fmt: skip
    assert str(alice[13]) == "203.0.113.10"  # kept from the Interim (the Stop had none)
    assert alice[14:17] == ("mag1", "wlc", 10)
    carol = by_user["carol@guest.example"]
    assert _utc(carol[4]) == T0 + 1300 and carol[8] == "NAS-Reboot"
    bob = _rows(database_url, "SELECT framedipv6prefix, framedipaddress FROM radacct "
                "WHERE username = 'bob@example.org'")[0]  # fmt: skip
    assert (str(bob[0]), str(bob[1])) == ("2001:db8:1:2::/64", "203.0.113.12")
    dave = by_user["dave@example.org"]
    assert _utc(dave[2]) == T0 + 900 - 300 and dave[4] is None and dave[5:8] == (300, 7, 9)
    # daloRADIUS "online users" and openwisp-radius "active sessions".
    online = _rows(database_url, "SELECT username FROM radacct WHERE acctstoptime IS NULL "
                   "ORDER BY username")  # fmt: skip
    assert online == [("bob@example.org",), ("dave@example.org",)]
    # Usage per user (daloRADIUS "top users"): octets in and out, summed over sessions.
    top = _rows(database_url, "SELECT username, SUM(acctinputoctets) + SUM(acctoutputoctets) "
                "AS total FROM radacct GROUP BY username ORDER BY total DESC")  # fmt: skip
    assert top[0] == ("alice@example.org", (1 << 32) + 500 + 6000)
    # Sessions per NAS.
    per_nas = _rows(database_url, "SELECT nasname, COUNT(*) FROM radacct GROUP BY nasname "
                    "ORDER BY nasname")  # fmt: skip
    assert per_nas == [("ap2", 1), ("wlc", 3)]


def test_db_sample_radacct_agrees_with_the_projects_reports(database_url: str) -> None:  # noqa: F811
    """On ``db sample`` data: the online sessions are exactly the stations the MAGs hold, and
    the daloRADIUS/openwisp "sessions and users per AP" query gives the numbers of ``report
    aps`` for the same period."""
    import io

    from netlmm_aaa.cli import main
    from netlmm_aaa.reports.queries import Reports

    out, err = io.StringIO(), io.StringIO()
    assert main(["db", "sample", "--db", database_url, "--stations", "60", "--days", "2"],
                out=out, err=err) == 0, err.getvalue()  # fmt: skip
    assert "60 sessions open in radacct" in out.getvalue(), out.getvalue()
    online = _rows(database_url, "SELECT username FROM radacct WHERE acctstoptime IS NULL")
    registered = _rows(database_url, "SELECT DISTINCT mn_id FROM station_events "
                       "WHERE event = 'registered'")  # fmt: skip
    assert len(online) == len({u for (u,) in online}) == 60  # one open session per station
    assert {u for (u,) in online} == {m for (m,) in registered}
    per_ap = _rows(database_url, "SELECT node, calledstationid, COUNT(*), "
                   "COUNT(DISTINCT username) FROM radacct GROUP BY node, calledstationid")  # fmt: skip
    ours = {}
    for node, called, sessions, users in per_ap:
        ap, ssid = called.rsplit(":", 1)
        ours[(node, ap.lower().replace("-", ":"), ssid)] = (sessions, users)
    engine = make_engine(database_url)
    report = Reports(engine).aps()[0]
    engine.dispose()
    theirs = {(mag, ap, ssid): (attachments, nodes)
              for mag, ap, ssid, attachments, _in, _out, nodes in report.rows}  # fmt: skip
    assert ours == theirs and sum(s for s, _ in ours.values()) > 60


def test_the_documented_radacct_queries_run(database_url: str) -> None:  # noqa: F811
    """Every query of docs/sql-reports.md's radacct section, on ``db sample`` data."""
    import io
    import re

    from netlmm_aaa.cli import main
    from tests.conftest import REPO

    section = (REPO / "docs" / "sql-reports.md").read_text().split("## `radacct`")[1]
    section = section.split("\n## ")[0]
    queries = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert len(queries) >= 5
    assert main(["db", "sample", "--db", database_url, "--stations", "20", "--days", "1"],
                out=io.StringIO(), err=io.StringIO()) == 0  # fmt: skip
    for query in queries:
        assert _rows(database_url, query), query  # each answers something on a day of a site
