"""The SQL store: bindings round-trip, group commits, deletes, audit rows, restart counter."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from netlmm_aaa.core.actions import BindingSnapshot, RecordAudit
from netlmm_aaa.core.events import Transport
from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.models import AuditEvent, SignalingRecord
from netlmm_aaa.persistence.row_writer import PeriodicCollection
from netlmm_aaa.persistence.sql_text import MULTI_ROWS
from netlmm_aaa.persistence.store import SqlStore
from tests.databases import database_url, postgresql_server  # noqa: F401


def _binding(n: int, **changes: object) -> BindingSnapshot:
    base = BindingSnapshot(
        mn_id=f"user{n}@example.org".encode(),
        home_network_prefixes=(f"2001:db8:1:{n:x}::/64",),
        ipv4_home_address=f"203.0.113.{n % 250 + 2}",
        mag="mag1",
        proxy_coa="2001:db8:ff::11",
        signalling_address="2001:db8:ff::11",
        transport=Transport.IPV6,
        link_layer_identifier=bytes.fromhex("020000000101"),
        access_technology=4,
        lifetime=3600,
        registered_utc=1_700_000_000.25,
        refreshed_utc=1_700_000_100.5,
        last_handover_utc=None,
        last_sequence=n,
        last_timestamp=111411200032768,
        gre_key_downlink=None,
        gre_key_uplink=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_bindings_round_trip_and_latest_write_wins(database_url: str, process: bool) -> None:  # noqa: F811
    engine = make_engine(database_url)
    store = SqlStore(engine, "lma1", process=process)
    try:
        first = [_binding(n) for n in range(50)]
        store.submit(store=first)
        moved = _binding(
            3, mag="mag2", proxy_coa="2001:db8:ff::12", last_handover_utc=1_700_000_200.0
        )
        held = _binding(4, deregistered=True)
        store.submit(store=[moved, held], delete=[_binding(5).mn_id])
        store.submit(store=[_binding(6)], delete=[_binding(6).mn_id])  # delete after store: gone
        store.flush()
        loaded = {b.mn_id: b for b in store.load_bindings()}
        assert len(loaded) == 48
        assert loaded[moved.mn_id] == moved
        assert loaded[held.mn_id] == held
        assert loaded[first[0].mn_id] == first[0]
        assert _binding(5).mn_id not in loaded
        # Another LMA sharing the database sees none of them.
        assert SqlStore(engine, "lma2").load_bindings() == []
    finally:
        store.close()
        engine.dispose()


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_audit_records_are_appended(database_url: str, process: bool) -> None:  # noqa: F811
    engine = make_engine(database_url)
    store = SqlStore(engine, "lma1", process=process)
    try:
        records = [
            RecordAudit(kind="pbu" if i % 2 else "peer_reachable", utc=1_700_000_000 + i,
                        mn_id=b"alice@example.org", peer="mag1",
                        fields={"status": 0, "sequence": i, "handoff_indicator": 1})
            for i in range(1000)
        ]  # fmt: skip
        futures = [store.submit(audit=records[i : i + 100]) for i in range(0, 1000, 100)]
        for f in futures:
            f.result(30)
        with engine.connect() as c:
            # Report kinds land in their typed table, the others in audit_events.
            assert c.execute(select(func.count()).select_from(AuditEvent)).scalar() == 500
            row = c.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
            assert (row.kind, row.mn_id, row.peer, row.details["sequence"]) == (
                "peer_reachable",
                "alice@example.org",
                "mag1",
                998,
            )
            assert c.execute(select(func.count()).select_from(SignalingRecord)).scalar() == 500
            pbu = c.execute(
                select(SignalingRecord).order_by(SignalingRecord.id.desc()).limit(1)
            ).one()
            assert (pbu.node, pbu.peer, pbu.message, pbu.direction, pbu.sequence) == (
                "lma1", "mag1", "PBU", "received", 999,
            )  # fmt: skip
            assert (pbu.status, pbu.handoff_indicator, pbu.mn_id) == (0, 1, "alice@example.org")
            trail = c.exec_driver_sql("SELECT COUNT(*) FROM audit_trail").scalar()
            assert trail == 1000  # nothing lost between the tables
        assert store.commits <= 10  # group commit: never more transactions than submissions
    finally:
        store.close()
        engine.dispose()


def test_rows_with_nulls_in_different_places_keep_every_value(database_url: str) -> None:  # noqa: F811
    """Rows are written grouped by where their NULLs are (SQLite): interleaved shapes, more rows
    than one multi-row statement takes, and remainders all come back value for value."""
    engine = make_engine(database_url)
    store = SqlStore(engine, "mag1")
    shapes = [
        {"mac": "02:00:00:00:00:01", "interface": "acc0", "ap": "02:aa:00:00:00:01",
         "ssid": "Corp", "prefixes": ["2001:db8::/64"], "ipv4": "10.0.0.1"},
        {"mac": "02:00:00:00:00:02", "interface": "acc1"},
        {"mac": None, "ssid": "Guest", "reason": "not authorized"},
        {},
    ]  # fmt: skip
    # 16 shapes (ssid/mac/interface, mn_id, ap): several full statements and a remainder each
    count = 20 * MULTI_ROWS + 7
    records = [
        RecordAudit(kind="station_attached", utc=1_700_000_000 + i / 1000,
                    mn_id=None if i % 7 == 0 else f"user{i}@example.org".encode(), peer="mag1",
                    fields={**shapes[i % len(shapes)], "interface": shapes[i % 4].get(
                        "interface"), "ap": None if i % 3 else f"ap-{i}"})
        for i in range(count)
    ]  # fmt: skip
    try:
        store.submit(audit=records).result(30)
        with engine.connect() as c:
            rows = c.exec_driver_sql(
                "SELECT mn_id, mac, interface, ap, ssid, prefixes, ipv4_home_address, reason"
                " FROM station_events ORDER BY at"
            ).all()
        assert len(rows) == count
        for i, row in enumerate(rows):
            f = records[i].fields
            expected = (
                None if i % 7 == 0 else f"user{i}@example.org", f.get("mac"), f.get("interface"),
                f.get("ap"), f.get("ssid"), ",".join(f["prefixes"]) if "prefixes" in f else None,
                f.get("ipv4"), f.get("reason"),
            )  # fmt: skip
            assert tuple(row) == expected, i
    finally:
        store.close()
        engine.dispose()


def test_rollup_accumulates_over_commits_in_multi_row_upserts(database_url: str) -> None:  # noqa: F811
    """More distinct rollup keys than one upsert statement holds, written twice in separate
    commits: every key's count, sum and maximum add up (SQLite: multi-row upserts)."""
    engine = make_engine(database_url)
    store = SqlStore(engine, "lma1", lma=True)
    pairs = 2 * MULTI_ROWS + 5  # one rollup key per MAG pair (and 1 ms bucket)
    records = [
        RecordAudit(kind="handover", utc=1_700_000_000 + i / 1000, mn_id=b"mn@example.org",
                    peer=f"to{i}", fields={"from_mag": f"from{i}", "to_mag": f"to{i}",
                                           "route_switch_ms": 1.0 if i % 2 else None})
        for i in range(pairs)
    ]  # fmt: skip
    try:
        store.submit(audit=records).result(30)
        store.submit(audit=[replace(r, utc=r.utc + 1) for r in records]).result(30)
        with engine.connect() as c:
            rows = c.exec_driver_sql(
                "SELECT key1, n, total, maximum FROM report_rollup WHERE metric = 'pair'"
            ).all()
            handovers = c.exec_driver_sql("SELECT COUNT(*) FROM handovers").scalar()
        assert handovers == 2 * pairs
        assert len(rows) == pairs
        for key1, n, total, maximum in rows:
            odd = int(key1[4:]) % 2
            assert (n, total, maximum) == ((2, 2.0, 1.0) if odd else (2, 0.0, None)), key1
    finally:
        store.close()
        engine.dispose()


def test_restart_counter_is_persisted_and_incremented(database_url: str) -> None:  # noqa: F811
    engine = make_engine(database_url)
    store = SqlStore(engine, "lma1")
    try:
        assert store.bump_restart_counter() == 1
        assert store.bump_restart_counter() == 2
        assert SqlStore(engine, "other").bump_restart_counter() == 1
    finally:
        store.close()
        engine.dispose()


def test_a_clean_restart_keeps_the_counter_an_unclean_one_increments_it(
    database_url: str,  # noqa: F811
) -> None:
    """Issue 23 (4), RFC 5847 §3.2: only a restart that may have lost state is announced."""
    engine = make_engine(database_url)
    store = SqlStore(engine, "lma1")
    try:
        assert store.start_counter() == (1, False)  # first start: nothing to restore
        store.mark_clean_shutdown()
        assert store.start_counter() == (1, True)  # clean: same counter, no announcement
        assert store.start_counter() == (2, False)  # killed without the mark: incremented
        store.mark_clean_shutdown()
        assert SqlStore(engine, "other").start_counter() == (1, False)  # per node
        assert store.start_counter() == (2, True)
    finally:
        store.close()
        engine.dispose()


def test_policy_profiles_from_sql(database_url: str) -> None:  # noqa: F811
    from sqlalchemy import insert

    from netlmm_aaa.persistence.models import MobileNodePolicyRow

    engine = make_engine(database_url)
    with engine.begin() as c:
        c.execute(
            insert(MobileNodePolicyRow),
            [
                {"mn_id": "alice@example.org", "lma": None, "home_network_prefix": "2001:db8:1:1::/64",
                 "ipv4_home_address": "203.0.113.10", "proxy_mobility": True, "ipv4_service": True,
                 "ipv6_service": True, "allowed_mags": "mag1, mag2"},
                {"mn_id": "bob@example.org", "lma": "lma1", "home_network_prefix": None,
                 "ipv4_home_address": None, "proxy_mobility": False, "ipv4_service": False,
                 "ipv6_service": True, "allowed_mags": None},
                {"mn_id": "carol@example.org", "lma": "lma2", "home_network_prefix": None,
                 "ipv4_home_address": None, "proxy_mobility": True, "ipv4_service": True,
                 "ipv6_service": True, "allowed_mags": None},
            ],
        )  # fmt: skip
    store = SqlStore(engine, "lma1")
    try:
        policies = {p.mn_id: p for p in store.load_policies()}
        assert set(policies) == {b"alice@example.org", b"bob@example.org"}  # not lma2's carol
        alice = policies[b"alice@example.org"]
        assert alice.home_network_prefix == "2001:db8:1:1::/64"
        assert alice.allowed_mags == frozenset({"mag1", "mag2"})
        assert policies[b"bob@example.org"].proxy_mobility is False
        assert policies[b"bob@example.org"].allowed_mags is None
    finally:
        store.close()
        engine.dispose()


@pytest.mark.hardening
def test_a_dead_writer_process_is_restarted_and_nothing_is_lost(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The store's writer process killed (kill -9) with and without batches in flight: every
    submission still completes, and nothing submitted is missing afterwards."""
    import os
    import signal

    from netlmm_aaa.persistence import migrate

    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    store = SqlStore(engine, "mag1", process=True)

    def batch(tag: str, n: int) -> list[RecordAudit]:
        return [RecordAudit(kind="writer_test", utc=1_790_000_000 + i, peer=tag,
                            fields={"i": i}) for i in range(n)]  # fmt: skip

    def count(tag: str) -> int:
        with engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.peer == tag)).scalar() or 0)  # fmt: skip

    try:
        store.submit(audit=batch("before", 500)).result(30)
        os.kill(store._process.pid, signal.SIGKILL)  # idle: nothing in flight
        store._process.join(10)
        futures = [store.submit(audit=batch(f"after{k}", 200)) for k in range(5)]
        for f in futures:
            f.result(30)
        assert store.writer_restarts == 1
        assert [count(f"after{k}") for k in range(5)] == [200] * 5  # exactly once
        # Killed with batches in flight: at least once, and every future completes.
        futures = [store.submit(audit=batch(f"busy{k}", 2000)) for k in range(10)]
        os.kill(store._process.pid, signal.SIGKILL)
        for f in futures:
            f.result(60)
        assert store.writer_restarts == 2
        assert store._restart_delay > 0  # died again within 5 s: restarted after a pause
        assert all(count(f"busy{k}") >= 2000 for k in range(10))
        assert count("before") == 500
    finally:
        store.close()
        engine.dispose()


@pytest.mark.hardening
def test_disk_full_keeps_the_records_and_commits_them_once_when_space_returns(
    tmp_path, caplog  # type: ignore[no-untyped-def]
) -> None:
    """D2: SQLite "database or disk is full" (PRAGMA max_page_count): a clear error, no partial
    rows, the submission waits (its Accounting-Response with it); once space returns it is
    committed exactly once."""
    import logging

    from sqlalchemy import event

    from netlmm_aaa.persistence import migrate

    url = f"sqlite:///{tmp_path / 'full.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    limit = [0]  # 0: no limit

    @event.listens_for(engine, "begin")
    def _cap(connection) -> None:  # type: ignore[no-untyped-def]
        if limit[0]:
            connection.exec_driver_sql(f"PRAGMA max_page_count = {limit[0]}")
        else:
            connection.exec_driver_sql("PRAGMA max_page_count = 1073741823")

    store = SqlStore(engine, "mag1", checkpoints=False)

    def rows() -> int:
        with engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(AuditEvent)).scalar() or 0)

    try:
        store.submit(audit=[RecordAudit(kind="disk_test", utc=1_790_000_000)]).result(30)
        with engine.connect() as c:
            limit[0] = int(c.exec_driver_sql("PRAGMA page_count").scalar() or 0)
        big = [RecordAudit(kind="disk_test", utc=1_790_000_001 + i, fields={"pad": "x" * 200})
               for i in range(2000)]  # fmt: skip
        with caplog.at_level(logging.ERROR, logger="netlmm_aaa.persistence.row_writer"):
            pending = store.submit(audit=big)
            assert not _done_within(pending, 1.5)  # not acknowledged while the disk is full
            assert store.failures >= 1
            assert any("database or disk is full" in r.getMessage() for r in caplog.records)
        assert rows() == 1  # nothing partial
        limit[0] = 0
        pending.result(30)
        assert rows() == 2001  # all of it, once
    finally:
        limit[0] = 0
        store.close()
        engine.dispose()


def _done_within(future, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    import concurrent.futures

    try:
        future.result(seconds)
        return True
    except concurrent.futures.TimeoutError:
        return False


def test_the_writer_collects_garbage_on_a_clock_not_per_allocation() -> None:
    calls: list[int] = []
    collect = PeriodicCollection(lambda: calls.append(1), 60.0)
    assert not collect(1000.0)  # the first batch starts the clock
    assert not collect(1059.9)
    assert collect(1060.0) and len(calls) == 1
    assert not collect(1061.0)  # not again before another interval has passed
    assert collect(1200.0) and len(calls) == 2
    assert not collect(1259.0)


@pytest.mark.postgresql
def test_postgresql_binary_copy_keeps_every_value_and_refuses_what_does_not_fit(
    postgresql_server: str,  # noqa: F811
) -> None:
    """PostgreSQL rows go as binary COPY: timestamps to the microsecond, floats, integers,
    NULLs, non-ASCII text and JSON details come back exactly. A row the binary form cannot
    carry is refused whole, never written with a wrong value (the binary int4 dumper would keep
    the low 32 bits of a larger integer), and its table falls back to text COPY."""
    from netlmm_aaa.persistence import migrate
    from netlmm_aaa.persistence.postgres_copy import BinaryCopyRefused
    from netlmm_aaa.persistence.row_writer import RowWriter
    from tests.databases import fresh_postgresql_database

    url = fresh_postgresql_database(postgresql_server)
    migrate.upgrade(url)
    engine = make_engine(url)
    writer = RowWriter(engine, "mag1")
    at = 1_700_000_000.123457
    records = [
        RecordAudit(kind="pba", utc=at, mn_id="zoë@example.org".encode(), peer="lma1",
                    fields={"status": 0, "sequence": 65535, "handoff_indicator": 2,
                            "lifetime": 3600, "rtt_ms": 0.4375, "event_to_ack_ms": 1.5}),
        RecordAudit(kind="pba", utc=at + 1, mn_id=None, peer="lma1",
                    fields={"status": 130, "sequence": 7, "reason": "tab\there"}),
        RecordAudit(kind="something_else", utc=at + 2, peer="x",
                    fields={"note": "ünïcode", "n": [1, 2]}),
    ]  # fmt: skip
    try:
        writer.commit_with_retry(writer.prepare([
            ("a", r.utc, r.kind, r.mn_id, r.peer, r.fields) for r in records
        ]))  # fmt: skip
        assert writer.text_copy == set()  # all of it went binary
        with engine.connect() as c:
            rows = c.exec_driver_sql(
                "SELECT EXTRACT(EPOCH FROM at), mn_id, sequence, status, handoff_indicator,"
                " lifetime, rtt_ms, event_to_ack_ms, reason FROM signaling ORDER BY at"
            ).all()
            details = c.exec_driver_sql("SELECT kind, details FROM audit_events").all()
        assert float(rows[0][0]) == pytest.approx(at, abs=1e-6)
        assert tuple(rows[0][1:]) == ("zoë@example.org", 65535, 0, 2, 3600, 0.4375, 1.5, None)
        assert tuple(rows[1][1:4]) == (None, 7, 130) and rows[1][8] == "tab\there"
        assert [tuple(d) for d in details] == [("something_else", {"note": "ünïcode", "n": [1, 2]})]

        # An integer beyond int4: refused before anything is sent, nothing written.
        huge = [("a", at + 3, "pba", b"big@example.org", "lma1", {"sequence": 2**32 + 5})]
        with pytest.raises(BinaryCopyRefused, match="sequence"):
            writer.commit(writer.prepare(huge))
        assert writer.text_copy == {"signaling"}
        # A value of another type than its column's: the retry writes it as text COPY, which
        # the server converts ("7" into an integer column), so nothing is lost.
        writer.text_copy.clear()
        odd = [("a", at + 4, "pba", b"odd@example.org", "lma1", {"sequence": "7"})]
        writer.commit_with_retry(writer.prepare(odd))
        assert writer.text_copy == {"signaling"}
        with engine.connect() as c:
            kept = c.exec_driver_sql("SELECT mn_id, sequence FROM signaling ORDER BY at").all()
        assert [tuple(k) for k in kept] == [
            ("zoë@example.org", 65535), (None, 7), ("odd@example.org", 7)
        ]  # fmt: skip
    finally:
        engine.dispose()


def test_the_writing_node_is_stored_in_every_table_even_with_a_quote(database_url: str) -> None:  # noqa: F811
    """On SQLite the node and the names of events go into the statements as literals (not
    bound values): a name with a quote is escaped, and every table's row gets the node in its
    ``node`` column and its event's name in the right column."""
    from netlmm_aaa.persistence.report_rows import AUDIT_COLUMNS, NODE_COLUMN, TABLE_COLUMNS
    from netlmm_aaa.persistence.sql_text import LITERAL_COLUMNS

    assert AUDIT_COLUMNS[NODE_COLUMN] == "node"
    assert all(columns[NODE_COLUMN] == "node" for columns in TABLE_COLUMNS.values())
    literal_names = {
        table: [(TABLE_COLUMNS.get(table) or AUDIT_COLUMNS)[i] for i in index]
        for table, index in LITERAL_COLUMNS.items()
    }
    assert literal_names == {
        "audit_events": ["node", "kind"], "accounting_records": ["node", "outcome"],
        "station_events": ["node", "event"], "signaling": ["node", "message", "direction"],
        "binding_changes": ["node", "change"], "handovers": ["node"],
    }  # fmt: skip
    engine = make_engine(database_url)
    node = "o'mag; --"
    store = SqlStore(engine, node)
    t = 1_700_000_000.0
    records = [
        RecordAudit(kind="accounting", utc=t, mn_id=b"a@example.org", peer="nas1",
                    fields={"status": 1, "session_id": "S1"}),
        RecordAudit(kind="station_attached", utc=t + 1, mn_id=b"a@example.org",
                    fields={"mac": "02:00:00:00:00:01"}),
        RecordAudit(kind="pba", utc=t + 2, mn_id=b"a@example.org", peer="lma1",
                    fields={"status": 0, "sequence": 1}),
        RecordAudit(kind="binding_created", utc=t + 3, mn_id=b"a@example.org", peer="mag1"),
        RecordAudit(kind="handover", utc=t + 4, mn_id=b"a@example.org", peer="mag2",
                    fields={"from_mag": "mag1", "to_mag": "mag2", "route_switch_ms": 0.5}),
        RecordAudit(kind="something_else", utc=t + 5, peer="x", fields={"n": 1}),
        RecordAudit(kind="it's odd", utc=t + 6, peer="x", fields={"n": 2}),
        RecordAudit(kind="accounting_rejected", utc=t + 7, peer="nas1",
                    fields={"reason": "bad authenticator"}),
    ]  # fmt: skip
    try:
        store.submit(audit=records).result(30)
        with engine.connect() as c:
            nodes = {
                table: c.exec_driver_sql(f"SELECT DISTINCT node FROM {table}").scalars().all()
                for table in (*TABLE_COLUMNS, "audit_events")
            }
            names = {
                table: [
                    tuple(r)
                    for r in c.exec_driver_sql(
                        f"SELECT {', '.join(columns[1:])} FROM {table} ORDER BY at"
                    ).all()
                ]
                for table, columns in literal_names.items()
                if len(columns) > 1
            }
        assert nodes == {table: [node] for table in nodes}
        assert names == {
            "audit_events": [("something_else",), ("it's odd",)],
            "accounting_records": [("accepted",), ("rejected",)],
            "station_events": [("attached",)],
            "signaling": [("PBU", "sent")],
            "binding_changes": [("created",)],
        }
    finally:
        store.close()
        engine.dispose()


@pytest.mark.hardening
def test_sqlite_commits_are_on_disk_before_they_return(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 22 (6): an acknowledged record must survive a power loss: WAL with
    synchronous=FULL (2) on every connection the store opens, not NORMAL (1)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'durable.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        engine.dispose()


def test_recent_stops_are_the_accepted_stops_of_the_window(database_url: str) -> None:  # noqa: F811
    """What a restarted MAG reloads as replay tombstones: accepted Stops with a session id,
    received since the given time, of this node only, oldest first."""
    from netlmm_aaa.persistence import migrate

    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    store = SqlStore(engine, "mag1")
    other = SqlStore(engine, "mag2", checkpoints=False)
    t = 1_790_000_000.25

    def acct(kind: str, utc: float, status: int, session: str | None) -> RecordAudit:
        return RecordAudit(kind=kind, utc=utc, mn_id=b"a@example.org", peer="wlc",
                           fields={"status": status, "session_id": session, "mac": "02:00:00:00:00:01"})  # fmt: skip

    try:
        store.submit(audit=[
            acct("accounting", t - 600, 2, "OLD"), acct("accounting", t - 10, 2, "S2"),
            acct("accounting", t - 20, 2, "S1"), acct("accounting", t - 5, 1, "S3"),
            acct("accounting", t - 4, 2, None), acct("accounting_rejected", t - 3, 2, "BAD"),
            acct("accounting_duplicate", t - 2, 2, "S1"),
        ]).result(30)  # fmt: skip
        other.submit(audit=[acct("accounting", t - 1, 2, "ELSEWHERE")]).result(30)
        stops = store.recent_stops(t - 300)
        assert [(nas, session) for nas, session, _ in stops] == [("wlc", "S1"), ("wlc", "S2")]
        assert [round(at, 3) for _, _, at in stops] == [round(t - 20, 3), round(t - 10, 3)]
    finally:
        store.close()
        other.close()
        engine.dispose()
