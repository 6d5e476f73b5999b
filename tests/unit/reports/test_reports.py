"""Reports over an audit store filled by the real MAG and LMA cores (through SqlStore), on
SQLite and PostgreSQL: trail, handovers, aps, security, signaling, output formats."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import Any

import pytest

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.store import SqlStore
from netlmm_aaa.reports.output import render
from netlmm_aaa.reports.queries import Reports, Window, parse_when
from tests.databases import database_url, postgresql_server  # noqa: F401
from tests.mag_lma_pair import ALICE, MN_MAC, make_pair

BOB = b"bob@example.org"
BOB_MAC = "02:88:00:00:bb:02"


def later(fields: Any, shift: float) -> Any:
    """``fields`` of a record ``shift`` seconds later: its Acct-Session-Id, if any, another."""
    if not shift or "session_id" not in fields:
        return fields
    return {**fields, "session_id": f"{fields['session_id']}@{int(shift)}"}


def fill(url: str, shift: float = 0.0) -> dict[str, Any]:
    """Alice: mag1 (AP1) -> mag2 (AP2) -> mag1 (AP1); Bob: mag2 only; messages take 2 ms per
    hop. Every audit record of the three cores goes through its daemon's SqlStore. The story
    starts in November 2023, or ``shift`` seconds later."""
    pair = make_pair()
    pair.hop = 0.002
    ap1, ap2 = "AA-BB-CC-00-00-01:Corp", "AA-BB-CC-00-00-02:Corp"
    pair.attach("mag1", ap="aa:bb:cc:00:00:01", ssid="Corp")
    pair.now = pair.now.after(30)
    pair.attach("mag2", ap="aa:bb:cc:00:00:02", ssid="Corp")
    pair.now = pair.now.after(30)
    pair.attach("mag2", mac=BOB_MAC, mn_id=BOB, ap="aa:bb:cc:00:00:02", ssid="Corp")
    pair.now = pair.now.after(3600)  # the next hour
    pair.attach("mag1", ap="aa:bb:cc:00:00:01", ssid="Corp")
    audits: dict[str, list[RecordAudit]] = {"lma": [], "mag1": [], "mag2": []}
    for who, action in pair.log:
        if type(action) is RecordAudit:
            audits[who].append(action)
    # Outside the cores: what the MAG service records for RADIUS accounting.
    t = pair.now.utc
    audits["mag1"] += [
        RecordAudit(kind="accounting", utc=t, mn_id=ALICE, peer="hostapd-1",
                    fields={"status": 1, "session_id": "S1", "mac": MN_MAC,
                            "called_station_id": ap1}),
        RecordAudit(kind="accounting_duplicate", utc=t, mn_id=ALICE, peer="hostapd-1",
                    fields={"status": 1, "session_id": "S1", "called_station_id": ap1}),
        RecordAudit(kind="accounting_rejected", utc=t, peer="192.0.2.66",
                    fields={"reason": "bad_authenticator", "detail": "Request Authenticator"}),
        RecordAudit(kind="accounting_rejected", utc=t + 1, peer="192.0.2.66",
                    fields={"reason": "bad_authenticator", "detail": "Request Authenticator"}),
        RecordAudit(kind="station_rejected", utc=t, peer="mag1",
                    fields={"mac": "02:00:00:00:00:66", "reason": "anonymous_identity"}),
        *(RecordAudit(kind="station_rejected", utc=t + i, peer="mag1", mn_id=b"mallory@example.org",
                      fields={"mac": MN_MAC, "reason": "stop_not_of_session", "nas": "wlc-2",
                              "detail": "Stop names another identity"})
          for i in range(3)),
        RecordAudit(kind="station_rejected", utc=t, peer="mag1", mn_id=b"02-00-00-00-00-77",
                    fields={"mac": "02:00:00:00:00:77", "reason": "mac_authentication_bypass",
                            "nas": "wlc-1"}),
    ]  # fmt: skip
    if shift:  # a later story: its accounting sessions are other sessions
        audits = {node: [dataclasses.replace(r, utc=r.utc + shift, fields=later(r.fields, shift))
                         for r in records]
                  for node, records in audits.items()}  # fmt: skip
    engine = make_engine(url)
    for node, records in audits.items():
        store = SqlStore(engine, "lma1" if node == "lma" else node, lma=node == "lma")
        store.submit(audit=records).result(30)
        store.close()
    return {"engine": engine, "audits": audits}


@pytest.fixture
def reports(database_url: str) -> Any:  # noqa: F811
    filled = fill(database_url)
    made = Reports(filled["engine"])
    made.submitted = sum(len(v) for v in filled["audits"].values())  # type: ignore[attr-defined]
    yield made
    filled["engine"].dispose()


def test_trail_follows_the_node_with_a_stable_prefix(reports: Reports) -> None:
    (table,) = reports.trail("alice@example.org")
    rows = [dict(zip(table.columns, r, strict=True)) for r in table.rows]
    assert [(r["mag"], r["ap"], r["ssid"]) for r in rows] == [
        ("mag1", "aa:bb:cc:00:00:01", "Corp"),
        ("mag2", "aa:bb:cc:00:00:02", "Corp"),
        ("mag1", "aa:bb:cc:00:00:01", "Corp"),
    ]
    assert len({r["prefix"] for r in rows}) == 1 and rows[0]["prefix"].startswith("2001:db8:1000")
    assert rows[0]["until"] == rows[1]["from"] and rows[1]["until"] == rows[2]["from"]
    # The LMA revoked the old binding (RFC 5846) as it moved it: that ends the first stay.
    assert rows[0]["ended_by"] == "revoked at mag1" and rows[2]["until"] is None
    assert rows[0]["from"] < rows[1]["from"] < rows[2]["from"]
    assert reports.trail("nobody@example.org")[0].rows == []


def test_handover_report_counts_pairs_hours_and_latency_at_both_ends(reports: Reports) -> None:
    overall, by_pair, by_hour, by_mag = reports.handovers()
    row = dict(zip(overall.columns, overall.rows[0], strict=True))
    assert row["handovers"] == 2  # Bob's first attachment is not a handover
    # event -> PBU (same instant) -> LMA (2 ms) -> PBA back (2 ms): 4 ms at the new MAG, for
    # all four registrations.
    assert row["registration_p50_ms"] == pytest.approx(4.0)
    assert row["registration_max_ms"] == pytest.approx(4.0)
    assert row["pbu_to_pba_p50_ms"] == pytest.approx(4.0)
    assert row["route_switch_p50_ms"] is None  # the core alone records no route switch time
    assert [(r[0], r[1], r[2]) for r in by_pair.rows] == [("mag1", "mag2", 1), ("mag2", "mag1", 1)]
    assert len(by_hour.rows) == 2 and sum(r[1] for r in by_hour.rows) == 2
    assert [(r[0], r[1], r[2]) for r in by_mag.rows] == [("mag1", 2, 4.0), ("mag2", 2, 4.0)]


def test_histogram_percentiles_are_nearest_rank_over_tenth_ms_buckets() -> None:
    from netlmm_aaa.reports.queries import Histogram

    h = Histogram()
    for value in [1.04, 2.0, 2.0, 3.26, 9.9, None]:
        h.add(None if value is None else int(value * 10 + 0.5), 1, value)
    assert h.count == 6
    assert (h.percentile(0.5), h.percentile(0.9), h.percentile(0.99)) == (2.0, 9.9, 9.9)
    assert h.percentile(0.2) == 1.0 and h.summary()[4] == 9.9
    merged = Histogram.merged([h, h])
    assert merged.count == 12 and merged.percentile(0.5) == 2.0
    assert Histogram().percentile(0.5) is None


def test_time_window_selects(reports: Reports) -> None:
    first = reports.trail("alice@example.org")[0].rows[0][6]
    reports.window = Window(since=parse_when(first) + __import__("datetime").timedelta(seconds=1))
    overall = reports.handovers()[0]
    assert overall.rows[0][0] == 2  # both handovers are after the first registration
    reports.window = Window(until=parse_when(first))
    assert reports.handovers()[0].rows[0][0] == 0
    assert reports.trail("alice@example.org")[0].rows == []


def test_aps_counts_attachments_moves_and_nodes(reports: Reports) -> None:
    (table,) = reports.aps()
    rows = {(r[0], r[1]): dict(zip(table.columns, r, strict=True)) for r in table.rows}
    ap1 = rows[("mag1", "aa:bb:cc:00:00:01")]
    ap2 = rows[("mag2", "aa:bb:cc:00:00:02")]
    assert (ap1["attachments"], ap1["handovers_in"], ap1["handovers_out"]) == (2, 1, 1)
    assert (ap2["attachments"], ap2["handovers_in"], ap2["handovers_out"]) == (2, 1, 1)
    assert (ap1["mobile_nodes"], ap2["mobile_nodes"]) == (1, 2)


def test_security_groups_rejections_by_reason_and_origin(reports: Reports) -> None:
    rejected, duplicates, by_reason, by_identity, backlog = reports.security()
    assert backlog.rows == []  # nothing spooled for an upstream
    rows = {(r[0], r[1], r[2]): r[3] for r in rejected.rows}
    assert rows[("accounting", "bad_authenticator", "192.0.2.66")] == 2
    assert rows[("station", "anonymous_identity", "02:00:00:00:00:66")] == 1
    assert duplicates.rows == [("hostapd-1", 1)]
    # Station refusals (issue 22): by reason and NAS, and the identities refused most.
    reasons = {(r[0], r[1]): r[2:5] for r in by_reason.rows}
    assert reasons[("stop_not_of_session", "wlc-2")] == (3, 1, 1)
    assert reasons[("mac_authentication_bypass", "wlc-1")] == (1, 1, 1)
    assert reasons[("anonymous_identity", "-")] == (1, 0, 1)
    assert by_reason.rows[0][:2] == ("stop_not_of_session", "wlc-2")  # the most first
    assert by_identity.rows[0][:5] == ("mallory@example.org", 3, 1, 1, 1)


def test_signaling_counts_network_messages_and_no_mobile_node_messages(
    reports: Reports,
) -> None:
    summary, messages = reports.signaling()
    handovers, total, per, from_mns = summary.rows[0]
    assert handovers == 2 and from_mns == 0
    counts = {(r[0], r[1], r[2]): r[3] for r in messages.rows}
    # 4 registrations in all, each a PBU sent by a MAG and received by the LMA.
    assert sum(v for (n, m, d), v in counts.items() if m == "PBU" and d == "sent") == 4
    assert counts[("lma1", "PBU", "received")] == 4
    assert total == sum(counts.values()) and per == pytest.approx(total / 2)


def test_output_formats_agree(reports: Reports) -> None:
    tables = reports.handovers()
    as_json = json.loads(render(tables, "json"))
    assert as_json["Handovers"][0]["handovers"] == 2
    pairs = as_json["Handovers per MAG pair (route switch at the LMA, 1 ms resolution)"]
    assert pairs[0]["from_mag"] == "mag1"
    lines = render(tables, "csv").splitlines()
    assert lines[0] == "# Handovers"
    parsed = list(csv.reader(io.StringIO("\n".join(lines[1:3]))))
    assert parsed[0][0] == "handovers" and parsed[1][0] == "2"
    text = render(tables, "table")
    assert text.splitlines()[0] == "Handovers" and "mag1" in text and "(none)" not in text


def test_documented_views_agree_with_the_reports(reports: Reports) -> None:
    with reports.engine.connect() as c:
        trail = c.exec_driver_sql(
            "SELECT mag, ap, since, until FROM location_trail"
            " WHERE mn_id = 'alice@example.org' ORDER BY since"
        ).all()
        timings = c.exec_driver_sql(
            "SELECT from_mag, to_mag, event_to_pbu_ms, pbu_to_pba_ms, total_ms"
            " FROM handover_timings ORDER BY at"
        ).all()
        load = c.exec_driver_sql(
            "SELECT mag, ap, registrations, mobile_nodes FROM ap_load ORDER BY mag"
        ).all()
        moves = c.exec_driver_sql(
            "SELECT from_mag, to_mag FROM ap_transitions WHERE mn_id = 'alice@example.org'"
            " ORDER BY at"
        ).all()
        rejected = c.exec_driver_sql("SELECT COUNT(*) FROM rejections").scalar()
        everything = c.exec_driver_sql("SELECT COUNT(*) FROM audit_trail").scalar()
    report = reports.trail("alice@example.org")[0].rows
    assert [(r[0], r[1]) for r in trail] == [(r[0], r[1]) for r in report]
    assert trail[0][3] is not None and trail[2][3] is None  # the last stay is still open
    assert [t[:2] for t in timings] == [("mag1", "mag2"), ("mag2", "mag1")]
    assert all(t[4] == pytest.approx(4.0) and t[3] == pytest.approx(4.0) for t in timings)
    assert [(m, a, r, n) for m, a, r, n in load] == [
        ("mag1", "aa:bb:cc:00:00:01", 2, 1),
        ("mag2", "aa:bb:cc:00:00:02", 2, 2),
    ]
    assert [tuple(m) for m in moves] == [("mag1", "mag2"), ("mag2", "mag1")]
    assert rejected == 7  # 2 accounting rows, 5 station refusals
    assert everything == reports.submitted  # type: ignore[attr-defined]  # nothing lost


def test_trail_and_location_trail_use_the_partial_per_node_index(reports: Reports) -> None:
    """``ix_station_events_mn_id_at`` holds the trail's events only (migration 0006): the
    trail report and the ``until`` look-up of ``location_trail`` must still be served by it,
    not by a scan of every station event."""
    from netlmm_aaa.persistence.models import TRAIL_EVENTS_SQL

    trail = (
        "SELECT at FROM station_events WHERE mn_id = 'alice@example.org'"
        f" AND {TRAIL_EVENTS_SQL} ORDER BY at, id"
    )
    view = "SELECT since, until FROM location_trail WHERE mn_id = 'alice@example.org'"
    with reports.engine.connect() as c:
        if reports.engine.dialect.name == "sqlite":
            plans = [
                " | ".join(str(r[-1]) for r in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {q}"))
                for q in (trail, view)
            ]
        else:  # a few rows: forbid the scans so that the plan shows whether the index applies
            c.exec_driver_sql("SET enable_seqscan = off")
            c.exec_driver_sql("SET enable_bitmapscan = off")
            plans = [
                " | ".join(str(r[0]) for r in c.exec_driver_sql(f"EXPLAIN {q}"))
                for q in (trail, view)
            ]
        rows = c.exec_driver_sql(
            "SELECT COUNT(*), SUM(CASE WHEN event = 'attached' THEN 1 ELSE 0 END)"
            " FROM station_events WHERE mn_id = 'alice@example.org'"
        ).one()
    assert all("ix_station_events_mn_id_at" in plan for plan in plans), plans
    assert rows[1] > 0  # attachments are stored (in the table), just not in that index
    assert len(reports.trail("alice@example.org")[0].rows) == 3


def test_security_reads_the_refusals_through_their_partial_indexes(reports: Reports) -> None:
    """Migration 0013: the security report's looks at refused stations and refused PBUs (its
    own query and the ``rejections`` view's branches) go through the partial indexes of those
    rows, not a scan of every station event or signaling row; its answers are unchanged."""
    from netlmm_aaa.persistence.models import REFUSED_STATION_SQL

    queries = [
        f"SELECT COUNT(*) FROM station_events WHERE {REFUSED_STATION_SQL}"
        " AND event IN ('rejected', 'conflict') AND at >= '2000-01-01'",
        "SELECT source, COUNT(*) FROM rejections GROUP BY source",
    ]
    with reports.engine.connect() as c:
        if reports.engine.dialect.name == "sqlite":
            plans = [
                " | ".join(str(r[-1]) for r in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {q}"))
                for q in queries
            ]
        else:  # a few rows: forbid the scans so that the plan shows whether the index applies
            c.exec_driver_sql("SET enable_seqscan = off")
            plans = [
                " | ".join(str(r[0]) for r in c.exec_driver_sql(f"EXPLAIN {q}")) for q in queries
            ]
    assert "ix_station_events_refused" in plans[0], plans[0]
    assert "ix_station_events_refused" in plans[1], plans[1]
    assert "ix_signaling_rejected_pbu" in plans[1], plans[1]
    rejected = reports.security()[0].rows
    assert sum(r[3] for r in rejected if r[0] == "station") == 5  # anonymous, 3 Stops, MAB


def test_handover_timings_uses_the_partial_sequence_index(reports: Reports) -> None:
    """``ix_signaling_node_sequence`` holds the MAGs' answered PBUs only (migration 0007): the
    join of ``handover_timings`` must still find them through it, and the index must not
    hold the other signaling rows (which are stored all the same)."""
    from netlmm_aaa.persistence.models import MAG_PBU_SQL

    query = "SELECT pbu_to_pba_ms FROM handover_timings WHERE mn_id = 'alice@example.org'"
    with reports.engine.connect() as c:
        if reports.engine.dialect.name == "sqlite":
            plan = " | ".join(
                str(r[-1]) for r in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}")
            )
            condition = c.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_signaling_node_sequence'"
            ).scalar()
        else:
            c.exec_driver_sql("SET enable_seqscan = off")
            c.exec_driver_sql("SET enable_bitmapscan = off")
            plan = " | ".join(str(r[0]) for r in c.exec_driver_sql(f"EXPLAIN {query}"))
            condition = c.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_signaling_node_sequence'"
            ).scalar()
        others = c.exec_driver_sql(
            f"SELECT COUNT(*) FROM signaling WHERE NOT ({MAG_PBU_SQL})"
        ).scalar()
        timings = [t[0] for t in c.exec_driver_sql(query).all()]
    assert "ix_signaling_node_sequence" in plan, plan
    assert "PBU" in str(condition) and "sent" in str(condition), condition
    assert others > 0  # the LMA's received PBUs are stored (in the table), not in that index
    assert timings and all(t == pytest.approx(4.0) for t in timings)


class _RawOnly(Reports):
    """The same reports computed from the rows alone (no hourly rollup)."""

    def _pieces(self, unit: Any) -> tuple[None, list[tuple[Any, Any]]]:  # type: ignore[override]
        return None, [(self.window.since, self.window.until)]


def test_hourly_rollup_gives_the_same_answers_as_the_rows(reports: Reports) -> None:
    from datetime import timedelta

    raw = _RawOnly(reports.engine)
    first = parse_when(reports.trail("alice@example.org")[0].rows[0][6])
    windows = [
        Window(),
        Window(since=first - timedelta(minutes=5)),
        Window(until=first + timedelta(minutes=20)),
        Window(since=first + timedelta(seconds=1), until=first + timedelta(hours=2)),
        Window(since=first + timedelta(minutes=59), until=first + timedelta(minutes=61)),
        Window(since=first - timedelta(days=2), until=first + timedelta(days=1, hours=3)),
    ]
    for window in windows:
        reports.window = raw.window = window
        assert reports.handovers() == raw.handovers(), window
        assert reports.signaling() == raw.signaling(), window
    with reports.engine.connect() as c:
        metrics = {r[0] for r in c.exec_driver_sql("SELECT DISTINCT metric FROM report_rollup")}
    assert metrics == {"route_switch", "pair", "registration", "pbu_rtt", "signaling"}
