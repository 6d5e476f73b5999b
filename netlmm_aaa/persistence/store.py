"""The SQL store of a daemon: bindings, node state and audit records, written off the event loop.

One writer thread takes everything queued since its last commit and writes it in one transaction
(group commit): per MN-ID only the latest binding write survives the batch, audit records are
inserted in one executemany. Callers get a future that completes when their write is committed.
A failing database is retried with back-off; nothing queued is dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import UTC, datetime
from itertools import chain, repeat
from operator import is_, itemgetter
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Float,
    Integer,
    LargeBinary,
    String,
    insert,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from netlmm_aaa.core.actions import BindingSnapshot, RecordAudit
from netlmm_aaa.core.audit_kinds import AuditKind
from netlmm_aaa.core.events import Transport
from netlmm_aaa.core.lma_policy import MobileNodePolicy
from netlmm_aaa.core.station_intake import split_called_station_id
from netlmm_aaa.persistence.database import sqlite_path
from netlmm_aaa.persistence.models import Base, MobileNodePolicyRow, NodeState

log = logging.getLogger(__name__)

_BATCH_LIMIT = 20_000  # submissions per transaction
_BATCH_ROWS = 50_000  # rows per transaction (a submission is never split)
_LINGER = 0.001


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite returns naive datetimes
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def mn_id_text(mn_id: bytes) -> str:
    """An MN-ID as text for humans and SQL reports (NAIs are UTF-8)."""
    return mn_id.decode("utf-8", "backslashreplace")


def _mac_text(octets: bytes) -> str:
    return ":".join(f"{b:02x}" for b in octets)


# Writes travel as plain tuples (cheap to build, and to pickle to a writer process):
#   ("u", <the BindingSnapshot fields, transport as text>)   upsert a binding
#   ("d", mn_id)                                             delete a binding
#   ("a", utc, kind, mn_id, peer, fields)                    append an audit record
_Item = tuple[Any, ...]


# ---------------------------------------------------------------------- report rows
# Audit kinds that land in a typed report table (see models.py) instead of ``audit_events``.
# Each builder gets (node, at, mn_id, peer, fields) and returns the table's row tuple.

_Row = tuple[Any, ...]
_Builder = Callable[[str, Any, str | None, str | None, dict[str, Any]], _Row]

_TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounting_records": (
        "at", "node", "nas", "outcome", "reason", "status_type", "session_id", "mn_id", "mac",
        "ap", "ssid", "detail", "packets",
    ),
    "station_events": (
        "at", "node", "event", "mn_id", "mac", "interface", "ap", "ssid", "prefixes",
        "ipv4_home_address", "reason",
    ),
    "signaling": (
        "at", "node", "peer", "message", "direction", "mn_id", "sequence", "status",
        "handoff_indicator", "lifetime", "rtt_ms", "event_to_ack_ms", "retransmissions", "reason",
    ),
    "binding_changes": (
        "at", "node", "change", "mn_id", "mag", "prefixes", "ipv4_home_address",
    ),
    "handovers": (
        "at", "node", "mn_id", "from_mag", "to_mag", "handoff_indicator", "sequence", "prefixes",
        "route_switch_ms",
    ),
}  # fmt: skip


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _joined(value: Any) -> str | None:
    if value is None:
        return None
    return ",".join(value) if type(value) in (list, tuple) else str(value)


def _accounting(outcome: str) -> _Builder:
    def build(node: str, at: Any, mn: str | None, peer: str | None, f: dict[str, Any]) -> _Row:
        ap, ssid = split_called_station_id(f.get("called_station_id"))
        return (
            at, node, peer or "?", outcome, f.get("reason"), f.get("status"),
            f.get("session_id"), mn, f.get("mac"), ap, ssid, f.get("detail"), f.get("count", 1),
        )  # fmt: skip

    return build


def _station(event: str) -> _Builder:
    def build(node: str, at: Any, mn: str | None, peer: str | None, f: dict[str, Any]) -> _Row:
        reason = f.get("reason")
        if reason is None and f.get("attached_as") is not None:
            reason = f"MAC already attached as {f['attached_as']}"
        if reason is None and f.get("trigger") is not None:
            reason = f"revocation trigger {f['trigger']}"
        return (
            at, node, event, mn, f.get("mac"), f.get("interface"), f.get("ap"), f.get("ssid"),
            _joined(f.get("prefixes")), f.get("ipv4"), _text(reason),
        )  # fmt: skip

    return build


def _signaling(message: str, direction: str) -> _Builder:
    def build(node: str, at: Any, mn: str | None, peer: str | None, f: dict[str, Any]) -> _Row:
        return (
            at, node, peer, message, direction, mn, f.get("sequence"), f.get("status"),
            f.get("handoff_indicator"), f.get("lifetime"), f.get("rtt_ms"),
            f.get("event_to_ack_ms"), f.get("retransmissions"), _text(f.get("reason")),
        )  # fmt: skip

    return build


def _binding(change: str) -> _Builder:
    def build(node: str, at: Any, mn: str | None, peer: str | None, f: dict[str, Any]) -> _Row:
        return (at, node, change, mn, peer, _joined(f.get("prefixes")), f.get("ipv4"))

    return build


def _handover(node: str, at: Any, mn: str | None, peer: str | None, f: dict[str, Any]) -> _Row:
    return (
        at, node, mn, f.get("from_mag") or "?", f.get("to_mag") or peer or "?",
        f.get("handoff_indicator"), f.get("sequence"), _joined(f.get("prefixes")),
        f.get("route_switch_ms"),
    )  # fmt: skip


REPORT_KINDS: dict[AuditKind, tuple[str, _Builder]] = {
    AuditKind.ACCOUNTING: ("accounting_records", _accounting("accepted")),
    AuditKind.ACCOUNTING_DUPLICATE: ("accounting_records", _accounting("duplicate")),
    AuditKind.ACCOUNTING_REJECTED: ("accounting_records", _accounting("rejected")),
    AuditKind.STATION_ATTACHED: ("station_events", _station("attached")),
    AuditKind.STATION_DETACHED: ("station_events", _station("detached")),
    AuditKind.STATION_REJECTED: ("station_events", _station("rejected")),
    AuditKind.STATION_REGISTERED: ("station_events", _station("registered")),
    AuditKind.STATION_REPLACED: ("station_events", _station("replaced")),
    AuditKind.STATION_DEREGISTERED: ("station_events", _station("deregistered")),
    AuditKind.MAC_IDENTITY_CONFLICT: ("station_events", _station("conflict")),
    AuditKind.REGISTRATION_REJECTED: ("station_events", _station("registration_rejected")),
    AuditKind.REFRESH_REJECTED: ("station_events", _station("refresh_rejected")),
    AuditKind.PBU_UNANSWERED: ("station_events", _station("pbu_unanswered")),
    AuditKind.BINDING_REVOKED: ("station_events", _station("revoked")),  # at a MAG; LMA below
    AuditKind.PBA: ("signaling", _signaling("PBU", "sent")),
    AuditKind.PBU: ("signaling", _signaling("PBU", "received")),
    AuditKind.BRI_SENT: ("signaling", _signaling("BRI", "sent")),
    AuditKind.BRA_RECEIVED: ("signaling", _signaling("BRA", "received")),
    AuditKind.BRI_UNANSWERED: ("signaling", _signaling("BRI", "unanswered")),
    AuditKind.HEARTBEAT_ANSWERED: ("signaling", _signaling("HB", "received")),
    AuditKind.HEARTBEAT_RESPONSE: ("signaling", _signaling("HB", "sent")),
    AuditKind.BINDING_CREATED: ("binding_changes", _binding("created")),
    AuditKind.BINDING_REVIVED: ("binding_changes", _binding("revived")),
    AuditKind.BINDING_DEREGISTERED: ("binding_changes", _binding("deregistered")),
    AuditKind.BINDING_EXPIRED: ("binding_changes", _binding("expired")),
    AuditKind.BINDING_DELETED: ("binding_changes", _binding("deleted")),
    AuditKind.BINDING_RELEASED_PEER_RESTART: (
        "binding_changes", _binding("released_peer_restart")),
    AuditKind.HANDOVER: ("handovers", _handover),
}  # fmt: skip
"""audit kind -> (table, row builder)."""

AUDIT_EVENT_KINDS: frozenset[AuditKind] = frozenset({
    AuditKind.ACCOUNTING_FORWARD_FAILED, AuditKind.AAA_PROFILE, AuditKind.DHCP_ACK,
    AuditKind.DHCP_NAK, AuditKind.DHCP_REFUSED, AuditKind.HOOK_EVENT_REJECTED,
    AuditKind.RADIUS_RELAY_REJECTED, AuditKind.RESTART_ANNOUNCED, AuditKind.LMA_RESTARTED,
    AuditKind.PBA_DROPPED, AuditKind.BRI_UNMATCHED, AuditKind.BRA_UNMATCHED,
    AuditKind.HEARTBEAT_FROM_UNKNOWN_PEER, AuditKind.BINDING_ERROR_RECEIVED,
    AuditKind.UNEXPECTED_MESSAGE, AuditKind.MALFORMED_PACKET,
    AuditKind.BINDING_DROPPED_ON_RESTORE, AuditKind.HANDOVER_DEFERRED,
    AuditKind.HANDOVER_WAIT_EXPIRED, AuditKind.DEREGISTRATION_IGNORED,
    AuditKind.REVOCATION_FAILED, AuditKind.PEER_REACHABLE, AuditKind.PEER_UNREACHABLE,
    AuditKind.PEER_RESTARTED, AuditKind.LMA_STARTED, AuditKind.DATAPLANE_ERROR,
})  # fmt: skip
"""Kinds that go to the generic ``audit_events`` table (JSON details), by decision: every
:class:`AuditKind` is in exactly one of this set and :data:`REPORT_KINDS`."""

# The LMA's own revocations are binding changes (the MAG's are station events): the LMA's
# writer passes ``lma=True``.
_LMA_OVERRIDES: dict[AuditKind, tuple[str, _Builder]] = {
    AuditKind.BINDING_REVOKED: ("binding_changes", _binding("revoked")),
}


# ---------------------------------------------------------------------- rollup
# ``report_rollup`` keeps latency histograms and message counts per period (the handover
# histogram per UTC hour, everything else per UTC day), so that reports over months read
# thousands of rows instead of millions. Derived data (the facts stay in the tables above),
# updated in the same transaction as the facts.

_ROLLUP_KINDS: frozenset[AuditKind] = frozenset({
    AuditKind.HANDOVER, AuditKind.PBA, AuditKind.PBU, AuditKind.BRI_SENT,
    AuditKind.BRA_RECEIVED, AuditKind.BRI_UNANSWERED, AuditKind.HEARTBEAT_ANSWERED,
    AuditKind.HEARTBEAT_RESPONSE, AuditKind.HEARTBEAT_FROM_UNKNOWN_PEER,
    AuditKind.UNEXPECTED_MESSAGE, AuditKind.MALFORMED_PACKET,
})  # fmt: skip
_SIGNALING_LABELS: dict[str, str] = {  # looked up by the text the writer receives
    AuditKind.BRI_SENT: "BRI sent", AuditKind.BRA_RECEIVED: "BRA received",
    AuditKind.BRI_UNANSWERED: "BRI unanswered", AuditKind.HEARTBEAT_ANSWERED: "HB received",
    AuditKind.HEARTBEAT_RESPONSE: "HB sent",
}  # fmt: skip
HOURLY_METRICS = frozenset({"route_switch"})
"""Metrics kept per hour (``YYYY-MM-DD HH``); the others per day (``YYYY-MM-DD``)."""
_HOURS: dict[int, str] = {}


def rollup_hour(utc: float) -> str:
    """The hour key ``YYYY-MM-DD HH`` (UTC); its first 10 characters are the day key."""
    hour = int(utc // 3600)
    text = _HOURS.get(hour)
    if text is None:
        if len(_HOURS) > 65536:
            _HOURS.clear()
        text = _HOURS[hour] = time.strftime("%Y-%m-%d %H", time.gmtime(hour * 3600))
    return text


def rollup_bucket(value: Any, per_ms: int = 10) -> int:
    """Latency buckets, nearest (0.1 ms by default; the per-pair histogram uses 1 ms), -1 for
    no value: the same rounding as the reports' SQL."""
    return -1 if value is None else int(value * per_ms + 0.5)


def _add(rollup: dict[Any, list[Any]], key: tuple[Any, ...], value: Any, amount: Any = 0) -> None:
    """Count one sample under ``key``: a latency ``value`` (summed, maximum kept) or, when
    ``value`` is None, ``amount`` (summed: e.g. retransmissions)."""
    added = amount if value is None else value
    entry = rollup.get(key)
    if entry is None:
        rollup[key] = [1, added, value]
        return
    entry[0] += 1
    entry[1] += added
    if value is not None and (entry[2] is None or value > entry[2]):
        entry[2] = value


def _roll(
    rollup: dict[Any, list[Any]], node: str, utc: float, kind: str, peer: Any, f: dict[str, Any]
) -> None:
    hour = rollup_hour(utc)
    day = hour[:10]
    if kind == "handover":
        value = f.get("route_switch_ms")
        _add(rollup, (hour, "route_switch", "", "", rollup_bucket(value)), value)
        pair = (f.get("from_mag") or "?", f.get("to_mag") or peer or "?")
        _add(rollup, (day, "pair", *pair, rollup_bucket(value, 1)), value)
    elif kind == "pba":
        status = f.get("status")
        retransmissions = f.get("retransmissions") or 0
        _add(rollup, (day, "signaling", node, "PBU sent", 0), None, retransmissions)
        if isinstance(status, int) and status < 128:
            value = f.get("event_to_ack_ms")
            _add(rollup, (day, "registration", node, "", rollup_bucket(value)), value)
            value = f.get("rtt_ms")
            _add(rollup, (day, "pbu_rtt", node, "", rollup_bucket(value)), value)
    elif kind == "pbu":
        _add(rollup, (day, "signaling", node, "PBU received", 0), None, 0)
        if f.get("reason") == "source is not a MAG peer":
            _add(rollup, (day, "strangers", node, "", 0), None, 0)
    elif kind in _SIGNALING_LABELS:
        label = _SIGNALING_LABELS[kind]
        _add(rollup, (day, "signaling", node, label, 0), None, 0)
    else:  # mobility packets from strangers
        _add(rollup, (day, "strangers", node, "", 0), None, 0)


def _upsert_item(b: BindingSnapshot) -> _Item:
    return (
        "u", b.mn_id, b.home_network_prefixes, b.ipv4_home_address, b.mag, b.proxy_coa,
        b.signalling_address, b.transport.value, b.link_layer_identifier, b.access_technology,
        b.lifetime, b.registered_utc, b.refreshed_utc, b.last_handover_utc, b.last_sequence,
        b.last_timestamp, b.gre_key_downlink, b.gre_key_uplink, b.deregistered,
    )  # fmt: skip


class _Prepared(NamedTuple):
    deletes: list[tuple[Any, ...]]
    upserts: list[tuple[Any, ...]]
    audits: list[tuple[Any, ...]]
    typed: dict[str, list[_Row]]
    rollup: list[tuple[tuple[Any, ...], list[Any]]]
    inserts: list[tuple[str, list[Any]]]
    """SQLite: the audit and typed rows as ready multi-row INSERTs (then ``audits`` and
    ``typed`` are empty)."""


class _Pipeline:
    """Commits prepared batches in order on its own thread, so that the next batch is prepared
    (Python) while this one is written (the database drivers release the GIL meanwhile)."""

    def __init__(
        self, rows: _RowWriter, done: Callable[[Any], None], on_failure: Any = None
    ) -> None:
        self._rows = rows
        self._done = done
        self._on_failure = on_failure
        self._queue: queue.Queue[tuple[_Prepared, Any] | None] = queue.Queue(maxsize=2)
        self._thread = threading.Thread(target=self._run, name="store-commit", daemon=True)
        self._thread.start()

    def put(self, prepared: _Prepared, token: Any) -> None:
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


class _RowWriter:
    """Turns items into rows and writes them in one transaction (DBAPI executemany)."""

    def __init__(self, engine: Engine, node: str, *, lma: bool = False) -> None:
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {dialect!r} (SQLite or PostgreSQL)")
        self.engine = engine
        self.node = node
        self.sql = _statements(dialect)
        self.when: Any = _sqlite_time if dialect == "sqlite" else _dt
        self.kinds = {**REPORT_KINDS, **_LMA_OVERRIDES} if lma else REPORT_KINDS
        self.copy = dialect == "postgresql" and engine.dialect.driver == "psycopg"
        self.text_copy: set[str] = set()  # tables whose rows did not fit a binary COPY
        self.sqlite = dialect == "sqlite"

    def prepare(self, items: list[_Item]) -> _Prepared:
        """Turn items into rows (the Python half of a write)."""
        latest: dict[bytes, _Item] = {}
        audits: list[tuple[Any, ...]] = []
        typed: dict[str, list[_Row]] = {}
        rollup: dict[tuple[str, str, str, str, int], list[Any]] = {}
        when = self.when
        dumps = json.dumps
        node = self.node
        kinds = self.kinds
        names: dict[bytes, str] = {}
        times: dict[float, Any] = {}
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
                if kind in _ROLLUP_KINDS:
                    _roll(rollup, node, utc, kind, peer, fields)
                report = kinds.get(kind)
                if report is not None:
                    table, build = report
                    typed.setdefault(table, []).append(build(node, at, mn, peer, fields))
                else:
                    audits.append((at, node, kind, mn, peer, dumps(fields, default=str)))
            else:
                latest[item[1]] = item  # the last write of a binding in the batch wins
        upserts = [self._binding_row(i) for i in latest.values() if i[0] == "u"]
        deletes = [(node, m) for m, i in latest.items() if i[0] == "d"]
        inserts: list[tuple[str, list[Any]]] = []
        if self.sqlite:
            # The statements and their flat parameter lists are built here, so that the commit
            # (on the pipeline's thread) runs almost no Python: every time it gives up the GIL
            # to SQLite while this side runs Python, getting it back costs up to the
            # interpreter's switch interval (measured: a commit 7 s alone took 120 s beside a
            # busy thread when it also flattened the rows).
            if audits:
                inserts += _multi_row_inserts("audit_events", _AUDIT_COLUMNS, audits)
            for table, rows in typed.items():
                inserts += _multi_row_inserts(table, _TABLE_COLUMNS[table], rows)
            # The rollup too: hundreds of one-row upserts per batch gave the GIL up and waited
            # to win it back hundreds of times (a fifth of the store's throughput).
            inserts += _rollup_upserts([(*k, *v) for k, v in sorted(rollup.items())])
            return _Prepared(deletes, upserts, [], {}, [], inserts)
        return _Prepared(deletes, upserts, audits, typed, sorted(rollup.items()), inserts)

    def commit(self, prepared: _Prepared) -> None:
        """Write one prepared batch in one transaction."""
        deletes, upserts, audits, typed, rollup, inserts = prepared
        if not (deletes or upserts or audits or typed or rollup or inserts):
            return
        # Plain DBAPI executemany with SQL prepared once: several times faster than the
        # SQLAlchemy row processing, which matters at tens of thousands of rows per second.
        with self.engine.begin() as connection:
            if deletes:
                connection.exec_driver_sql(self.sql["delete"], deletes)
            if upserts:
                connection.exec_driver_sql(self.sql["upsert"], upserts)
            if self.copy:  # PostgreSQL: COPY is several times faster than executemany
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                if audits:
                    self._copy(cursor, "audit_events", _AUDIT_COLUMNS, audits)
                for table, rows in typed.items():
                    self._copy(cursor, table, _TABLE_COLUMNS[table], rows)
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

    def _copy(self, cursor: Any, table: str, columns: tuple[str, ...], rows: list[_Row]) -> None:
        """PostgreSQL COPY, binary: the server parses no text (timestamps above all) and the
        driver's C dumpers format the rows (measured: the commit thread's CPU 3.5 -> 1.2 s per
        500,000 rows, the server's 10% lower). A table whose rows do not fit the binary form of
        its columns is written as text COPY from then on (see ``_BinaryCopyRefused``)."""
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        if table in self.text_copy:
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        try:
            types, int4 = _binary_copy_types(table, columns)
            # The binary int4 dumper keeps the low 32 bits of a larger integer (text COPY is
            # refused by the server instead): check the range first.
            for row in rows:
                for i in int4:
                    value = row[i]
                    if value is not None and not -2147483648 <= value <= 2147483647:
                        raise OverflowError(f"{columns[i]} = {value!r} is out of range")
            with cursor.copy(sql + " (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
        except (TypeError, ValueError, OverflowError) as exc:
            self.text_copy.add(table)
            raise _BinaryCopyRefused(f"{table}: {exc}") from exc

    def write(self, items: list[_Item]) -> None:
        """Prepare and commit ``items``."""
        self.commit(self.prepare(items))

    def _binding_row(self, i: _Item) -> tuple[Any, ...]:
        when = self.when
        (_, mn_id, prefixes, ipv4, mag, proxy_coa, signalling, transport, lli, att, lifetime,
         registered, refreshed, handover, sequence, stamp, gre_down, gre_up, deregistered,
         ) = i  # fmt: skip
        return (
            self.node, mn_id, mn_id_text(mn_id), ",".join(prefixes), ipv4, mag, proxy_coa,
            signalling, transport, _mac_text(lli), att, lifetime, when(registered),
            when(refreshed), when(handover) if handover is not None else None, sequence, stamp,
            gre_down, gre_up, deregistered,
        )  # fmt: skip

    def commit_with_retry(self, prepared: _Prepared, on_failure: Any = None) -> None:
        delay = 0.05
        # The raw cursors (multi-row INSERT, COPY) raise the driver's own errors.
        errors = (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error)
        while True:
            try:
                self.commit(prepared)
                return
            except _BinaryCopyRefused as exc:  # rolled back; again at once, as text COPY
                log.warning("store: binary COPY refused (%s); that table is written as text", exc)
            except errors as exc:
                if on_failure is not None:
                    on_failure()
                log.error("store commit failed (%s); retrying in %.2f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)


def _checkpoints(path: str, stop: threading.Event, every: float = 0.5) -> None:
    """Copy the WAL into the database in the background (PASSIVE: never blocks the writer), so
    that commits append to the WAL and never wait for checkpoint I/O."""
    import sqlite3

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


_GC_EVERY = 60.0  # seconds between the writer process's garbage collections


class _PeriodicCollection:
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


def _writer_process(url: str, node: str, conn: Any, lma: bool = False) -> None:
    """The body of the store's writer process: receive batches, commit, acknowledge."""
    import gc

    from netlmm_aaa.persistence.database import make_engine

    engine = make_engine(url)
    writer = _RowWriter(engine, node, lma=lma)
    # Batches are hundreds of thousands of fresh tuples and none of them form cycles (a full
    # collection after ten prepared and committed batches of 20,000 records finds no garbage):
    # even with its thresholds raised to 50,000 allocations the collector took ~18% of this
    # thread, and the filled-store rate was ~10% lower (A/B on a 10M-row file). It runs here on
    # a clock instead, between batches, so that any cycle a library makes is still freed within
    # a minute.
    gc.freeze()
    gc.disable()
    collect = _PeriodicCollection(gc.collect, _GC_EVERY)
    # The commit thread hands the GIL to SQLite for every statement and must win it back from
    # this thread (unpickling, preparing the next batch); with the default 5 ms switch interval
    # those waits slowed its commits by half (filled store: 41-44k -> 47-50k rows/s).
    sys.setswitchinterval(0.0002)
    # Acknowledgements are batch ids; a failed commit attempt is reported as ("failure",).
    pipeline = _Pipeline(writer, conn.send, lambda: conn.send(("failure",)))
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


class SqlStore:
    """Persistence of one daemon (``node`` names it in every row)."""

    def __init__(
        self,
        engine: Engine,
        node: str,
        *,
        process: bool = False,
        lma: bool = False,
        checkpoints: bool = True,
    ) -> None:
        """``process=True`` commits in a child process, so that SQL work never competes with
        the daemon's event loop for the GIL (the LMA uses it); otherwise on a thread.
        ``lma=True`` files the records of an LMA (its revocations are binding changes).
        ``checkpoints``: run the background WAL checkpointer of a SQLite file (one per file is
        enough when several stores share it)."""
        self.engine = engine
        self.node = node
        self._rows = _RowWriter(engine, node, lma=lma)
        self._queue: queue.Queue[tuple[list[_Item], Future[None]] | None] = queue.Queue()
        self._process: Any = None
        self._conn: Any = None
        self._acks: threading.Thread | None = None
        self._lma = lma
        self._closing = False
        self._conn_lock = threading.Lock()
        self.writer_restarts = 0
        self._last_restart = float("-inf")
        self._restart_delay = 0.0
        """How often the writer process died and was restarted (process mode)."""
        if process:
            self._start_process()
        self._thread = threading.Thread(target=self._writer, name=f"store-{node}", daemon=True)
        self.commits = 0
        self.failures = 0
        self.observers: list[Callable[[list[RecordAudit]], None]] = []
        """Called with the audit records of every submission (the daemons' metrics)."""
        self._thread.start()
        self._stop_checkpoints = threading.Event()
        self._checkpointer: threading.Thread | None = None
        path = sqlite_path(engine)
        if path is not None and checkpoints:
            self._checkpointer = threading.Thread(
                target=_checkpoints, args=(path, self._stop_checkpoints), daemon=True,
                name=f"checkpoint-{node}",
            )  # fmt: skip
            self._checkpointer.start()

    def _start_process(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        url = self.engine.url.render_as_string(hide_password=False)
        self._process = context.Process(
            target=_writer_process,
            args=(url, self.node, child, self._lma),
            name=f"store-{self.node}",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._conn = parent

    # ------------------------------------------------------------------ startup (synchronous)

    def load_bindings(self) -> list[BindingSnapshot]:
        """Every binding this LMA had committed."""
        # Not the first three (lma, mn_id_raw, mn_id text): mn_id_raw comes first, the others
        # are not needed (a million rows: two million strings saved).
        columns = ", ".join(("mn_id_raw", *_BINDING_COLUMNS[3:]))
        mark = "?" if self.engine.dialect.name == "sqlite" else "%s"
        parse_time = _parse_sqlite_time if self.engine.dialect.name == "sqlite" else _ts
        with self.engine.connect() as connection:
            # The DBAPI cursor directly: a restart reads every binding (a million of them in
            # the restart target) and SQLAlchemy's row objects cost more than the parsing.
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(f"SELECT {columns} FROM lma_bindings WHERE lma = {mark}", (self.node,))
            snapshots: list[BindingSnapshot] = []
            while rows := cursor.fetchmany(10_000):
                snapshots += [_snapshot_from_row(row, parse_time) for row in rows]
            cursor.close()
            return snapshots

    def load_policies(self) -> list[MobileNodePolicy]:
        """The SQL policy profiles that apply to this LMA (its own and the shared ones)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(MobileNodePolicyRow).where(
                    (MobileNodePolicyRow.lma == self.node) | (MobileNodePolicyRow.lma.is_(None))
                )
            )
            return [
                MobileNodePolicy(
                    mn_id=row.mn_id.encode("utf-8"),
                    home_network_prefix=row.home_network_prefix,
                    ipv4_home_address=row.ipv4_home_address,
                    proxy_mobility=bool(row.proxy_mobility),
                    ipv4_service=bool(row.ipv4_service),
                    ipv6_service=bool(row.ipv6_service),
                    allowed_mags=(
                        frozenset(m.strip() for m in row.allowed_mags.split(",") if m.strip())
                        if row.allowed_mags is not None
                        else None
                    ),
                )
                for row in rows
            ]

    def bump_restart_counter(self) -> int:
        """Increment and return the persisted RFC 5847 restart counter."""
        with self.engine.begin() as connection:
            current = connection.execute(
                select(NodeState.value).where(
                    NodeState.node == self.node, NodeState.key == "restart_counter"
                )
            ).scalar()
            value = (int(current) + 1) & 0xFFFF_FFFF if current is not None else 1
            if current is None:
                connection.execute(
                    insert(NodeState).values(
                        node=self.node, key="restart_counter", value=str(value)
                    )
                )
            else:
                connection.execute(
                    NodeState.__table__.update()  # type: ignore[attr-defined]
                    .where(NodeState.node == self.node, NodeState.key == "restart_counter")
                    .values(value=str(value))
                )
        return value

    # ------------------------------------------------------------------ writes (any thread)

    def submit(
        self,
        *,
        store: Iterable[BindingSnapshot] = (),
        delete: Iterable[bytes] = (),
        audit: Iterable[RecordAudit] = (),
    ) -> Future[None]:
        """Queue writes; the future completes once they are committed."""
        items: list[_Item] = [_upsert_item(b) for b in store]
        items += [("d", m) for m in delete]
        if self.observers:
            audit = list(audit)
            for observe in self.observers:
                observe(audit)
        # The plain text of the kind crosses to the writer (thread or process) and the driver.
        items += [("a", r.utc, str(r.kind), r.mn_id, r.peer, r.fields) for r in audit]
        future: Future[None] = Future()
        if not items:
            future.set_result(None)
            return future
        self._queue.put((items, future))
        return future

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything queued so far is committed."""
        marker: Future[None] = Future()
        self._queue.put(([], marker))
        marker.result(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the writer."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        self._stop_checkpoints.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout)
        if self._process is not None:
            self._closing = True
            with contextlib.suppress(OSError, ValueError), self._conn_lock:
                self._conn.send(None)
            if self._acks is not None:
                self._acks.join(timeout)  # the process acknowledges everything, then exits
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.kill()
            self._conn.close()
            self._process = None

    # ------------------------------------------------------------------ writer thread

    def _writer(self) -> None:
        if self._conn is not None:
            self._send_batches()
            return
        pipeline = _Pipeline(self._rows, self._batch_done, self._count_failure)
        try:
            while True:
                batch, stop = self._next_batch()
                if batch:
                    items = [i for entries, _ in batch for i in entries]
                    pipeline.put(self._rows.prepare(items), batch)
                if stop:
                    return
        finally:
            pipeline.close()

    def _next_batch(self) -> tuple[list[tuple[list[_Item], Future[None]]], bool]:
        """Everything queued (after a short linger), and whether the store is closing."""
        item = self._queue.get()
        if item is None:
            return [], True
        time.sleep(_LINGER)  # let a burst accumulate: fewer, larger transactions
        batch = [item]
        rows = len(item[0])
        # Bounded in rows too, so a backlog flows through the pipeline in overlapping batches.
        while len(batch) < _BATCH_LIMIT and rows < _BATCH_ROWS:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._queue.put(None)  # seen again once this batch is on its way
                return batch, False
            batch.append(more)
            rows += len(more[0])
        return batch, False

    def _batch_done(self, batch: list[tuple[list[_Item], Future[None]]]) -> None:
        self.commits += 1
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    def _send_batches(self) -> None:
        """Process mode: send batches to the writer process (up to two in flight, so that it
        prepares one while committing the other); acknowledgements arrive on another thread.
        If the writer process dies, it is restarted and the unacknowledged batches are sent
        again (at least once: a batch committed just before the crash may be written twice)."""
        in_flight = threading.Semaphore(2)
        pending: dict[int, tuple[list[tuple[list[_Item], Future[None]]], list[_Item]]] = {}

        def receive_acks() -> None:
            while True:
                try:
                    message = self._conn.recv()
                except (EOFError, OSError):
                    if self._closing:
                        return
                    self._restart_writer(pending)
                    continue
                if type(message) is tuple:  # ("failure",): a commit attempt failed, retrying
                    self.failures += 1
                    continue
                with self._conn_lock:
                    entry = pending.pop(message, None)
                if entry is not None:
                    self._batch_done(entry[0])
                    in_flight.release()

        self._acks = threading.Thread(target=receive_acks, name="store-acks", daemon=True)
        self._acks.start()
        batch_id = 0
        while True:
            # A slot first, then the batch: while both slots are busy, submissions keep piling
            # up in the queue and leave together as the next batch (one commit, one fsync),
            # instead of a small batch waiting with a slot's worth of latency.
            in_flight.acquire()
            batch, stop = self._next_batch()
            if not batch:
                in_flight.release()
            else:
                batch_id += 1
                items = [i for entries, _ in batch for i in entries]
                with self._conn_lock:
                    pending[batch_id] = (batch, items)
                    # On a dead writer the acknowledgement thread restarts it and resends.
                    with contextlib.suppress(OSError, ValueError):
                        self._conn.send((batch_id, items))
            if stop:
                return

    def _restart_writer(
        self, pending: dict[int, tuple[list[tuple[list[_Item], Future[None]]], list[_Item]]]
    ) -> None:
        # A writer that dies again at once (a database it cannot open, a broken interpreter)
        # is restarted with a growing pause, not in a tight loop.
        now = time.monotonic()
        if now - self._last_restart < 5.0:
            self._restart_delay = min(5.0, max(0.1, self._restart_delay * 2))
            time.sleep(self._restart_delay)
        else:
            self._restart_delay = 0.0
        self._last_restart = time.monotonic()
        with self._conn_lock:
            code = self._process.exitcode if self._process is not None else None
            log.error(
                "store writer process of %s exited (code %s); restarting it, %d batches resent",
                self.node, code, len(pending),
            )  # fmt: skip
            self.failures += 1
            self.writer_restarts += 1
            if self._process is not None:
                self._process.join(1)
                if self._process.is_alive():
                    self._process.kill()
            with contextlib.suppress(OSError):
                self._conn.close()
            self._start_process()
            # If the new writer dies too, the next receive sees it and restarts it again.
            with contextlib.suppress(OSError, ValueError):
                for batch_id, (_batch, items) in sorted(pending.items()):
                    self._conn.send((batch_id, items))

    def _count_failure(self) -> None:
        self.failures += 1


_BINDING_COLUMNS = (
    "lma", "mn_id_raw", "mn_id", "home_network_prefixes", "ipv4_home_address", "mag",
    "proxy_coa", "signalling_address", "transport", "link_layer_identifier",
    "access_technology", "lifetime", "registered_at", "refreshed_at", "last_handover_at",
    "last_sequence", "last_timestamp", "gre_key_downlink", "gre_key_uplink", "deregistered",
)  # fmt: skip


_AUDIT_COLUMNS = ("at", "node", "kind", "mn_id", "peer", "details")


# Rows per multi-row INSERT in SQLite: the widest table has 14 columns, 14 * 1024 is well under
# SQLite's 32,766 variables; fewer, longer statements mean fewer GIL hand-offs per commit.
_MULTI_ROWS = 1024

_NODE_COLUMN = 1  # the writing node's place in every audit table's row (NOT NULL)
_LITERAL_COLUMNS: dict[str, tuple[int, ...]] = {
    "audit_events": (_NODE_COLUMN, 2),  # kind
    "accounting_records": (_NODE_COLUMN, 3),  # outcome
    "station_events": (_NODE_COLUMN, 2),  # event
    "signaling": (_NODE_COLUMN, 3, 4),  # message, direction
    "binding_changes": (_NODE_COLUMN, 2),  # change
    "handovers": (_NODE_COLUMN,),
}
"""SQLite: per table, the columns whose values come from the code, not from the network (the
writing node and the names of events, outcomes, messages): a handful of distinct strings,
written into the statements as literals instead of bound per row."""


def _multi_row_inserts(
    table: str, columns: tuple[str, ...], rows: list[_Row]
) -> list[tuple[str, list[Any]]]:
    """SQLite: ``rows`` as multi-row ``INSERT ... VALUES (...), (...)`` statements with their
    flat parameter lists; these cost the SQLite VM and the driver far less per row than one
    statement per row.

    Rows are grouped by their *shape*: which of their values are None, and the values of the
    table's ``_LITERAL_COLUMNS``. None values are written as ``NULL`` and the literal columns'
    values as quoted literals in the statement instead of bound: Python's sqlite3 module binds
    each value with the GIL held (about 1 us for a None, which runs its adapter look-up), and
    audit rows are full of both. Each shape's bound values are picked out of the rows by an
    ``itemgetter`` (C code, no Python loop per value)."""
    literal = _LITERAL_COLUMNS[table]
    literals_of = _picker(literal)
    groups: dict[tuple[Any, ...], list[_Row]] = {}
    for row in rows:
        # One flat tuple (which values are None, then the literal values): unpacking into a
        # tuple display is faster than building and hashing nested tuples (measured).
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
        whole = len(group) - len(group) % _MULTI_ROWS
        for start in range(0, whole, _MULTI_ROWS):
            statements.append((full, list(flat(map(bound, group[start : start + _MULTI_ROWS])))))
        rest = group[whole:]
        if rest:
            head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            statements.append((head + ", ".join([one] * len(rest)), list(flat(map(bound, rest)))))
    return statements


_NONES = repeat(None)
_Shape = tuple[str, tuple[bool, ...], tuple[Any, ...]]
_SHAPES: dict[_Shape, tuple[str, str, Callable[[_Row], tuple[Any, ...]]]] = {}


def _picker(index: tuple[int, ...]) -> Callable[[_Row], tuple[Any, ...]]:
    """What returns a row's values at ``index`` as a tuple (C code for two or more)."""
    if len(index) > 1:
        return itemgetter(*index)

    def pick(row: _Row) -> tuple[Any, ...]:  # itemgetter of one index returns no tuple
        return tuple([row[i] for i in index])

    return pick


def _sql_literal(value: Any) -> str:
    """A literal column's value as SQL: NULL, or a quoted string (quotes doubled)."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def _shape_sql(
    table: str, columns: tuple[str, ...], nulls: tuple[bool, ...], values: tuple[Any, ...]
) -> tuple[str, str, Callable[[_Row], tuple[Any, ...]]]:
    """For one shape (see ``_multi_row_inserts``): one row's ``(?, 'node', NULL, ...)``, the
    full ``_MULTI_ROWS`` statement, and what picks a row's bound values out of it."""
    key = (table, nulls, values)
    known = _SHAPES.get(key)
    if known is None:
        if len(_SHAPES) > 4096:  # bounded: the row builders make a few shapes per table
            _SHAPES.clear()
        literal = dict(zip(_LITERAL_COLUMNS[table], values, strict=True))
        marks = [
            _sql_literal(literal[i]) if i in literal else "NULL" if null else "?"
            for i, null in enumerate(nulls)
        ]
        one = "(" + ", ".join(marks) + ")"
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        bound = _picker(tuple(i for i, mark in enumerate(marks) if mark == "?"))
        known = _SHAPES[key] = (one, head + ", ".join([one] * _MULTI_ROWS), bound)
    return known


class _BinaryCopyRefused(Exception):
    """A row did not fit the binary COPY of its table (a value of another Python type than its
    column's, or an integer out of range); the transaction is rolled back and written again."""


_BINARY_TYPES: dict[tuple[str, tuple[str, ...]], tuple[list[str], tuple[int, ...]]] = {}


def _binary_copy_types(table: str, columns: tuple[str, ...]) -> tuple[list[str], tuple[int, ...]]:
    """The PostgreSQL type of each column for a binary COPY (from the models), and the
    positions of the ``integer`` columns. Strings go as ``text``, which is also the binary
    form of ``varchar`` and ``json``."""
    known = _BINARY_TYPES.get((table, columns))
    if known is None:
        types: list[str] = []
        for name in columns:
            kind = Base.metadata.tables[table].columns[name].type
            if isinstance(kind, DateTime):
                types.append("timestamptz" if kind.timezone else "timestamp")
            elif isinstance(kind, BigInteger):
                types.append("int8")
            elif isinstance(kind, Integer):
                types.append("int4")
            elif isinstance(kind, Float):
                types.append("float8")
            elif isinstance(kind, Boolean):
                types.append("bool")
            elif isinstance(kind, LargeBinary):
                types.append("bytea")
            elif isinstance(kind, String | JSON):  # Text is a String
                types.append("text")
            else:
                raise TypeError(f"no binary COPY type for {table}.{name} ({kind})")
        int4 = tuple(i for i, t in enumerate(types) if t == "int4")
        known = _BINARY_TYPES[(table, columns)] = (types, int4)
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
_ROLLUP_FULL = _ROLLUP_HEAD + ", ".join([_ROLLUP_ROW] * _MULTI_ROWS) + _ROLLUP_TAIL


def _rollup_upserts(rows: list[tuple[Any, ...]]) -> list[tuple[str, list[Any]]]:
    """SQLite: rollup rows (distinct keys, in key order) as multi-row upserts."""
    statements: list[tuple[str, list[Any]]] = []
    for start in range(0, len(rows), _MULTI_ROWS):
        chunk = rows[start : start + _MULTI_ROWS]
        sql = (
            _ROLLUP_FULL
            if len(chunk) == _MULTI_ROWS
            else _ROLLUP_HEAD + ", ".join([_ROLLUP_ROW] * len(chunk)) + _ROLLUP_TAIL
        )
        statements.append((sql, [v for row in chunk for v in row]))
    return statements


def _statements(dialect: str) -> dict[str, str]:
    mark = "?" if dialect == "sqlite" else "%s"
    json_value = mark if dialect == "sqlite" else f"CAST({mark} AS JSON)"
    columns = ", ".join(_BINDING_COLUMNS)
    values = ", ".join(mark for _ in _BINDING_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _BINDING_COLUMNS[2:])
    inserts = {
        table: f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(mark for _ in cols)})"
        for table, cols in _TABLE_COLUMNS.items()
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
        "audit": (
            "INSERT INTO audit_events (at, node, kind, mn_id, peer, details) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {json_value})"
        ),
    }


_SECONDS: dict[int, str] = {}  # whole second -> "YYYY-MM-DD HH:MM:SS", recently formatted


def _sqlite_time(value: float) -> str:
    # The text form SQLAlchemy's SQLite DateTime reads back: naive UTC with microseconds.
    # Formatting each second once keeps strftime off the profile at 100k rows/s.
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


def _parse_sqlite_time(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _ts(value)
    if len(value) == 26 and value[19] == "." and value[20:].isdigit():  # what _sqlite_time writes
        second = _SECOND_VALUES.get(value[:19])
        if second is None:
            if len(_SECOND_VALUES) > 65536:
                _SECOND_VALUES.clear()
            stamp = datetime.fromisoformat(value[:19]).replace(tzinfo=UTC).timestamp()
            second = _SECOND_VALUES[value[:19]] = int(stamp)
        # The same float as datetime.timestamp(): (seconds * 10**6 + microseconds) / 10**6.
        return (second * 1_000_000 + int(value[20:])) / 1_000_000
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


_TRANSPORTS = {t.value: t for t in Transport}


def _split_prefixes(joined: str) -> tuple[str, ...]:
    parts = joined.split(",")
    return tuple(parts) if "" not in parts else tuple(p for p in parts if p)


def _snapshot_from_row(row: Any, parse_time: Any) -> BindingSnapshot:
    (mn_id_raw, prefixes, ipv4, mag, proxy_coa, signalling, transport, lli, att, lifetime,
     registered, refreshed, handover, sequence, stamp, gre_down, gre_up, deregistered,
     ) = row  # fmt: skip
    return BindingSnapshot(
        mn_id=mn_id_raw if type(mn_id_raw) is bytes else bytes(mn_id_raw),
        home_network_prefixes=_split_prefixes(prefixes),
        ipv4_home_address=ipv4,
        mag=mag,
        proxy_coa=proxy_coa,
        signalling_address=signalling,
        transport=_TRANSPORTS.get(transport) or Transport(transport),
        link_layer_identifier=bytes.fromhex(lli.replace(":", "")) if lli else b"",
        access_technology=att,
        lifetime=lifetime,
        registered_utc=parse_time(registered) or 0.0,
        refreshed_utc=parse_time(refreshed) or 0.0,
        last_handover_utc=parse_time(handover),
        last_sequence=sequence,
        last_timestamp=stamp,
        gre_key_downlink=gre_down,
        gre_key_uplink=gre_up,
        deregistered=bool(deregistered),
    )
