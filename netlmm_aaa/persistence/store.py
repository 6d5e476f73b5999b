"""The SQL store of a daemon: bindings, node state and audit records, written off the event loop.

One writer thread takes everything queued since its last commit and writes it in one transaction
(group commit): per MN-ID only the latest binding write survives the batch, audit records are
inserted in one executemany. Callers get a future that completes when their write is committed.
A failing database is retried with back-off; nothing queued is dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from netlmm_aaa.core.actions import BindingSnapshot, RecordAudit
from netlmm_aaa.core.events import Transport
from netlmm_aaa.persistence.models import AuditEvent, LmaBinding, NodeState

log = logging.getLogger(__name__)

_BATCH_LIMIT = 20_000


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
        self.commits = 0
        self.failures = 0
        self._thread.start()

    # ------------------------------------------------------------------ startup (synchronous)

    def load_bindings(self) -> list[BindingSnapshot]:
        """Every binding this LMA had committed."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(LmaBinding).where(LmaBinding.lma == self.node))
            return [_snapshot(row) for row in rows.mappings()]

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
        audits: list[dict[str, Any]] = []
        for op in ops:
            if type(op) is _Audit:
                r = op.record
                audits.append(
                    {
                        "at": _dt(r.utc),
                        "node": self.node,
                        "kind": r.kind,
                        "mn_id": mn_id_text(r.mn_id) if r.mn_id is not None else None,
                        "peer": r.peer,
                        "details": r.fields,
                    }
                )
            elif type(op) is _Upsert:
                latest[op.binding.mn_id] = op
            else:
                latest[op.mn_id] = op  # type: ignore[union-attr]
        upserts = [_row(self.node, op.binding) for op in latest.values() if type(op) is _Upsert]
        deletes = [m for m, op in latest.items() if type(op) is _Delete]
        with self.engine.begin() as connection:
            if deletes:
                connection.execute(
                    delete(LmaBinding).where(
                        LmaBinding.lma == self.node, LmaBinding.mn_id_raw.in_(deletes)
                    )
                )
            if upserts:
                connection.execute(self._upsert_statement(), upserts)
            if audits:
                connection.execute(insert(AuditEvent), audits)

    def _upsert_statement(self) -> Any:
        dialect = self.engine.dialect.name
        stmt: Any
        if dialect == "postgresql":
            stmt = postgresql.insert(LmaBinding)
        elif dialect == "sqlite":
            stmt = sqlite.insert(LmaBinding)
        else:  # pragma: no cover - other databases are not supported
            raise RuntimeError(f"unsupported database {dialect}")
        keys = ("lma", "mn_id_raw")
        columns = [c.name for c in LmaBinding.__table__.columns if c.name not in keys]
        return stmt.on_conflict_do_update(
            index_elements=list(keys), set_={name: stmt.excluded[name] for name in columns}
        )


def _row(node: str, b: BindingSnapshot) -> dict[str, Any]:
    return {
        "lma": node,
        "mn_id_raw": b.mn_id,
        "mn_id": mn_id_text(b.mn_id),
        "home_network_prefixes": ",".join(b.home_network_prefixes),
        "ipv4_home_address": b.ipv4_home_address,
        "mag": b.mag,
        "proxy_coa": b.proxy_coa,
        "signalling_address": b.signalling_address,
        "transport": b.transport.value,
        "link_layer_identifier": _mac_text(b.link_layer_identifier),
        "access_technology": b.access_technology,
        "lifetime": b.lifetime,
        "registered_at": _dt(b.registered_utc),
        "refreshed_at": _dt(b.refreshed_utc),
        "last_handover_at": _dt(b.last_handover_utc),
        "last_sequence": b.last_sequence,
        "last_timestamp": b.last_timestamp,
        "gre_key_downlink": b.gre_key_downlink,
        "gre_key_uplink": b.gre_key_uplink,
        "deregistered": b.deregistered,
    }


def _snapshot(row: Any) -> BindingSnapshot:
    lli = row["link_layer_identifier"]
    return BindingSnapshot(
        mn_id=bytes(row["mn_id_raw"]),
        home_network_prefixes=tuple(p for p in row["home_network_prefixes"].split(",") if p),
        ipv4_home_address=row["ipv4_home_address"],
        mag=row["mag"],
        proxy_coa=row["proxy_coa"],
        signalling_address=row["signalling_address"],
        transport=Transport(row["transport"]),
        link_layer_identifier=bytes.fromhex(lli.replace(":", "")) if lli else b"",
        access_technology=row["access_technology"],
        lifetime=row["lifetime"],
        registered_utc=_ts(row["registered_at"]) or 0.0,
        refreshed_utc=_ts(row["refreshed_at"]) or 0.0,
        last_handover_utc=_ts(row["last_handover_at"]),
        last_sequence=row["last_sequence"],
        last_timestamp=row["last_timestamp"],
        gre_key_downlink=row["gre_key_downlink"],
        gre_key_uplink=row["gre_key_uplink"],
        deregistered=bool(row["deregistered"]),
    )
