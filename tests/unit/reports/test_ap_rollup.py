"""``report aps`` from ``report_ap_rollup`` (kept by a trigger, migration 0014) and from the rows,
on SQLite and PostgreSQL, against a plain reading of the same registrations: nodes move between
the APs of three MAGs over four days, and each MAG's store commits its own records in batches,
so the rows reach the database out of time order (as several daemons' stores write them)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from netlmm_aaa.core.actions import RecordAudit
from netlmm_aaa.persistence import migrate
from netlmm_aaa.persistence.database import make_engine
from netlmm_aaa.persistence.models import AP_KEY_SQL, SSID_KEY_SQL
from netlmm_aaa.persistence.sql_text import sqlite_time
from netlmm_aaa.persistence.store import SqlStore
from netlmm_aaa.reports.queries import Reports, Window
from tests.databases import database_url, postgresql_server  # noqa: F401

START = datetime(2026, 11, 2, tzinfo=UTC)
# (MAG, AP, interface, SSID): an AP without an address is known by its MAG's access interface.
PLACES = [
    ("mag1", "aa:00:00:00:01:01", "acc0", "Corp"),
    ("mag1", "aa:00:00:00:01:02", "acc0", "Corp"),
    ("mag2", "aa:00:00:00:02:01", "acc0", None),
    ("mag2", None, "acc1", "Guest"),
    ("mag3", "aa:00:00:00:03:01", "acc0", "Corp"),
]
Registration = tuple[datetime, str, str, tuple[str, str, str]]  # at, mn, mac, (mag, ap, ssid)


def story(seed: int = 3, moves: int = 160) -> list[Registration]:
    """Registrations at distinct instants over four days, in time order."""
    rng = random.Random(seed)
    seconds = sorted(rng.sample(range(4 * 86400), moves))
    out = []
    for s in seconds:
        n = rng.randrange(7)
        node, ap, interface, ssid = rng.choice(PLACES)
        out.append((START + timedelta(seconds=s, microseconds=n), f"mn{n}@example.org",
                    f"02:00:00:00:00:{n:02x}", (node, ap or interface, ssid or "")))  # fmt: skip
    return out


def write(url: str, registrations: list[Registration], seed: int = 5) -> None:
    """Each MAG's registrations through its own store, in batches of a few, the MAGs' batches
    interleaved at random: rows arrive out of time order (on PostgreSQL, the stores' commits
    also overlap)."""
    rng = random.Random(seed)
    by_node: dict[str, list[RecordAudit]] = defaultdict(list)
    for at, mn, mac, (node, ap, _ssid) in registrations:
        place = next(p for p in PLACES if p[0] == node and (p[1] or p[2]) == ap)
        by_node[node].append(RecordAudit(
            kind="station_registered", utc=at.timestamp(), mn_id=mn.encode(), peer=node,
            fields={"mac": mac, "interface": place[2], "ap": place[1], "ssid": place[3]},
        ))  # fmt: skip
    batches = []
    for node, records in by_node.items():
        while records:
            size = rng.randint(1, 9)
            batches.append((node, records[:size]))
            records = records[size:]
    rng.shuffle(batches)
    engine = make_engine(url)
    stores = {node: SqlStore(engine, node) for node in by_node}
    # PostgreSQL: the MAGs' stores commit at the same time, as they do on a shared server (one
    # node's registrations in two open transactions); SQLite has one writer at a time.
    concurrent = engine.dialect.name == "postgresql"
    futures = []
    for node, batch in batches:
        futures.append(stores[node].submit(audit=batch))
        if not concurrent:
            futures[-1].result(30)
    for future in futures:
        future.result(60)
    for store in stores.values():
        store.close()
    engine.dispose()


def expected(registrations: list[Registration], window: Window) -> list[tuple[Any, ...]]:
    """The report read plainly: a handover into an AP is a registration there whose node's
    previous registration (at any time before) was at another (MAG, AP)."""
    stats: dict[tuple[str, str, str], list[Any]] = {}
    last: dict[str, tuple[str, str, str]] = {}
    for at, mn, _mac, key in registrations:
        inside = (window.since is None or at >= window.since) and (
            window.until is None or at < window.until
        )
        previous = last.get(mn)
        last[mn] = key
        if not inside:
            continue
        entry = stats.setdefault(key, [0, 0, 0, set()])
        entry[0] += 1
        entry[3].add(mn)
        if previous is not None and previous[:2] != key[:2]:
            entry[1] += 1
            stats.setdefault(previous, [0, 0, 0, set()])[2] += 1
    return [(node, ap, ssid or None, e[0], e[1], e[2], len(e[3]))
            for (node, ap, ssid), e in sorted(stats.items())]  # fmt: skip


class _RowsOnly(Reports):
    """``aps`` from the registrations, whatever the window."""

    def _pieces(self, unit: Any) -> tuple[None, list[tuple[Any, Any]]]:  # type: ignore[override]
        return None, [(self.window.since, self.window.until)]


WINDOWS = [
    Window(),
    Window(since=START + timedelta(days=1)),
    Window(until=START + timedelta(days=2)),
    Window(since=START + timedelta(days=1), until=START + timedelta(days=3)),
    Window(since=START + timedelta(hours=30), until=START + timedelta(hours=77)),  # partial days
    Window(since=START + timedelta(days=3, hours=5)),
    Window(until=START + timedelta(days=2, hours=13)),
]
_rng = random.Random(17)
for _ in range(12):  # and windows of whole days with partial ones at either edge, or both
    a, b = sorted(_rng.sample(range(4 * 24 * 60), 2))
    WINDOWS.append(Window(since=START + timedelta(minutes=a), until=START + timedelta(minutes=b)))


def check(url: str, registrations: list[Registration]) -> None:
    engine = make_engine(url)
    try:
        for window in WINDOWS:
            want = expected(registrations, window)
            assert Reports(engine, window).aps()[0].rows == want, window
            assert _RowsOnly(engine, window).aps()[0].rows == want, window
        # The fixed windows hold handovers (the random ones have partial days at either edge,
        # where nodes come back to an AP they visited earlier on the start's day, or before).
        assert all(any(row[4] for row in expected(registrations, w)) for w in WINDOWS[:6])
        with engine.connect() as c:
            (rollup_rows,) = c.exec_driver_sql("SELECT COUNT(*) FROM report_ap_rollup").one()
        assert rollup_rows > 0  # whole-day windows were read from the rollup
    finally:
        engine.dispose()


def test_rollup_kept_by_the_trigger_matches_the_registrations(database_url: str) -> None:  # noqa: F811
    registrations = story()
    write(database_url, registrations)
    check(database_url, registrations)


def test_upgrade_computes_the_rollup_of_stored_registrations(database_url: str) -> None:  # noqa: F811
    registrations = story(seed=11)
    migrate.downgrade(database_url, "0013")  # before the rollup and its trigger
    write(database_url, registrations)
    migrate.upgrade(database_url)
    check(database_url, registrations)
    more = story(seed=12)  # and the trigger carries on from there
    write(database_url, more, seed=13)
    check(database_url, sorted(registrations + more))


def walk(rows: list[tuple[Any, ...]]) -> dict[tuple[str, ...], list[int]]:
    """The rollup of registrations ``(at, id, mn_id, node, ap, ssid)`` walked in time order,
    summed over the writers (``by_node``), rows of zeros left out."""
    rollup: dict[tuple[str, ...], list[int]] = {}
    last: dict[str, tuple[str, str, str]] = {}
    visits: dict[tuple[str, ...], str] = {}
    for at, _id, mn, node, ap, ssid in sorted(rows, key=lambda r: (r[0], r[1])):
        day = at.astimezone(UTC).strftime("%Y-%m-%d")
        previous = last.get(mn)
        if previous is not None and previous[:2] != (node, ap):
            rollup.setdefault((day, *previous, ""), [0, 0, 0])[2] += 1
            rollup.setdefault((day, node, ap, ssid, ""), [0, 0, 0])[1] += 1
        since = visits.get((node, ap, ssid, mn), "")
        rollup.setdefault((day, node, ap, ssid, since), [0, 0, 0])[0] += 1
        visits[(node, ap, ssid, mn)] = day
        last[mn] = (node, ap, ssid)
    return {k: v for k, v in rollup.items() if any(v)}


def test_rollup_is_that_of_the_time_order_whatever_the_statements(database_url: str) -> None:  # noqa: F811
    """Rows of any kind inserted out of time order, in statements of 1 to 60 rows (COPY too on
    PostgreSQL, whose trigger runs once per statement), several statements per transaction,
    some at the same instant: the rollup is the time-ordered walk's."""
    engine = make_engine(database_url)
    postgresql = engine.dialect.name == "postgresql"
    mark = "%s" if postgresql else "?"
    columns = "(at, node, event, mn_id, interface, ap, ssid)"
    places = [("mag1", "acc0", "aa:01", "Corp"), ("mag1", "acc0", "aa:02", "Corp"),
              ("mag2", "acc0", "aa:03", None), ("mag2", "acc0", "aa:03", "Guest"),
              ("mag2", "acc1", None, None), ("mag3", "acc0", "aa:04", "Corp")]  # fmt: skip
    try:
        for seed in range(6):
            rng = random.Random(seed)
            with engine.begin() as c:
                c.exec_driver_sql("DELETE FROM station_events")
                c.exec_driver_sql("DELETE FROM report_ap_rollup")
            rows = []
            for _ in range(rng.randint(50, 250)):
                # A quarter of the events at two instants; a few nodes or many.
                offset = (
                    rng.choice([86400, 172800]) if rng.random() < 0.25 else rng.randrange(259200)
                )
                event = "registered" if rng.random() < 0.8 else rng.choice(["detached", "attached"])
                node, interface, ap, ssid = rng.choice(places)
                mn = f"mn{rng.randrange(rng.choice([2, 6, 40]))}@example.org"
                at: Any = START + timedelta(seconds=offset)
                if not postgresql:  # the text the store writes
                    at = sqlite_time(at.timestamp())
                rows.append((at, node, event, mn, interface, ap, ssid))
            rng.shuffle(rows)
            while rows:
                with engine.begin() as c:
                    cursor = c.connection.driver_connection.cursor()  # type: ignore[union-attr]
                    for _ in range(rng.randint(1, 3)):
                        size = rng.choice([1, 2, 7, 60])
                        chunk, rows = rows[:size], rows[size:]
                        if not chunk:
                            break
                        if postgresql and rng.random() < 0.5:
                            with cursor.copy(f"COPY station_events {columns} FROM STDIN") as copy:
                                for row in chunk:
                                    copy.write_row(row)
                        else:
                            values = ", ".join([f"({', '.join([mark] * 7)})"] * len(chunk))
                            cursor.execute(
                                f"INSERT INTO station_events {columns} VALUES {values}",
                                [v for row in chunk for v in row],
                            )
            with engine.connect() as c:
                stored = c.exec_driver_sql(
                    f"SELECT at, id, mn_id, node, {AP_KEY_SQL}, {SSID_KEY_SQL} FROM station_events"
                    " WHERE event = 'registered'"
                ).all()
                kept = c.exec_driver_sql(
                    "SELECT day, node, ap, ssid, since, SUM(attachments), SUM(handovers_in),"
                    " SUM(handovers_out) FROM report_ap_rollup GROUP BY day, node, ap, ssid, since"
                ).all()
            if not postgresql:  # SQLite returns the time as its text
                stored = [(datetime.fromisoformat(r[0] + "+00:00"), *r[1:]) for r in stored]
            rollup = {tuple(r[:5]): [int(v) for v in r[5:]] for r in kept}
            want = walk([tuple(r) for r in stored])
            assert {k: v for k, v in rollup.items() if any(v)} == want, seed
            assert sum(v[1] for v in want.values()) > 0, seed  # handovers were counted
    finally:
        engine.dispose()
