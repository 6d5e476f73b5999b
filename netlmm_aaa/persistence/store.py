"""The SQL store of a daemon: bindings, node state and audit records, written off the event loop.

One writer thread takes everything queued since its last commit and writes it in one transaction
(group commit): per MN-ID only the latest binding write survives the batch, audit records are
inserted in one executemany. Callers get a future that completes when their write is committed.
A failing database is retried with back-off; nothing queued is dropped.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import SQLAlchemyError

from netlmm_aaa.core.actions import BindingSnapshot, RecordAudit
from netlmm_aaa.core.events import Transport
from netlmm_aaa.core.lma_policy import MobileNodePolicy
from netlmm_aaa.persistence.models import MobileNodePolicyRow, NodeState

log = logging.getLogger(__name__)

_BATCH_LIMIT = 20_000
_LINGER = 0.005


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


@dataclass(frozen=True, slots=True)
class _Upsert:
    binding: BindingSnapshot


@dataclass(frozen=True, slots=True)
class _Delete:
    mn_id: bytes


@dataclass(frozen=True, slots=True)
class _Audit:
    record: RecordAudit


_Op = _Upsert | _Delete | _Audit


class SqlStore:
    """Persistence of one daemon (``node`` names it in every row)."""

    def __init__(self, engine: Engine, node: str) -> None:
        self.engine = engine
        self.node = node
        self._queue: queue.Queue[tuple[list[_Op], Future[None]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._writer, name=f"store-{node}", daemon=True)
        self._stopping = False
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {dialect!r} (SQLite or PostgreSQL)")
        self._sql = _statements(dialect)
        self._when: Any = _sqlite_time if dialect == "sqlite" else _dt
        self.commits = 0
        self.failures = 0
        self._thread.start()

    # ------------------------------------------------------------------ startup (synchronous)

    def load_bindings(self) -> list[BindingSnapshot]:
        """Every binding this LMA had committed."""
        columns = ", ".join(_BINDING_COLUMNS)
        mark = "?" if self.engine.dialect.name == "sqlite" else "%s"
        parse_time = _parse_sqlite_time if self.engine.dialect.name == "sqlite" else _ts
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                f"SELECT {columns} FROM lma_bindings WHERE lma = {mark}", (self.node,)
            )
            return [_snapshot_from_row(row, parse_time) for row in rows]

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
        ops: list[_Op] = [_Upsert(b) for b in store]
        ops += [_Delete(m) for m in delete]
        ops += [_Audit(r) for r in audit]
        future: Future[None] = Future()
        if not ops:
            future.set_result(None)
            return future
        self._queue.put((ops, future))
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

    # ------------------------------------------------------------------ writer thread

    def _writer(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            time.sleep(_LINGER)  # let a burst accumulate: fewer, larger transactions
            batch = [item]
            stop = False
            while len(batch) < _BATCH_LIMIT:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit_with_retry(batch)
            if stop:
                return

    def _commit_with_retry(self, batch: list[tuple[list[_Op], Future[None]]]) -> None:
        delay = 0.05
        while True:
            try:
                self._commit([op for ops, _ in batch for op in ops])
            except SQLAlchemyError as exc:
                self.failures += 1
                log.error("store commit failed (%s); retrying in %.2f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self.commits += 1
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
            return

    def _commit(self, ops: list[_Op]) -> None:
        latest: dict[bytes, _Op] = {}
        audits: list[tuple[Any, ...]] = []
        when = self._when
        dumps = json.dumps
        node = self.node
        for op in ops:
            if type(op) is _Audit:
                r = op.record
                audits.append(
                    (
                        when(r.utc),
                        node,
                        r.kind,
                        mn_id_text(r.mn_id) if r.mn_id is not None else None,
                        r.peer,
                        dumps(r.fields, default=str),
                    )
                )
            elif type(op) is _Upsert:
                latest[op.binding.mn_id] = op
            else:
                latest[op.mn_id] = op  # type: ignore[union-attr]
        upserts = [self._binding_row(op.binding) for op in latest.values() if type(op) is _Upsert]
        deletes = [(node, m) for m, op in latest.items() if type(op) is _Delete]
        # Plain DBAPI executemany with SQL prepared once: several times faster than the
        # SQLAlchemy row processing, which matters at tens of thousands of rows per second.
        with self.engine.begin() as connection:
            if deletes:
                connection.exec_driver_sql(self._sql["delete"], deletes)
            if upserts:
                connection.exec_driver_sql(self._sql["upsert"], upserts)
            if audits:
                connection.exec_driver_sql(self._sql["audit"], audits)

    def _binding_row(self, b: BindingSnapshot) -> tuple[Any, ...]:
        when = self._when
        return (
            self.node,
            b.mn_id,
            mn_id_text(b.mn_id),
            ",".join(b.home_network_prefixes),
            b.ipv4_home_address,
            b.mag,
            b.proxy_coa,
            b.signalling_address,
            b.transport.value,
            _mac_text(b.link_layer_identifier),
            b.access_technology,
            b.lifetime,
            when(b.registered_utc),
            when(b.refreshed_utc),
            when(b.last_handover_utc) if b.last_handover_utc is not None else None,
            b.last_sequence,
            b.last_timestamp,
            b.gre_key_downlink,
            b.gre_key_uplink,
            b.deregistered,
        )


_BINDING_COLUMNS = (
    "lma", "mn_id_raw", "mn_id", "home_network_prefixes", "ipv4_home_address", "mag",
    "proxy_coa", "signalling_address", "transport", "link_layer_identifier",
    "access_technology", "lifetime", "registered_at", "refreshed_at", "last_handover_at",
    "last_sequence", "last_timestamp", "gre_key_downlink", "gre_key_uplink", "deregistered",
)  # fmt: skip


def _statements(dialect: str) -> dict[str, str]:
    mark = "?" if dialect == "sqlite" else "%s"
    json_value = mark if dialect == "sqlite" else f"CAST({mark} AS JSON)"
    columns = ", ".join(_BINDING_COLUMNS)
    values = ", ".join(mark for _ in _BINDING_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _BINDING_COLUMNS[2:])
    return {
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


def _sqlite_time(value: float) -> str:
    # The text form SQLAlchemy's SQLite DateTime reads back: naive UTC with microseconds.
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _parse_sqlite_time(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _ts(value)
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def _snapshot_from_row(row: Any, parse_time: Any) -> BindingSnapshot:
    (_lma, mn_id_raw, _mn_id, prefixes, ipv4, mag, proxy_coa, signalling, transport, lli,
     att, lifetime, registered, refreshed, handover, sequence, stamp, gre_down, gre_up,
     deregistered) = row  # fmt: skip
    return BindingSnapshot(
        mn_id=bytes(mn_id_raw),
        home_network_prefixes=tuple(p for p in prefixes.split(",") if p),
        ipv4_home_address=ipv4,
        mag=mag,
        proxy_coa=proxy_coa,
        signalling_address=signalling,
        transport=Transport(transport),
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
