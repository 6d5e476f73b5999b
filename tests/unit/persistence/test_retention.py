"""Retention (``netlmm-aaa db prune`` and the daemons' ``retention``): raw rows older than the
age go, recent rows, rollups and live state stay, and the run is in the audit trail; on SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from netlmm_aaa.cli import main
from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.clock import Now
from netlmm_aaa.persistence import migrate
from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.retention import RAW_TABLES, RetentionError, parse_age, prune
from netlmm_aaa.persistence.store import SqlStore
from netlmm_aaa.services.retention_task import prune_periodically
from tests.databases import database_url, postgresql_server  # noqa: F401
from tests.lma_support import T0
from tests.unit.reports.test_reports import fill, later

KEPT = ("report_rollup", "lma_bindings", "node_state")


def _counts(url: str, tables: tuple[str, ...]) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {t: int(connection.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
                    for t in tables}  # fmt: skip
    finally:
        engine.dispose()


def _story(url: str, shift: float = 0.0) -> None:
    """The reports' story (fill), plus a record of the generic audit table and, at mag1, the
    Stop of its accounting session and a session still open, ``shift`` late."""
    engine = fill(url, shift)["engine"]
    store = SqlStore(engine, "lma1", lma=True)
    store.submit(audit=[RecordAudit(kind=AuditKind.PEER_REACHABLE, utc=T0.utc + shift,
                                    peer="mag1")]).result(30)  # fmt: skip
    store.close()
    store = SqlStore(engine, "mag1")
    sessions = [({"status": 2, "session_id": "S1", "session_time": 60}, 7200),
                ({"status": 1, "session_id": "open"}, 0)]  # fmt: skip
    store.submit(audit=[RecordAudit(kind=AuditKind.ACCOUNTING, utc=T0.utc + shift + late,
                                    peer="hostapd-1", fields=later(fields, shift))
                        for fields, late in sessions]).result(30)  # fmt: skip
    store.close()
    engine.dispose()


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_prune_deletes_only_raw_rows_past_the_age(database_url: str) -> None:  # noqa: F811
    _story(database_url)  # November 2023
    old = _counts(database_url, RAW_TABLES)
    _story(database_url, shift=time.time() - 7200 - T0.utc)  # two hours ago
    both = _counts(database_url, RAW_TABLES)
    kept_before = _counts(database_url, KEPT)
    assert all(old.values()), old  # the story touches every raw table
    code, out, err = _run("db", "prune", "--db", database_url, "--older-than", "90d")
    assert (code, err) == (0, ""), err
    after = _counts(database_url, RAW_TABLES)
    recorded = {"audit_events": 1}  # the run's own audit record
    still_open = {"radacct": 1}  # the old session never stopped: it stays
    assert after == {t: both[t] - old[t] + recorded.get(t, 0) + still_open.get(t, 0)
                     for t in RAW_TABLES}, (old, both, after)  # fmt: skip
    assert _counts(database_url, KEPT) == kept_before
    deleted = {t: old[t] - still_open.get(t, 0) for t in RAW_TABLES}
    for table in RAW_TABLES:
        assert f"{table} " in out and f" {deleted[table]}\n" in out.split(f"{table} ")[1][:40], out
    engine = make_engine(database_url)
    with engine.connect() as connection:
        kind, details = connection.execute(text(
            "SELECT kind, details FROM audit_events WHERE kind = 'retention_pruned'")).one()  # fmt: skip
    engine.dispose()
    if isinstance(details, str):
        import json

        details = json.loads(details)
    assert details["deleted"] == deleted
    # Again: nothing left to delete, nothing recorded.
    code, out, _ = _run("db", "prune", "--db", database_url, "--older-than", "90d")
    assert code == 0 and _counts(database_url, RAW_TABLES) == after


def test_prune_in_small_batches_deletes_them_all(database_url: str) -> None:  # noqa: F811
    _story(database_url)
    old = _counts(database_url, RAW_TABLES)
    engine = make_engine(database_url)
    deleted = prune(engine, datetime.now(UTC) - timedelta(days=1), batch=2)
    engine.dispose()
    assert deleted == {**old, "radacct": old["radacct"] - 1}  # the open session stays
    assert _counts(database_url, RAW_TABLES) == {**dict.fromkeys(RAW_TABLES, 0), "radacct": 1}


@pytest.mark.parametrize("spelled", ["23h", "90", "90 days", "-3d", ""])
def test_ages_shorter_than_a_day_or_unreadable_are_refused(spelled: str, tmp_path: Path) -> None:
    with pytest.raises(RetentionError):
        parse_age(spelled)
    code, out, err = _run("db", "prune", "--db", f"sqlite:///{tmp_path / 'x.db'}",
                          f"--older-than={spelled}")  # fmt: skip
    assert code == 2 and out == "" and "netlmm-aaa db prune:" in err
    assert not (tmp_path / "x.db").exists()  # refused before the database is opened


def test_ages_read_as_periods() -> None:
    assert parse_age("36h") == timedelta(hours=36)
    assert parse_age("90d") == timedelta(days=90)
    assert parse_age("12w") == timedelta(weeks=12)


def test_the_daemons_task_prunes_at_start_and_records_the_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    _story(url)
    old = _counts(url, RAW_TABLES)
    engine = make_engine(url)
    submitted: list[list[RecordAudit]] = []

    async def run() -> None:
        task = asyncio.create_task(prune_periodically(
            engine, timedelta(days=90), lambda: Now(0.0, time.time()), submitted.append,
            interval=0.05))  # fmt: skip
        while not submitted:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # later runs find nothing old: nothing more is recorded
        task.cancel()

    asyncio.run(asyncio.wait_for(run(), 20))
    engine.dispose()
    assert _counts(url, RAW_TABLES) == {**dict.fromkeys(RAW_TABLES, 0), "radacct": 1}
    assert len(submitted) == 1 and len(submitted[0]) == 1, submitted
    record = submitted[0][0]
    assert record.kind is AuditKind.RETENTION_PRUNED
    assert record.fields["deleted"] == {**old, "radacct": old["radacct"] - 1}
