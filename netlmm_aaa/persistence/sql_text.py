"""SQL the writer runs: per-dialect statements, SQLite's multi-row INSERTs (rows grouped by
shape, literals inlined) and rollup upserts, and the time text SQLite stores."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import chain, repeat
from operator import is_, itemgetter
from typing import Any

from netlmm_aaa.persistence.binding_rows import BINDING_COLUMNS
from netlmm_aaa.persistence.report_rows import NODE_COLUMN, TABLE_COLUMNS, Row

MULTI_ROWS = 1024
"""Rows per multi-row INSERT in SQLite: 14 columns (the widest table) x 1024 stays under
SQLite's 32,766 variables; fewer, longer statements mean fewer GIL hand-offs per commit."""

LITERAL_COLUMNS: dict[str, tuple[int, ...]] = {
    "audit_events": (NODE_COLUMN, 2),  # kind
    "accounting_records": (NODE_COLUMN, 3),  # outcome
    "station_events": (NODE_COLUMN, 2),  # event
    "signaling": (NODE_COLUMN, 3, 4),  # message, direction
    "binding_changes": (NODE_COLUMN, 2),  # change
    "handovers": (NODE_COLUMN,),
}
"""SQLite: per table, the columns whose values come from the code, not from the network (the
writing node and the names of events, outcomes, messages): a handful of distinct strings,
written into the statements as literals instead of bound per row."""


def multi_row_inserts(
    table: str, columns: tuple[str, ...], rows: list[Row]
) -> list[tuple[str, list[Any]]]:
    """SQLite: ``rows`` as multi-row ``INSERT ... VALUES (...), (...)`` statements with their
    flat parameter lists; these cost the SQLite VM and the driver far less per row than one
    statement per row.

    Rows are grouped by their *shape*: which of their values are None, and the values of the
    table's ``LITERAL_COLUMNS``. None values are written as ``NULL`` and the literal columns'
    values as quoted literals in the statement instead of bound: Python's sqlite3 module binds
    each value with the GIL held (about 1 us for a None, which runs its adapter look-up), and
    audit rows are full of both. Each shape's bound values are picked out of the rows by an
    ``itemgetter`` (C code, no Python loop per value)."""
    literal = LITERAL_COLUMNS[table]
    literals_of = _picker(literal)
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        # One flat tuple: which values are None, then the literal values.
        shape = (*map(is_, row, _NONES), *literals_of(row))
        group = groups.get(shape)
        if group is None:
            groups[shape] = [row]
        else:
            group.append(row)
    statements: list[tuple[str, list[Any]]] = []
    width = len(columns)
    for shape, group in groups.items():
        one, full, bound = _shape_sql(table, columns, shape[:width], shape[width:])
        flat = chain.from_iterable
        whole = len(group) - len(group) % MULTI_ROWS
        for start in range(0, whole, MULTI_ROWS):
            statements.append((full, list(flat(map(bound, group[start : start + MULTI_ROWS])))))
        rest = group[whole:]
        if rest:
            head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            statements.append((head + ", ".join([one] * len(rest)), list(flat(map(bound, rest)))))
    return statements


_NONES = repeat(None)
_Shape = tuple[str, tuple[bool, ...], tuple[Any, ...]]
_SHAPES: dict[_Shape, tuple[str, str, Callable[[Row], tuple[Any, ...]]]] = {}


def _picker(index: tuple[int, ...]) -> Callable[[Row], tuple[Any, ...]]:
    """What returns a row's values at ``index`` as a tuple (C code for two or more)."""
    if len(index) > 1:
        return itemgetter(*index)

    def pick(row: Row) -> tuple[Any, ...]:  # itemgetter of one index returns no tuple
        return tuple([row[i] for i in index])

    return pick


def _sql_literal(value: Any) -> str:
    """A literal column's value as SQL: NULL, or a quoted string (quotes doubled)."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def _shape_sql(
    table: str, columns: tuple[str, ...], nulls: tuple[bool, ...], values: tuple[Any, ...]
) -> tuple[str, str, Callable[[Row], tuple[Any, ...]]]:
    """For one shape (see ``multi_row_inserts``): one row's ``(?, 'node', NULL, ...)``, the
    full ``MULTI_ROWS`` statement, and what picks a row's bound values out of it."""
    key = (table, nulls, values)
    known = _SHAPES.get(key)
    if known is None:
        if len(_SHAPES) > 4096:  # bounded: the row builders make a few shapes per table
            _SHAPES.clear()
        literal = dict(zip(LITERAL_COLUMNS[table], values, strict=True))
        marks = [
            _sql_literal(literal[i]) if i in literal else "NULL" if null else "?"
            for i, null in enumerate(nulls)
        ]
        one = "(" + ", ".join(marks) + ")"
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        bound = _picker(tuple(i for i, mark in enumerate(marks) if mark == "?"))
        known = _SHAPES[key] = (one, head + ", ".join([one] * MULTI_ROWS), bound)
    return known


_ROLLUP_HEAD = (
    "INSERT INTO report_rollup (period, metric, key1, key2, bucket, n, total, maximum) VALUES "
)
_ROLLUP_TAIL = (
    " ON CONFLICT (period, metric, key1, key2, bucket) DO UPDATE SET "
    "n = report_rollup.n + excluded.n, total = report_rollup.total + excluded.total, "
    "maximum = CASE WHEN excluded.maximum IS NOT NULL AND (report_rollup.maximum IS NULL "
    "OR excluded.maximum > report_rollup.maximum) THEN excluded.maximum "
    "ELSE report_rollup.maximum END"
)
_ROLLUP_ROW = "(?, ?, ?, ?, ?, ?, ?, ?)"
_ROLLUP_FULL = _ROLLUP_HEAD + ", ".join([_ROLLUP_ROW] * MULTI_ROWS) + _ROLLUP_TAIL


def rollup_upserts(rows: list[tuple[Any, ...]]) -> list[tuple[str, list[Any]]]:
    """SQLite: rollup rows (distinct keys, in key order) as multi-row upserts."""
    statements: list[tuple[str, list[Any]]] = []
    for start in range(0, len(rows), MULTI_ROWS):
        chunk = rows[start : start + MULTI_ROWS]
        sql = (
            _ROLLUP_FULL
            if len(chunk) == MULTI_ROWS
            else _ROLLUP_HEAD + ", ".join([_ROLLUP_ROW] * len(chunk)) + _ROLLUP_TAIL
        )
        statements.append((sql, [v for row in chunk for v in row]))
    return statements


def statements(dialect: str) -> dict[str, str]:
    mark = "?" if dialect == "sqlite" else "%s"
    json_value = mark if dialect == "sqlite" else f"CAST({mark} AS JSON)"
    columns = ", ".join(BINDING_COLUMNS)
    values = ", ".join(mark for _ in BINDING_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in BINDING_COLUMNS[2:])
    inserts = {
        table: f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(mark for _ in cols)})"
        for table, cols in TABLE_COLUMNS.items()
    }
    rollup = _ROLLUP_HEAD + f"({', '.join([mark] * 8)})" + _ROLLUP_TAIL
    return {
        **inserts,
        "rollup": rollup,
        "upsert": (
            f"INSERT INTO lma_bindings ({columns}) VALUES ({values}) "
            f"ON CONFLICT (lma, mn_id_raw) DO UPDATE SET {updates}"
        ),
        "delete": f"DELETE FROM lma_bindings WHERE lma = {mark} AND mn_id_raw = {mark}",
        # PostgreSQL: the AP rollup trigger's per-node locks (migrations 0014, 0015), in order.
        "lock_registered": (
            "SELECT pg_advisory_xact_lock(hashtext('report_ap_rollup'), hashtext(m))"
            f" FROM unnest(CAST({mark} AS text[])) AS m"
        ),
        "spool_add": (
            "INSERT INTO upstream_spool (node, seq, enqueued_at, datagram)"
            f" VALUES ({mark}, {mark}, {mark}, {mark})"
        ),
        "spool_remove": f"DELETE FROM upstream_spool WHERE node = {mark} AND seq = {mark}",
        "audit": (
            "INSERT INTO audit_events (at, node, kind, mn_id, peer, details) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {json_value})"
        ),
    }


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite returns naive datetimes
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


_SECONDS: dict[int, str] = {}  # whole second -> "YYYY-MM-DD HH:MM:SS", recently formatted


def sqlite_time(value: float) -> str:
    """The text form SQLAlchemy's SQLite DateTime reads back: naive UTC with microseconds
    (each second formatted once: strftime per row would dominate the writer)."""
    second = int(value // 1)
    micro = int((value - second) * 1_000_000 + 0.5)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) > 65536:
            _SECONDS.clear()
        text = _SECONDS[second] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
    return f"{text}.{micro:06d}"


_SECOND_VALUES: dict[str, int] = {}  # "YYYY-MM-DD HH:MM:SS" -> seconds since the epoch


def parse_sqlite_time(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return ts(value)
    if len(value) == 26 and value[19] == "." and value[20:].isdigit():  # what sqlite_time writes
        second = _SECOND_VALUES.get(value[:19])
        if second is None:
            if len(_SECOND_VALUES) > 65536:
                _SECOND_VALUES.clear()
            stamp = datetime.fromisoformat(value[:19]).replace(tzinfo=UTC).timestamp()
            second = _SECOND_VALUES[value[:19]] = int(stamp)
        # The same float as datetime.timestamp(): (seconds * 10**6 + microseconds) / 10**6.
        return (second * 1_000_000 + int(value[20:])) / 1_000_000
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()
