"""The store's writer: queue items turned into rows (Python) and committed in one transaction
each (the database), pipelined on two threads, optionally in a process of its own."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from netlmm_aaa.cpu_priority import lower_this_thread
from netlmm_aaa.persistence.binding_rows import Item, binding_row
from netlmm_aaa.persistence.postgres_copy import BinaryCopyRefused, copy_rows
from netlmm_aaa.persistence.radacct_rows import addresses_operation, radacct_operation
from netlmm_aaa.persistence.radacct_rows import statements as radacct_statements
from netlmm_aaa.persistence.report_rows import (
    AUDIT_COLUMNS,
    LMA_OVERRIDES,
    REPORT_KINDS,
    TABLE_COLUMNS,
    Row,
    mn_id_text,
)
from netlmm_aaa.persistence.rollup import ROLLUP_KINDS, roll
from netlmm_aaa.persistence.sql_text import (
    dt,
    multi_row_inserts,
    rollup_upserts,
    sqlite_time,
    statements,
)

log = logging.getLogger(__name__)


class Prepared(NamedTuple):
    deletes: list[tuple[Any, ...]]
    upserts: list[tuple[Any, ...]]
    audits: list[tuple[Any, ...]]
    typed: dict[str, list[Row]]
    rollup: list[tuple[tuple[Any, ...], list[Any]]]
    inserts: list[tuple[str, list[Any]]]
    """SQLite: the audit and typed rows as ready multi-row INSERTs (then ``audits`` and
    ``typed`` are empty)."""
    spooled: list[tuple[Any, ...]] = []
    """Upstream spool rows to add (node, seq, time, datagram)."""
    unspooled: list[tuple[str, int]] = []
    """Upstream spool rows to remove (node, seq)."""
    radacct: list[tuple[str, list[tuple[Any, ...]]]] = []
    """``radacct`` statements in the order of their accounting records (consecutive records
    of one statement together), each with its parameter rows."""
    registered: list[str] = []
    """PostgreSQL: the nodes registered in the batch, sorted: the commit takes the AP rollup
    trigger's per-node locks for all of them first, in this order (see migrations 0014 and 0015)."""


class Pipeline:
    """Commits prepared batches in order on its own thread, so that the next batch is prepared
    (Python) while this one is written (the database drivers release the GIL meanwhile)."""

    def __init__(
        self, rows: RowWriter, done: Callable[[Any], None], on_failure: Any = None
    ) -> None:
        self._rows = rows
        self._done = done
        self._on_failure = on_failure
        self._queue: queue.Queue[tuple[Prepared, Any] | None] = queue.Queue(maxsize=2)
        self._thread = threading.Thread(target=self._run, name="store-commit", daemon=True)
        self._thread.start()

    def put(self, prepared: Prepared, token: Any) -> None:
        self._queue.put((prepared, token))

    def close(self) -> None:
        """Commit what was put, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            prepared, token = item
            self._rows.commit_with_retry(prepared, self._on_failure)
            self._done(token)


class RowWriter:
    """Turns items into rows and writes them in one transaction (DBAPI executemany)."""

    def __init__(self, engine: Engine, node: str, *, lma: bool = False) -> None:
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {dialect!r} (SQLite or PostgreSQL)")
        self.engine = engine
        self.node = node
        self.sql = statements(dialect)
        self.when: Any = sqlite_time if dialect == "sqlite" else dt
        self.kinds = {**REPORT_KINDS, **LMA_OVERRIDES} if lma else REPORT_KINDS
        self.copy = dialect == "postgresql" and engine.dialect.driver == "psycopg"
        self.text_copy: set[str] = set()  # tables whose rows did not fit a binary COPY
        self.sqlite = dialect == "sqlite"
        mark = "?" if self.sqlite else "%s"
        self.radacct_sql = radacct_statements(
            mark, (lambda m: m) if self.sqlite else (lambda m: f"CAST({m} AS inet)")
        )

    def prepare(self, items: list[Item]) -> Prepared:
        """Turn items into rows (the Python half of a write)."""
        latest: dict[bytes, Item] = {}
        audits: list[tuple[Any, ...]] = []
        typed: dict[str, list[Row]] = {}
        rollup: dict[tuple[str, str, str, str, int], list[Any]] = {}
        when = self.when
        dumps = json.dumps
        node = self.node
        kinds = self.kinds
        names: dict[bytes, str] = {}
        times: dict[float, Any] = {}
        spooled: dict[int, tuple[Any, ...]] = {}
        unspooled: list[tuple[str, int]] = []
        radacct: list[tuple[str, list[tuple[Any, ...]]]] = []
        registered: set[str] = set()
        for item in items:
            if item[0] == "a":
                _, utc, kind, mn_id, peer, fields = item
                if mn_id is None:
                    mn = None
                else:
                    mn = names.get(mn_id)
                    if mn is None:
                        mn = names[mn_id] = mn_id_text(mn_id)
                at = times.get(utc)
                if at is None:
                    at = times[utc] = when(utc)
                if kind in ROLLUP_KINDS:
                    roll(rollup, node, utc, kind, peer, fields)
                operation = None
                if kind == "accounting":  # an accepted record: its session in radacct too
                    operation = radacct_operation(node, utc, peer or "?", mn, fields, when)
                elif kind == "station_registered":  # its addresses into its session
                    operation = addresses_operation(node, fields)
                    if mn is not None:
                        registered.add(mn)
                if operation is not None:
                    sql = self.radacct_sql[operation[0]]
                    if radacct and radacct[-1][0] == sql:
                        radacct[-1][1].append(operation[1])
                    else:
                        radacct.append((sql, [operation[1]]))
                report = kinds.get(kind)
                if report is not None:
                    table, build = report
                    typed.setdefault(table, []).append(build(node, at, mn, peer, fields))
                else:
                    audits.append((at, node, kind, mn, peer, dumps(fields, default=str)))
            elif item[0] == "q":  # spool for the upstream: ("q", seq, datagram, utc)
                spooled[item[1]] = (node, item[1], when(item[3]), item[2])
            elif item[0] == "r":  # the upstream answered: ("r", seq)
                if spooled.pop(item[1], None) is None:
                    unspooled.append((node, item[1]))
            else:
                latest[item[1]] = item  # the last write of a binding in the batch wins
        upserts = [binding_row(node, when, i) for i in latest.values() if i[0] == "u"]
        deletes = [(node, m) for m, i in latest.items() if i[0] == "d"]
        inserts: list[tuple[str, list[Any]]] = []
        if self.sqlite:
            # Statements and flat parameter lists are built here, so that the commit (on the
            # pipeline's thread) runs almost no Python: each time it hands the GIL to SQLite
            # while this side runs Python, winning it back costs up to a switch interval.
            if audits:
                inserts += multi_row_inserts("audit_events", AUDIT_COLUMNS, audits)
            for table, rows in typed.items():
                inserts += multi_row_inserts(table, TABLE_COLUMNS[table], rows)
            # The rollup too, as multi-row upserts: one statement, one GIL hand-off.
            inserts += rollup_upserts([(*k, *v) for k, v in sorted(rollup.items())])
            return Prepared(
                deletes, upserts, [], {}, [], inserts, list(spooled.values()), unspooled, radacct
            )
        return Prepared(
            deletes, upserts, audits, typed, sorted(rollup.items()), inserts,
            list(spooled.values()), unspooled, radacct, sorted(registered),
        )  # fmt: skip

    def commit(self, prepared: Prepared) -> None:
        """Write one prepared batch in one transaction."""
        (
            deletes,
            upserts,
            audits,
            typed,
            rollup,
            inserts,
            spooled,
            unspooled,
            radacct,
            registered,
        ) = prepared
        if not (deletes or upserts or audits or typed or rollup or inserts or spooled or unspooled
                or radacct):  # fmt: skip
            return
        # Plain DBAPI executemany with SQL prepared once: SQLAlchemy's row processing would cost
        # more than the database at these rates.
        with self.engine.begin() as connection:
            if registered:
                # The AP rollup trigger locks each registered node; taken here for the whole
                # batch in one order, two MAGs' writers cannot wait for each other in a cycle.
                connection.exec_driver_sql(self.sql["lock_registered"], (registered,))
            if deletes:
                connection.exec_driver_sql(self.sql["delete"], deletes)
            if upserts:
                connection.exec_driver_sql(self.sql["upsert"], upserts)
            if self.copy:  # PostgreSQL: COPY, far cheaper per row than executemany
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                if audits:
                    copy_rows(cursor, "audit_events", AUDIT_COLUMNS, audits, self.text_copy)
                for table, rows in typed.items():
                    copy_rows(cursor, table, TABLE_COLUMNS[table], rows, self.text_copy)
            elif self.sqlite:
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                for sql, values in inserts:
                    cursor.execute(sql, values)
            else:  # PostgreSQL through another driver than psycopg 3
                if audits:
                    connection.exec_driver_sql(self.sql["audit"], audits)
                for table, rows in typed.items():
                    connection.exec_driver_sql(self.sql[table], rows)
            if rollup:
                # Sorted: concurrent writers (several daemons, one PostgreSQL) lock rollup rows
                # in the same order, so they cannot deadlock.
                connection.exec_driver_sql(self.sql["rollup"], [(*k, *v) for k, v in rollup])
            if spooled:
                connection.exec_driver_sql(self.sql["spool_add"], spooled)
            if unspooled:
                connection.exec_driver_sql(self.sql["spool_remove"], unspooled)
            if radacct and self.copy:
                # The sessions' statements alternate (Start, addresses, Interim, Stop ...) and
                # their order matters: one pipeline sends them all without a round trip each.
                driver = connection.connection.driver_connection
                cursor = driver.cursor()  # type: ignore[union-attr]
                with driver.pipeline():  # type: ignore[union-attr]
                    for sql, rows in radacct:
                        for row in rows:
                            cursor.execute(sql, row)
            else:
                for sql, rows in radacct:
                    connection.exec_driver_sql(sql, rows)

    def write(self, items: list[Item]) -> None:
        """Prepare and commit ``items``."""
        self.commit(self.prepare(items))

    def commit_with_retry(self, prepared: Prepared, on_failure: Any = None) -> None:
        delay = 0.05
        # The raw cursors (multi-row INSERT, COPY) raise the driver's own errors.
        errors = (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error)
        while True:
            try:
                self.commit(prepared)
                return
            except BinaryCopyRefused as exc:  # rolled back; again at once, as text COPY
                log.warning("store: binary COPY refused (%s); that table is written as text", exc)
            except errors as exc:
                if on_failure is not None:
                    on_failure()
                log.error("store commit failed (%s); retrying in %.2f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)


def checkpoints(path: str, stop: threading.Event, every: float = 0.5) -> None:
    """Copy the WAL into the database in the background (PASSIVE: never blocks the writer), so
    that commits append to the WAL and never wait for checkpoint I/O."""
    import sqlite3

    lower_this_thread()
    try:
        connection = sqlite3.connect(path, timeout=1, check_same_thread=False)
    except sqlite3.Error:
        return
    try:
        while not stop.wait(every):
            with contextlib.suppress(sqlite3.Error):
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        connection.close()


GC_EVERY = 60.0  # seconds between the writer process's garbage collections


class PeriodicCollection:
    """Calls ``collect`` at most once per ``every`` seconds of the times it is given (the
    first call only starts the clock)."""

    def __init__(self, collect: Callable[[], object], every: float) -> None:
        self._collect = collect
        self._every = every
        self._due: float | None = None

    def __call__(self, now: float) -> bool:
        if self._due is None:
            self._due = now + self._every
            return False
        if now < self._due:
            return False
        self._collect()
        self._due = now + self._every
        return True


def writer_process(url: str, node: str, conn: Any, lma: bool = False) -> None:
    """The body of the store's writer process: receive batches, commit, acknowledge."""
    import gc

    from netlmm_aaa.persistence.database import make_engine

    lower_this_thread(os.getppid())  # before the commit thread starts: it inherits it
    engine = make_engine(url)
    writer = RowWriter(engine, node, lma=lma)
    # Batches are hundreds of thousands of fresh tuples that form no cycles, so the generational
    # collector only costs time here. It runs on a clock instead, between batches, so that any
    # cycle a library makes is still freed within a minute.
    gc.freeze()
    gc.disable()
    collect = PeriodicCollection(gc.collect, GC_EVERY)
    # The commit thread hands the GIL to SQLite for every statement and must win it back from
    # this thread (unpickling, preparing the next batch): a short switch interval bounds that
    # wait.
    sys.setswitchinterval(0.0002)
    # Acknowledgements are batch ids; a failed commit attempt is reported as ("failure",).
    pipeline = Pipeline(writer, conn.send, lambda: conn.send(("failure",)))
    try:
        while True:
            message = conn.recv()
            if message is None:
                return
            batch_id, items = message
            pipeline.put(writer.prepare(items), batch_id)
            del items, message  # a batch's objects are not kept alive until the next one
            collect(time.monotonic())
    except (EOFError, KeyboardInterrupt):
        return
    finally:
        pipeline.close()  # commits and acknowledges everything received
        engine.dispose()
