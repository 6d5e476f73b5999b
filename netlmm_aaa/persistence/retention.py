"""Retention: the raw rows of the audit store older than a cut-off are deleted (and the
``radacct`` sessions that ended before it); the rollups
(``report_rollup``), the live state (bindings, node state, policies) and the accounting still
owed to the upstream (``upstream_spool``) stay.

Deletion goes in small batches, each its own transaction, so that a daemon's writer sharing the
store (SQLite allows one writer at a time) waits for one batch at most, never for the whole run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from netlmm_aaa.durations import parse_duration

PRUNED: dict[str, tuple[str, str]] = {
    "audit_events": ("id", "at"),
    "accounting_records": ("id", "at"),
    "station_events": ("id", "at"),
    "signaling": ("id", "at"),
    "binding_changes": ("id", "at"),
    "handovers": ("id", "at"),
    "radacct": ("radacctid", "acctstoptime"),
}
"""The tables of facts that grow with traffic: (key column, time column). A ``radacct``
session goes when it ended before the cut-off; open sessions stay however old."""
RAW_TABLES = tuple(PRUNED)

MIN_RETENTION = timedelta(days=1)
"""At start the MAG reads back one accounting replay window of stops (at most a day) to refuse
replays across the restart: retention never reaches into it."""


class RetentionError(ValueError):
    """A retention period that cannot be read or is shorter than :data:`MIN_RETENTION`."""


def parse_age(spelled: str) -> timedelta:
    """``36h``, ``90d``, ``12w``; at least :data:`MIN_RETENTION`."""
    age = parse_duration(spelled, units="hdw")
    if age is None:
        raise RetentionError(
            f"{spelled!r} is not an age: write hours, days or weeks (36h, 90d, 12w)"
        )
    if age < MIN_RETENTION:
        raise RetentionError(f"{spelled!r} is shorter than the minimum retention of one day")
    return age


def prune(engine: Engine, before: datetime, *, batch: int = 5000) -> dict[str, int]:
    """Delete the rows of :data:`RAW_TABLES` recorded before ``before``; how many per table."""
    if before.tzinfo is None:
        raise ValueError("before must be timezone-aware")
    # SQLite keeps times as naive-UTC text (compared as text); PostgreSQL as timestamptz.
    bound: object = before.astimezone(UTC)
    if engine.dialect.name == "sqlite":
        bound = before.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    deleted: dict[str, int] = {}
    for table, (key, at) in PRUNED.items():
        statement = text(
            f"DELETE FROM {table} WHERE {key} IN "  # names: the constants above
            f"(SELECT {key} FROM {table} WHERE {at} < :before ORDER BY {key} LIMIT :batch)"
        )
        total = 0
        while True:
            with engine.begin() as connection:
                count = connection.execute(statement, {"before": bound, "batch": batch}).rowcount
            total += count
            if count < batch:
                break
        deleted[table] = total
    return deleted


def cutoff(now: datetime, age: timedelta) -> datetime:
    """The moment before which rows go, for rows kept ``age``."""
    return now.astimezone(UTC) - age


def record_prune(
    engine: Engine, node: str, now: datetime, before: datetime, deleted: dict[str, int]
) -> None:
    """Append the ``retention_pruned`` audit record of a run made outside the daemons (the
    daemons hand theirs to their store's writer)."""
    from sqlalchemy import insert

    from netlmm_aaa.persistence.models import AuditEvent

    with engine.begin() as connection:
        connection.execute(
            insert(AuditEvent),
            {
                "at": now.astimezone(UTC),
                "node": node,
                "kind": "retention_pruned",
                "details": prune_details(before, deleted),
            },
        )


def prune_details(before: datetime, deleted: dict[str, int]) -> dict[str, object]:
    """The audit record's details: the cut-off and the rows deleted per table."""
    return {"before": before.astimezone(UTC).isoformat(), "deleted": deleted}
